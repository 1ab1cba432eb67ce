"""Listening sockets bound before the work that precedes serving, so that a port already taken
is said in one line at once, not in a traceback after the demo has published everything."""

from __future__ import annotations

import socket


class PortTaken(OSError):
    """Another process listens on the port (or it cannot be bound at all)."""


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port), as the servers would open it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    # As http.server and uvicorn do: a port left in TIME_WAIT by a server just stopped is free.
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind((host, port))
        listening.listen(128)
    except OSError as error:
        listening.close()
        raise PortTaken(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    return listening
