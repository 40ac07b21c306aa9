"""The whole stack with the dashboard (bundled broker, PostgreSQL, every service as a process, the demo inbox),
and Debian's Chromium driven by Playwright. Playwright never downloads a browser here: it launches the
system's `chromium` (CI installs the Debian package). Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from services.devtools.stack import REPO_ROOT
from tests.conftest import own_stack

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def dstack(tmp_path_factory):
    yield from own_stack(tmp_path_factory.mktemp("dash"), "browser", dashboard=True,
                         extra_env={"DELIVERY_BACKOFF_S": "0.5"})


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    if path is None:
        # CI installs it (.ci/run): there a missing browser is a failure, never a silently skipped suite.
        if os.environ.get("CI"):
            pytest.fail("no chromium on PATH although CI=true: .ci/run could not install it")
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
