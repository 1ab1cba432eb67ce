"""Jinja2 rendering: one pure function per kind of output."""
