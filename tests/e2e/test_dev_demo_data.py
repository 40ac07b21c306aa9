"""`grievance dev --demo-data`: the whole stack on embedded defaults comes up with a demo week in the
dashboard, which an operator signed in sees on the page, and stops cleanly."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

CASES = 300


@pytest.fixture()
def workdir():
    """Outside pytest's temporary root, as for test_dev_command.py (the embedded PostgreSQL runs as another
    user when the tests run as root)."""
    path = Path(tempfile.mkdtemp(prefix="grievance-dev-demo-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_dev_with_demo_data_fills_the_dashboard(workdir):
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "dev", "--workdir", str(workdir),
                             "--demo-data", str(CASES)], env={**env, "GRIEVANCE_WORKDIR": str(workdir)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 180
        while not lines or "Ctrl-C stops everything" not in lines[-1]:
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, "".join(lines)
            lines.append(line)
        out = "".join(lines)
        assert f"demo data: {CASES} cases" in out
        base = re.search(r"dashboard page\s+(http://\S+)/ ", out).group(1)
        with httpx.Client(base_url=base, follow_redirects=True) as client:
            form = client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
            signed_in = client.post("/login", data={"user": "demo-viewer", "password": "demo-viewer-password",
                                                    "csrf": csrf, "next": "/now"})
            assert signed_in.status_code == 200 and "GRV-DEMO" in signed_in.text  # the Now page lists demo cases
            assert client.get("/flow/data?range=30d").json()["total"] == CASES
            patterns = client.get("/patterns").text
            assert "Global Gloves Sdn Bhd" in patterns or "Sunrise Manpower" in patterns  # repeat names linked
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(60) == 0
