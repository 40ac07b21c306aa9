"""`grievance bench dashboard`: how fast the operators' page stays with many cases in its read model.

Loads a demo history (services/devtools/demo_data.py: the same generator as `grievance dev --demo-data`,
over 30 days so the longest range the page offers holds every case) into a scratch database, then asks
each view many times: its queries alone (services/dashboard/queries.py over one connection) and the whole
page through the dashboard's real app (services/dashboard/service.py, signed in, rendered by FastAPI and
Jinja2 in this process, no network). Prints p50/p95/max per view. The machine may be shared: the figures
are medians and percentiles over repeated runs, never a single one.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.common import db, event_auth
from services.common.settings import Settings
from services.dashboard import queries
from services.dashboard.filters import Filters
from services.devtools import demo_data

USER, PASSWORD = "demo-admin", "demo-admin-password"  # config/operators.yaml's demo admin
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class View:
    name: str
    path: str  # the page's URL; {case} is a case reference, a different one each time
    query: Callable[[db.Cursor, datetime, str], Any]  # the view's queries alone


def _filtered(fn, **filters: str) -> Callable[[db.Cursor, datetime, str], Any]:
    return lambda cur, now, _ref: fn(cur, Filters(**filters), now)


VIEWS = [
    View("Now", "/now", _filtered(queries.now_view)),
    View("Now, live fragment", "/now/live", _filtered(queries.now_view)),
    View("Now, 30 days", "/now?range=30d", _filtered(queries.now_view, range="30d")),
    View("Flow, 24 h", "/flow?range=24h", _filtered(queries.flow, range="24h")),
    View("Flow, 7 days", "/flow", _filtered(queries.flow)),
    View("Flow, 30 days", "/flow?range=30d", _filtered(queries.flow, range="30d")),
    View("Flow, critical in MY", "/flow?urgency=critical&country=MY",
         _filtered(queries.flow, urgency="critical", country="MY")),
    View("Flow, partner + category", "/flow?partner=ngo-my&category=wage_theft",
         _filtered(queries.flow, partner="ngo-my", category="wage_theft")),
    View("Flow, live data", "/flow/data", _filtered(queries.flow)),
    View("Patterns", "/patterns", _filtered(queries.patterns)),
    View("Patterns, 30 days", "/patterns?range=30d", _filtered(queries.patterns, range="30d")),
    View("Case page", "/cases/{case}", lambda cur, _now, ref: queries.case(cur, ref)),
]


@dataclass
class Timing:
    sql: list[float] = dataclasses.field(default_factory=list)
    page: list[float] = dataclasses.field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _ms(values: list[float]) -> str:
    return " ".join(f"{v * 1000:7.1f}" for v in (statistics.median(values), percentile(values, 0.95), max(values)))


def sign_in(client) -> None:
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    if token is None:
        raise RuntimeError("the login page has no CSRF field")
    answer = client.post("/login", data={"user": USER, "password": PASSWORD, "csrf": token.group(1), "next": "/now"},
                         follow_redirects=False)
    if answer.status_code != 303:
        raise RuntimeError(f"signing in as {USER} answered {answer.status_code}")


def measure(url: str, settings: Settings, repeat: int, seed: int = 1) -> tuple[dict[str, Timing], int]:
    """Each view `repeat` times, round robin (so a busy moment of the machine hits every view alike)."""
    from fastapi.testclient import TestClient

    from services.dashboard import service

    private, public = event_auth.generate()  # the app wants keys; it publishes nothing here
    app = service.build(dataclasses.replace(settings, database_url=url, signing_key=private,
                                            event_keys=f"dashboard={public}")).app()  # no lifespan: no consumers
    client = TestClient(app, base_url="http://127.0.0.1")
    sign_in(client)
    conn = db.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT case_ref FROM dashboard.cases ORDER BY case_ref")
        refs = [r[0] for r in cur.fetchall()]
    rng = random.Random(seed)  # noqa: S311 - which cases to open, not a secret
    timings = {v.name: Timing() for v in VIEWS}
    try:
        for round_ in range(repeat + 1):  # the first round warms caches and is not counted
            for view in VIEWS:
                ref = rng.choice(refs)
                now = datetime.now(UTC)
                with conn.cursor() as cur:
                    start = time.perf_counter()
                    view.query(cur, now, ref)
                    sql = time.perf_counter() - start
                start = time.perf_counter()
                answer = client.get(view.path.format(case=ref))
                page = time.perf_counter() - start
                if answer.status_code != 200:
                    raise RuntimeError(f"{view.path} answered {answer.status_code}")
                if round_:
                    timings[view.name].sql.append(sql)
                    timings[view.name].page.append(page)
    finally:
        conn.close()
        client.close()
    return timings, len(refs)


def report(timings: dict[str, Timing], cases: int, days: int) -> str:
    lines = [f"dashboard with {cases:,} cases over {days} days; each view {len(next(iter(timings.values())).sql)}"
             " times (ms)",
             f"{'view':<26} {'queries p50':>11} {'p95':>7} {'max':>7}   {'page p50':>8} {'p95':>7} {'max':>7}"]
    for name, t in timings.items():
        lines.append(f"{name:<26} {_ms(t.sql)}   {_ms(t.page)}")
    return "\n".join(lines)


def load(url: str, settings: Settings, cases: int, days: int) -> float:
    """A fresh scratch database with `cases` demo cases; returns the seconds it took."""
    db.drop_database(url)
    db.migrate(url)
    start = time.perf_counter()
    demo_data.fill(url, settings.config_dir, cases=cases, days=days)
    conn = db.connect(url)
    conn.autocommit = True
    try:
        # Loaded in one go, every case row is left with the dead versions of its four or five updates (seven
        # times its size); a read model written over weeks has had autovacuum reuse that space. Compacted, and
        # analysed, the table is what an operator's page reads.
        with conn.cursor() as cur:
            tables = "dashboard.cases, dashboard.timeline, dashboard.deliveries, dashboard.alerts, dashboard.breaches"
            cur.execute(f"VACUUM FULL {tables}")
            cur.execute(f"VACUUM ANALYZE {tables}")  # the visibility map, which index-only scans read
    finally:
        conn.close()
    return time.perf_counter() - start


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    server = os.environ.get("DATABASE_URL") or SERVER
    url = db.with_database(server, args.database)
    if not args.reuse:
        print(f"loading {args.cases:,} demo cases over {args.days} days into {db.database_name(url)}…", flush=True)
        print(f"loaded in {load(url, settings, args.cases, args.days):.0f} s", flush=True)
    db.migrate(url)  # a kept database: what was added since
    try:
        timings, cases = measure(url, settings, args.repeat)
        print(report(timings, cases, args.days), flush=True)
    finally:
        if not args.keep:
            db.drop_database(url)
    return 0

