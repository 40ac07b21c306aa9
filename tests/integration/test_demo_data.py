"""The demo week (`grievance dev --demo-data`) against a real PostgreSQL: a seeded week of cases projected by
the dashboard's own code into its read model, the same every time, removable, and what the views need."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.common import db
from services.common.settings import REPO_ROOT
from services.dashboard import queries
from services.dashboard.filters import Filters
from services.devtools import demo_data

NOW = datetime(2026, 3, 6, 15, 30, tzinfo=UTC)
CASES = 400


@pytest.fixture(scope="module")
def triage():
    return demo_data.triage_config(REPO_ROOT / "config")


def snapshot(cur) -> list[tuple]:
    cur.execute("SELECT case_ref, partner_id, received_at, urgency, categories, employer, recruiter, primary_partner,"
                " first_delivered_at, acknowledged_at, case_state FROM dashboard.cases ORDER BY case_ref")
    cases = cur.fetchall()
    cur.execute("SELECT event_id, case_ref, at, kind FROM dashboard.timeline ORDER BY event_id")
    return cases + cur.fetchall()


def test_a_seeded_week_fills_every_view_and_is_the_same_each_time(conn, triage):
    config, directory = triage
    with db.transaction(conn) as cur:
        cur.execute("TRUNCATE dashboard.cases, dashboard.timeline, dashboard.deliveries, dashboard.alerts,"
                    " dashboard.breaches, dashboard.dlq_records, dashboard.alert_acks")
        week = demo_data.load(cur, config, directory, cases=CASES, now=NOW, seed=11)
        first = snapshot(cur)
        cur.execute("SELECT count(*), min(received_at), max(received_at), count(DISTINCT urgency),"
                    " count(DISTINCT partner_id), count(DISTINCT country_of_work),"
                    " bool_and(case_ref LIKE 'GRV-DEMO%%') FROM dashboard.cases")
        count, oldest, newest, urgencies, partners, countries, marked = cur.fetchone()
        cur.execute("SELECT kind, count(DISTINCT case_ref) FROM dashboard.timeline GROUP BY 1")
        kinds = dict(cur.fetchall())
        cur.execute("SELECT outcome, count(*) FROM dashboard.deliveries GROUP BY 1")
        outcomes = dict(cur.fetchall())
        cur.execute("SELECT count(*) FROM dashboard.breaches")
        breaches = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM dashboard.dlq_records WHERE event_id LIKE 'demo-%%'")
        dead = cur.fetchone()[0]
        cur.execute("SELECT max(at) FROM dashboard.timeline")
        latest = cur.fetchone()[0]
        now = queries.now_view(cur, Filters(), NOW)
        flow = queries.flow(cur, Filters(), NOW)
        filtered = queries.flow(cur, Filters(urgency="critical"), NOW)
        patterns = queries.patterns(cur, Filters(), NOW)
        some_case = queries.case(cur, first[0][0])
        expected = {}  # each chart's counts per value, straight from the cases
        for chart, expr in (("urgency", "urgency"), ("country", "country_of_work"), ("partner", "partner_id"),
                            ("category", "unnest(categories)")):
            cur.execute(f"SELECT {expr}, count(*) FROM dashboard.cases GROUP BY 1")
            expected[chart] = dict(cur.fetchall())

    assert week.cases == count == CASES and marked
    assert NOW - timedelta(days=7, hours=1) <= oldest and newest <= NOW and latest <= NOW  # nothing in the future
    assert urgencies == 4 and partners >= 8 and countries >= 8
    known = {p.id for p in directory.partners}
    assert {r[1] for r in first[:CASES]} <= known
    assert kinds["received"] == kinds["triaged"] == kinds["routed"] == CASES  # the real triage decided each
    assert kinds["delivered"] > CASES * 0.9 and kinds["step"] > CASES / 2 and kinds["sla_breached"] > 0
    assert outcomes["failed"] > 0 and outcomes["gave_up"] > 0
    assert breaches > 0 and dead == len(week.dead_letters) >= 4
    # what the Now, Flow, Patterns and case views show is there
    assert now["alerts"] and now["cases"] and now["breaches"] and now["dead"] and now["totals"]["cases"] == CASES
    assert flow["total"] == CASES and len(flow["charts"]["urgency"]["series"]) == 4
    for chart, counts in expected.items():
        series = {v: sum(points) for v, points in flow["charts"][chart]["series"].items()}
        top = sorted(counts, key=lambda v: (-counts[v], v))[:queries.SERIES]
        assert {v: series[v] for v in top} == {v: counts[v] for v in top}, chart
        assert sum(series.values()) == sum(counts.values()), chart  # the rest summed as "other"
    assert 0 < filtered["total"] < CASES
    assert patterns["employer"][0]["partners"] > 1 and patterns["recruiter"][0]["cases"] > 1
    assert {e["kind"] for e in some_case["timeline"]} >= {"received", "triaged", "routed"}

    with db.transaction(conn) as cur:  # again: the demo rows replaced by the very same ones
        demo_data.load(cur, config, directory, cases=CASES, now=NOW, seed=11)
        assert snapshot(cur) == first
        demo_data.load(cur, config, directory, cases=CASES, now=NOW, seed=12)
        assert snapshot(cur) != first


def test_clearing_removes_only_demo_rows(conn, triage):
    config, directory = triage
    with db.transaction(conn) as cur:
        demo_data.load(cur, config, directory, cases=50, now=NOW, seed=3)
        cur.execute("INSERT INTO dashboard.cases (case_ref, received_at) VALUES ('GRV-REAL00000001', now())"
                    " ON CONFLICT DO NOTHING")
        cur.execute("INSERT INTO dashboard.timeline (event_id, case_ref, at, kind, detail)"
                    " VALUES ('real-1', 'GRV-REAL00000001', now(), 'received', '{}') ON CONFLICT DO NOTHING")
        demo_data.clear(cur)
        counts = {}
        for table in ("cases", "timeline", "deliveries", "alerts", "breaches", "dlq_records", "alert_acks"):
            cur.execute(f"SELECT count(*) FROM dashboard.{table}")
            counts[table] = cur.fetchone()[0]
        cur.execute("SELECT case_ref FROM dashboard.cases")
        left = [r[0] for r in cur.fetchall()]
    assert left == ["GRV-REAL00000001"]
    assert counts == {"cases": 1, "timeline": 1, "deliveries": 0, "alerts": 0, "breaches": 0, "dlq_records": 0,
                      "alert_acks": 0}
