"""What each view reads from the read model. Every query is bounded (a LIMIT or an aggregate over an
indexed time range), so the page stays fast however many cases the model holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.common import db
from services.dashboard.filters import Filters

URGENCY_ORDER = "CASE urgency WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END"
SERIES = 6  # values of a dimension drawn as their own line; the rest are summed as "other"


def _where(f: Filters, now: datetime, alias: str = "c") -> tuple[str, dict[str, Any]]:
    clauses = [f"{alias}.received_at >= %(since)s"]
    params: dict[str, Any] = {"since": f.since(now)}
    if f.urgency:
        clauses.append(f"{alias}.urgency = %(urgency)s")
        params["urgency"] = f.urgency
    if f.country:
        clauses.append(f"{alias}.country_of_work = %(country)s")
        params["country"] = f.country
    if f.partner:
        clauses.append(f"({alias}.partner_id = %(partner)s OR %(partner)s = ANY({alias}.recipients))")
        params["partner"] = f.partner
    if f.category:
        clauses.append(f"%(category)s = ANY({alias}.categories)")
        params["category"] = f.category
    return " AND ".join(clauses), params


def _rows(cur: db.Cursor, sql: str, params: Any = None) -> list[dict[str, Any]]:
    cur.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def now_view(cur: db.Cursor, f: Filters, now: datetime) -> dict[str, Any]:
    where, params = _where(f, now)
    alerts = _rows(cur, "SELECT a.event_id, a.case_ref, a.kind, a.urgency, a.message, a.service, a.raised_at"  # noqa: S608 - fixed SQL
                   f" FROM dashboard.alerts a LEFT JOIN dashboard.alert_acks k USING (event_id)"
                   f" WHERE k.event_id IS NULL AND a.raised_at >= %(since)s ORDER BY {URGENCY_ORDER}, a.raised_at DESC"
                   " LIMIT 50", params)
    cases = _rows(cur, f"SELECT case_ref, urgency, summary, country_of_work, partner_id, primary_partner, received_at,"  # noqa: S608 - fixed SQL
                  f" first_delivered_at, acknowledge_by FROM dashboard.cases c WHERE {where}"
                  " AND c.acknowledged_at IS NULL AND c.urgency IN ('critical', 'high')"
                  f" ORDER BY {URGENCY_ORDER}, received_at DESC LIMIT 50", params)
    breaches = _rows(cur, "SELECT b.case_ref, b.recipient, b.clock, b.deadline, b.breached_at, b.escalated_to,"
                     " b.urgency FROM dashboard.breaches b WHERE b.breached_at >= %(since)s"
                     " ORDER BY b.breached_at DESC LIMIT 20",
                     params)
    due = _rows(cur, f"SELECT case_ref, urgency, primary_partner, acknowledge_by FROM dashboard.cases c WHERE {where}"  # noqa: S608 - fixed SQL
                " AND c.acknowledged_at IS NULL AND c.acknowledge_by > %(now)s"
                " AND c.acknowledge_by < %(now)s + interval '4 hours' ORDER BY acknowledge_by LIMIT 20",
                {**params, "now": now})
    dead = _rows(cur, "SELECT d.id, d.dlq_topic, d.original_topic, d.case_ref, d.error_class, d.set_aside_at,"
                 " (SELECT max(q.requeued_at) FROM dashboard.requeues q WHERE q.dlq_record = d.id) AS requeued_at"
                 " FROM dashboard.dlq_records d ORDER BY d.set_aside_at DESC LIMIT 30")
    per_topic = _rows(cur, "SELECT dlq_topic, original_topic, count(*) AS n FROM dashboard.dlq_records"
                      " GROUP BY 1, 2 ORDER BY 3 DESC")
    totals = _rows(cur, f"SELECT count(*) AS cases, count(*) FILTER (WHERE urgency = 'critical') AS critical,"  # noqa: S608 - fixed SQL
                   " count(*) FILTER (WHERE first_delivered_at IS NOT NULL) AS delivered"
                   f" FROM dashboard.cases c WHERE {where}", params)[0]
    return {"alerts": alerts, "cases": cases, "breaches": breaches, "due": due, "dead": dead,
            "dead_per_topic": per_topic, "totals": totals}


# The charts: urgency, country and partner in one pass over the cases (grouping sets, read from the covering
# index of migrations/dashboard/003), the categories (an array, not in that index) in a second. Buckets are UTC
# hours or days, an expression the planner has statistics for (003 too), so it hashes a few hundred buckets
# instead of sorting every case. GROUPING(...)'s bit mask says which set a row belongs to: (chart, column).
CHARTS = {3: ("urgency", 2), 5: ("country", 3), 6: ("partner", 4)}


def flow(cur: db.Cursor, f: Filters, now: datetime) -> dict[str, Any]:
    where, params = _where(f, now)
    step = f.bucket()
    bucket = f"date_trunc('{step}', c.received_at AT TIME ZONE 'UTC')"
    cur.execute(f"SELECT {bucket} AT TIME ZONE 'UTC', GROUPING(c.urgency, c.country_of_work, c.partner_id),"  # noqa: S608 - fixed SQL
                f" c.urgency, c.country_of_work, c.partner_id, count(*) FROM dashboard.cases c WHERE {where}"
                f" GROUP BY GROUPING SETS (({bucket}, c.urgency), ({bucket}, c.country_of_work),"
                f" ({bucket}, c.partner_id))", params)
    per: dict[str, list[dict[str, Any]]] = {"urgency": [], "category": [], "country": [], "partner": []}
    for row in cur.fetchall():
        name, column = CHARTS[row[1]]
        per[name].append({"t": row[0], "v": row[column], "n": row[5]})
    per["category"] = _rows(cur, f"SELECT {bucket} AT TIME ZONE 'UTC' AS t, v, count(*) AS n FROM dashboard.cases c"  # noqa: S608 - fixed SQL
                            f" CROSS JOIN LATERAL unnest(c.categories) AS v WHERE {where} GROUP BY {bucket}, v",
                            params)
    charts = {name: _series(found) for name, found in per.items()}
    deliveries = _rows(cur, "SELECT d.recipient, count(*) FILTER (WHERE d.outcome = 'delivered') AS delivered,"
                       " count(*) FILTER (WHERE d.outcome = 'failed') AS failed,"
                       " count(*) FILTER (WHERE d.outcome = 'gave_up') AS gave_up"
                       " FROM dashboard.deliveries d WHERE d.at >= %(since)s GROUP BY 1 ORDER BY 2 DESC LIMIT 30",
                       params)
    took = "date_part('epoch', c.first_delivered_at - c.received_at)"  # a float: extract's numeric sorts slower
    latency = _rows(cur, f"SELECT c.urgency, count(*) AS n,"  # noqa: S608 - fixed SQL
                    f" percentile_cont(0.5) WITHIN GROUP (ORDER BY {took}) AS p50,"
                    f" percentile_cont(0.9) WITHIN GROUP (ORDER BY {took}) AS p90, max({took}) AS worst"
                    f" FROM dashboard.cases c WHERE {where} AND c.first_delivered_at IS NOT NULL"
                    f" GROUP BY 1 ORDER BY min({URGENCY_ORDER.replace('urgency', 'c.urgency')})", params)
    total = sum(r["n"] for r in per["urgency"])  # each case once
    return {"charts": charts, "deliveries": deliveries, "latency": latency, "total": total, "step": step}


def _series(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows of (time, value, count) as Chart.js data: one line for each of the biggest values, "other" for
    the rest."""
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["v"] or "—"] = totals.get(r["v"] or "—", 0) + r["n"]
    top = sorted(totals, key=lambda v: (-totals[v], v))[:SERIES]  # ties by name: the same chart each time
    times = sorted({r["t"] for r in rows})
    index = {t: i for i, t in enumerate(times)}
    series: dict[str, list[int]] = {v: [0] * len(times) for v in top}
    for r in rows:
        name = r["v"] or "—"
        if name not in series:
            series.setdefault("other", [0] * len(times))
            name = "other"
        series[name][index[r["t"]]] += r["n"]
    return {"labels": [t.isoformat() for t in times], "series": series}


def patterns(cur: db.Cursor, f: Filters, now: datetime) -> dict[str, Any]:
    """Employers and recruiters by linked cases: one entity per name key (spellings folded), those named
    through the most partners first."""
    where, params = _where(f, now)
    out = {}
    for column in ("employer", "recruiter"):
        key = f"COALESCE(c.{column}_key, lower(c.{column}))"
        # counted per (entity, spelling, partner) first: a few hundred rows to fold, not every case
        out[column] = _rows(cur, "SELECT min(s.name) AS name, min(s.key) AS key, count(DISTINCT s.name) AS spellings,"  # noqa: S608 - fixed SQL
                            " sum(s.n)::bigint AS cases, count(DISTINCT s.partner_id) AS partners,"
                            " array_agg(DISTINCT s.partner_id) AS partner_ids, sum(s.critical)::bigint AS critical"
                            f" FROM (SELECT {key} AS entity, c.{column} AS name, c.partner_id,"
                            f" min(c.{column}_key) AS key, count(*) AS n,"
                            " count(*) FILTER (WHERE c.urgency = 'critical') AS critical"
                            f" FROM dashboard.cases c WHERE {where} AND c.{column} IS NOT NULL GROUP BY 1, 2, 3) s"
                            " GROUP BY s.entity ORDER BY count(DISTINCT s.partner_id) DESC, sum(s.n) DESC LIMIT 20",
                            params)
    return out


def case(cur: db.Cursor, case_ref: str) -> dict[str, Any] | None:
    found = _rows(cur, "SELECT * FROM dashboard.cases WHERE case_ref = %s", (case_ref,))
    if not found:
        return None
    timeline = _rows(cur, "SELECT at, kind, detail FROM dashboard.timeline WHERE case_ref = %s ORDER BY at, id",
                     (case_ref,))
    dead = _rows(cur, "SELECT id, dlq_topic, original_topic, error_class, set_aside_at FROM dashboard.dlq_records"
                 " WHERE case_ref = %s ORDER BY set_aside_at", (case_ref,))
    return {"case": found[0], "timeline": timeline, "dead": dead}


def dead_letter(cur: db.Cursor, record_id: int) -> dict[str, Any] | None:
    found = _rows(cur, "SELECT id, dlq_topic, kafka_partition, kafka_offset, original_topic, original_partition,"
                  " original_offset, consumer_group, case_ref, event_id, error_class, error_message, headers,"
                  " octet_length(value) AS value_bytes, set_aside_at FROM dashboard.dlq_records WHERE id = %s",
                  (record_id,))
    if not found:
        return None
    requeues = _rows(cur, "SELECT requeued_by, requeued_at FROM dashboard.requeues WHERE dlq_record = %s"
                     " ORDER BY requeued_at", (record_id,))
    return {**found[0], "requeues": requeues}


def audit(cur: db.Cursor, limit: int = 200) -> list[dict[str, Any]]:
    return _rows(cur, "SELECT at, user_id, role, action, target FROM dashboard.audit ORDER BY at DESC LIMIT %s",
                 (limit,))
