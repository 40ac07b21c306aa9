"""`grievance bench dashboard` end to end at a small size (not timed: it only has to run and print every
view): a scratch database loaded with demo cases, each view asked through the real app, the database
dropped afterwards."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import psycopg2

from services.common import db
from services.common.settings import REPO_ROOT
from services.devtools.dashboard_bench import VIEWS
from tests.conftest import _server_url


def test_the_dashboard_benchmark_prints_every_view():
    server = _server_url()
    name = f"grievance_bench_test_{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": server}
    done = subprocess.run([sys.executable, "-m", "services.cli", "bench", "dashboard", "--cases", "500",
                           "--repeat", "3", "--database", name], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "dashboard with 500 cases over 30 days; each view 3 times" in out
    number = r"\s+(\d+\.\d)"
    for view in VIEWS:
        row = re.search(re.escape(view.name) + r"\s{2,}" + number.strip(r"\s+") + number * 5 + r"\s*$", out,
                        re.MULTILINE)
        assert row is not None, f"no figures for {view.name} in:\n{out}"
        p50, p95, worst = (float(x) for x in row.groups()[3:])
        assert 0 < p50 <= p95 <= worst  # page times as measured, in order
    conn = psycopg2.connect(db.with_database(server, "postgres"))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
            assert cur.fetchone()[0] == 0  # the scratch database is gone
    finally:
        conn.close()
