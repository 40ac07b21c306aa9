"""The whole stack with the dashboard (bundled broker, PostgreSQL, every service as a process, the demo inbox),
and Debian's Chromium driven by Playwright. Playwright never downloads a browser here: it launches the
system's `chromium` (CI installs the Debian package). Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from services.common import db
from services.devtools.stack import REPO_ROOT, Stack
from tests.conftest import _server_url

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def dstack(tmp_path_factory):
    url = db.with_database(_server_url(), f"grievance_browser_{uuid.uuid4().hex[:10]}")
    s = Stack(tmp_path_factory.mktemp("dash"), database_url=url, session_timeout_ms=3000, dashboard=True,
              extra_env={"DELIVERY_BACKOFF_S": "0.5"})
    try:
        s.start_infrastructure()
        s.start_all()
        yield s
    finally:
        s.close()
        db.drop_database(url)


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Chromium refuses to run as root without --no-sandbox (CI containers run as root).
        b = p.chromium.launch(executable_path=path, args=["--no-sandbox"] if os.geteuid() == 0 else [])
        yield b
        b.close()


@pytest.fixture()
def shot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
    return take
