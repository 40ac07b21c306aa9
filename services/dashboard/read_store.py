"""Writes projections into the dashboard schema. Every write is keyed by the event's id or the case, so a
replayed event changes nothing, and events of one case may arrive in any order."""

from __future__ import annotations

from typing import Any

from psycopg2.extras import Json

from services.common import db
from services.dashboard.projection import FIRST_COLUMNS, Projection

ROW_TABLES = ("deliveries", "alerts", "breaches")


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value


def _merge(column: str) -> str:
    if column in FIRST_COLUMNS:
        return f"{column} = LEAST(dashboard.cases.{column}, EXCLUDED.{column})"
    if column == "case_state":
        return ("case_state = CASE WHEN EXCLUDED.state_seq >= COALESCE(dashboard.cases.state_seq, 0)"
                " THEN EXCLUDED.case_state ELSE dashboard.cases.case_state END")
    if column == "state_seq":
        return "state_seq = GREATEST(dashboard.cases.state_seq, EXCLUDED.state_seq)"
    return f"{column} = COALESCE(EXCLUDED.{column}, dashboard.cases.{column})"


def apply(cur: db.Cursor, event_id: str, p: Projection) -> None:
    if p.case_ref and p.case:
        cols = sorted(p.case)
        cur.execute(
            f"INSERT INTO dashboard.cases (case_ref, {', '.join(cols)}) VALUES (%s, {', '.join(['%s'] * len(cols))})"  # noqa: S608 - columns from code
            f" ON CONFLICT (case_ref) DO UPDATE SET {', '.join(_merge(c) for c in cols)}",
            [p.case_ref, *(p.case[c] for c in cols)])
    if p.case_ref and p.timeline:
        kind, at, detail = p.timeline
        cur.execute("INSERT INTO dashboard.timeline (event_id, case_ref, at, kind, detail) VALUES (%s,%s,%s,%s,%s)"
                    " ON CONFLICT (event_id) DO NOTHING", (event_id, p.case_ref, at, kind, Json(_json_safe(detail))))
    for table, row in p.rows.items():
        assert table in ROW_TABLES  # noqa: S101 - names from projection.py
        cols = sorted(row)
        cur.execute(f"INSERT INTO dashboard.{table} (event_id, {', '.join(cols)})"  # noqa: S608 - names from code
                    f" VALUES (%s, {', '.join(['%s'] * len(cols))}) ON CONFLICT (event_id) DO NOTHING",
                    [event_id, *(row[c] for c in cols)])


# The projected tables (dashboard state such as acknowledgements, sessions and the audit is kept).
PROJECTED = ("cases", "timeline", "deliveries", "alerts", "breaches", "dlq_records")


def clear(cur: db.Cursor, groups: list[str]) -> None:
    """Empties the read model and forgets which events it has seen, for a rebuild from the topics."""
    cur.execute("TRUNCATE " + ", ".join(f"dashboard.{t}" for t in PROJECTED))
    cur.execute("DELETE FROM dashboard.processed_events WHERE consumer_group = ANY(%s)", (groups,))
