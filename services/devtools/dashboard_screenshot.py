"""The README's picture of the dashboard (docs/dashboard.png), taken again from a real page over demo data:

    .venv/bin/python -m services.devtools.dashboard_screenshot [--output docs/dashboard.png] [--page /now]

A scratch database on DATABASE_URL's server (default 127.0.0.1:5432) gets the migrations and a demo week
(services/devtools/demo_data.py, the same as `grievance dev --demo-data`); the dashboard's real app serves
it on a free local port (its pages only: no broker is needed, so nothing is consumed), and Debian's
Chromium, driven by Playwright (never a downloaded browser), signs in and photographs the page. The scratch
database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import threading
import uuid
from pathlib import Path

import uvicorn

from services.common import db, event_auth
from services.common.settings import REPO_ROOT, Settings
from services.devtools import demo_data
from services.devtools.stack import free_port, wait_for_port

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
USER, PASSWORD = "demo-operator", "demo-operator-password"


def serve(settings: Settings, port: int) -> uvicorn.Server:
    """The dashboard's app in a thread, without its lifespan (which would start the consumers)."""
    from services.dashboard import service

    private, public = event_auth.generate()  # the app wants keys; it publishes nothing here
    app = service.build(dataclasses.replace(settings, signing_key=private, event_keys=f"dashboard={public}")).app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    threading.Thread(target=server.run, name="dashboard-page", daemon=True).start()
    wait_for_port(port)
    return server


def photograph(base: str, output: Path, page_path: str, width: int, height: int) -> None:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium on PATH (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"] if os.geteuid() == 0 else [])
        try:
            page = browser.new_page(viewport={"width": width, "height": height}, locale="en-GB")
            page.goto(base + "/login")
            page.fill("input[name=user]", USER)
            page.fill("input[name=password]", PASSWORD)
            page.press("input[name=password]", "Enter")
            page.wait_for_url(base + "/now*")
            page.goto(base + page_path)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(800)  # charts finish their animation
            output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(output))
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=str(REPO_ROOT / "docs" / "dashboard.png"))
    parser.add_argument("--page", default="/now", help="the dashboard page to photograph, with its filters")
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args(argv)
    url = db.with_database(os.environ.get("DATABASE_URL") or SERVER, f"grievance_screenshot_{uuid.uuid4().hex[:8]}")
    settings = dataclasses.replace(Settings.from_env(), database_url=url)
    db.migrate(url)
    server = None
    try:
        week = demo_data.fill(url, settings.config_dir, cases=args.cases)
        port = free_port()
        server = serve(settings, port)
        photograph(f"http://127.0.0.1:{port}", Path(args.output), args.page, args.width, args.height)
        print(f"{args.output}: {args.page} over {week.cases} demo cases")
    finally:
        if server is not None:
            server.should_exit = True
        db.drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
