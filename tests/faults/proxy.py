"""A small fault-injecting HTTP proxy for the S3 server (moto_server) in the fault tests.

Every request is forwarded to the upstream server, except that, by probability, the proxy
answers 500 or 503 with an S3 error body, or resets the connection (a TCP RST), either before
forwarding (the request is lost) or after it (the request took effect, the answer is lost: the
client cannot tell which). Every request may also be delayed. What it injected is counted.
"""

from __future__ import annotations

import contextlib
import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te"}
ERROR_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
    "<Message>injected by the fault proxy</Message><RequestId>fault-{number}</RequestId></Error>"
)


@dataclass
class FaultPlan:
    """Probabilities per request (they add up to the share of requests that fail)."""

    error_500: float = 0.06
    error_503: float = 0.06
    reset: float = 0.08
    # Of the errors and resets, this share happens after the request reached the server.
    after_share: float = 0.5
    # Every request waits uniformly up to `latency` seconds; a few wait `spike` seconds more.
    latency: float = 0.03
    spike_probability: float = 0.03
    spike: float = 0.4

    @property
    def failure_rate(self) -> float:
        return self.error_500 + self.error_503 + self.reset


class _Reset(Exception):
    """Drop the client connection with a RST."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._proxy()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _Reset:
            self.close_connection = True
            try:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
            except OSError:
                pass
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _proxy(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        fault, after = proxy.draw()
        time.sleep(proxy.delay())
        if fault is not None and not after:
            self._inject(fault)
            return
        status, headers, answer = proxy.forward(self.command, self.path, self.headers, body)
        if fault is not None:
            self._inject(fault)
            return
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    def _inject(self, fault: str) -> None:
        if fault == "reset":
            raise _Reset()
        code = {"500": "InternalError", "503": "SlowDown"}[fault]
        payload = ERROR_BODY.format(code=code, number=time.monotonic_ns()).encode()
        self.send_response(int(fault))
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy


class FaultProxy:
    """`with FaultProxy(upstream_port, plan) as proxy:` listens on `proxy.port`."""

    def __init__(self, upstream_port: int, plan: FaultPlan | None = None, seed: int = 0) -> None:
        self.upstream_port = upstream_port
        self.plan = plan or FaultPlan()
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self.enabled = True
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.proxy = self
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def faults(self) -> int:
        return sum(count for name, count in self.injected.items() if name != "spike")

    def draw(self) -> tuple[str | None, bool]:
        plan = self.plan
        with self.lock:
            self.requests += 1
            if not self.enabled:
                return None, False
            roll = self.random.random()
            after = self.random.random() < plan.after_share
            fault = None
            if roll < plan.error_500:
                fault = "500"
            elif roll < plan.error_500 + plan.error_503:
                fault = "503"
            elif roll < plan.failure_rate:
                fault = "reset"
            if fault is not None:
                self.injected[f"{fault} {'after' if after else 'before'}"] += 1
            return fault, after

    def delay(self) -> float:
        plan = self.plan
        with self.lock:
            if not self.enabled:
                return 0.0
            wait = self.random.uniform(0, plan.latency)
            if self.random.random() < plan.spike_probability:
                self.injected["spike"] += 1
                wait += plan.spike
            return wait

    def forward(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=30)
        try:
            sent = {
                name: value
                for name, value in headers.items()
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"
            }
            if body or method in ("PUT", "POST"):
                sent["Content-Length"] = str(len(body))
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def summary(self) -> str:
        parts = [f"{name} {count}" for name, count in sorted(self.injected.items())]
        return f"{self.requests} S3 requests, injected: " + (", ".join(parts) or "nothing")
