"""Rendering: the Jinja2 templates (autoescaped), the words of the page's language, time formatting, and the
headers every page carries (a strict content security policy: only our own vendored scripts and styles)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.dashboard import catalogue

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
                               " frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def time_left(deadline: datetime | None, now: datetime) -> str:
    return "" if deadline is None else duration(max((deadline - now).total_seconds(), 0))


def domid(*parts: object) -> str:
    """A stable element id from what a row is about (an event id, a case reference): the live refresh gives
    the focus back to the element with the same id."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", "-".join(str(p) for p in parts))[:150]


ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)
ENV.filters.update(when=when, duration=duration)
ENV.globals.update(domid=domid)


def render(name: str, language: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = ENV.get_template(name).render(t=catalogue.translator(language), lang=language,
                                         languages=catalogue.LANGUAGES, time_left=time_left, **context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
