"""The dashboard's Jinja2 environment and its static files (templates/ops/)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from pipeline.api.ops import formatting
from pipeline.api.ops.session import CSRF_FIELD
from pipeline.render.renderer import TEMPLATES_DIR
from pipeline.site.outputs import url_path

OPS_TEMPLATES = TEMPLATES_DIR / "ops"
STATIC_DIR = OPS_TEMPLATES / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def static_file(name: str) -> Path | None:
    """One of the dashboard's own files (never a path outside the folder)."""
    path = STATIC_DIR / name
    if "/" in name or path.suffix not in STATIC_TYPES or not path.is_file():
        return None
    return path


@cache
def static_version() -> str:
    """Changes with the files, so browsers may cache them for long."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.iterdir()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(OPS_TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = formatting.duration
    env.filters["clock"] = formatting.clock
    env.filters["timestamp"] = formatting.timestamp
    env.filters["precise"] = formatting.precise
    env.filters["rate"] = formatting.rate
    env.filters["url_path"] = url_path
    env.globals["age"] = formatting.age
    env.globals["ago"] = formatting.ago
    env.globals["csrf_field"] = CSRF_FIELD
    env.globals["static_version"] = static_version()
    return env
