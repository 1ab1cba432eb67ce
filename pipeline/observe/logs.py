"""Logging: one JSON object per line for the log pipeline, plain text on a terminal."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from datetime import UTC, datetime

# Fields a record may carry through `extra=`: an event stage line has all of them.
EVENT_FIELDS = ("event_id", "kind", "article_id", "version", "stage", "duration_ms", "outputs")


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "worker": f"{self.worker}/{record.processName}",
        }
        for name in EVENT_FIELDS:
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str = "INFO", *, json_lines: bool | None = None) -> None:
    """JSON lines unless stderr is a terminal (or PRESSRUN_LOG_FORMAT says otherwise)."""
    wanted = os.environ.get("PRESSRUN_LOG_FORMAT", "")
    if json_lines is None:
        json_lines = wanted == "json" or (wanted != "text" and not sys.stderr.isatty())
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
