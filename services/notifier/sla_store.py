"""The SLA clocks' SQL (notifier.sla_cases, sla_clocks, sla_states): each function is part of one short
transaction, never held across a send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg2.extras
from psycopg2.extras import Json

from schemas.models import CaseRouted, CaseUpdated
from services.common import db

ClockRow = tuple[str, str, str, int, datetime, datetime]  # case_ref, recipient, clock, round, started, due


def open_cases(cur: db.Cursor, events: list[CaseRouted]) -> set[str]:
    """Keep what escalation needs of each routed case; the case refs seen for the first time (a replayed
    case.routed starts nothing)."""
    created = psycopg2.extras.execute_values(
        cur, "INSERT INTO notifier.sla_cases (case_ref, urgency, routed, escalation) VALUES %s"
        " ON CONFLICT (case_ref) DO NOTHING RETURNING case_ref",
        [(e.case_ref, e.case.urgency.value, Json(e.model_dump(mode="json", exclude={"escalation"})),
          Json([r.model_dump(mode="json") for r in e.escalation])) for e in events], fetch=True)
    return {r[0] for r in created}


def start(cur: db.Cursor, rows: list[ClockRow]) -> None:
    """Start clocks; one already started (a replay) stays as it is."""
    psycopg2.extras.execute_values(
        cur, "INSERT INTO notifier.sla_clocks (case_ref, recipient, clock, round, started_at, due_at) VALUES %s"
        " ON CONFLICT (case_ref, recipient, clock, round) DO NOTHING", rows)


def states(cur: db.Cursor, case_refs: list[str]) -> dict[tuple[str, str], str]:
    """(case_ref, recipient) → the latest lifecycle state heard."""
    cur.execute("SELECT case_ref, recipient, state FROM notifier.sla_states WHERE case_ref = ANY(%s)", (case_refs,))
    return {(c, r): s for c, r, s in cur.fetchall()}


def record_step(cur: db.Cursor, e: CaseUpdated) -> bool:
    """Keep the holder's state; False for a step older than one already heard (a replay, or out of order)."""
    cur.execute(
        "INSERT INTO notifier.sla_states (case_ref, recipient, state, sequence) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (case_ref, recipient) DO UPDATE SET state = EXCLUDED.state, sequence = EXCLUDED.sequence"
        " WHERE notifier.sla_states.sequence < EXCLUDED.sequence RETURNING 1",
        (e.case_ref, e.partner_id, e.state, e.sequence))
    return cur.fetchone() is not None


def holder_case(cur: db.Cursor, case_ref: str, recipient: str) -> str | None:
    """The case's urgency when `recipient` holds it (runs or ran a clock), else None."""
    cur.execute("SELECT s.urgency FROM notifier.sla_cases s WHERE s.case_ref = %s AND EXISTS (SELECT 1 FROM"
                " notifier.sla_clocks c WHERE c.case_ref = s.case_ref AND c.recipient = %s)", (case_ref, recipient))
    row = cur.fetchone()
    return row[0] if row else None


def stop(cur: db.Cursor, case_ref: str, recipient: str, at: datetime) -> int:
    cur.execute("UPDATE notifier.sla_clocks SET status = 'stopped', stopped_at = %s WHERE case_ref = %s"
                " AND recipient = %s AND status = 'running'", (at, case_ref, recipient))
    return cur.rowcount


@dataclass(frozen=True)
class Due:
    id: int
    case_ref: str
    recipient: str
    clock: str
    round: int
    due_at: datetime
    urgency: str
    routed: dict[str, Any]
    escalation: list[dict[str, Any]]
    escalated: int
    delivered_at: datetime | None  # the holder's delivery, when it succeeded


def claim_due(cur: db.Cursor, now: datetime, limit: int) -> list[Due]:
    """Lock running clocks due by `now` with their cases (another watcher skips them), earliest first."""
    cur.execute(
        "SELECT c.id, c.case_ref, c.recipient, c.clock, c.round, c.due_at, s.urgency, s.routed, s.escalation,"
        " s.escalated, d.delivered_at FROM notifier.sla_clocks c JOIN notifier.sla_cases s USING (case_ref)"
        " LEFT JOIN notifier.deliveries d ON d.case_ref = c.case_ref AND d.recipient = c.recipient"
        " AND d.status = 'delivered'"
        " WHERE c.status = 'running' AND c.due_at <= %s ORDER BY c.due_at, c.id LIMIT %s"
        " FOR UPDATE OF c, s SKIP LOCKED", (now, limit))
    return [Due(*row) for row in cur.fetchall()]


def escalated_holders(cur: db.Cursor, case_refs: list[str]) -> set[tuple[str, str]]:
    """(case_ref, recipient) of holders whose breach was handled already."""
    cur.execute("SELECT DISTINCT case_ref, recipient FROM notifier.sla_clocks WHERE case_ref = ANY(%s)"
                " AND status = 'breached'", (case_refs,))
    return {tuple(r) for r in cur.fetchall()}


def holding(cur: db.Cursor, case_refs: list[str]) -> dict[str, set[str]]:
    """Per case, every partner with a delivery of it."""
    cur.execute("SELECT case_ref, recipient FROM notifier.deliveries WHERE case_ref = ANY(%s)", (case_refs,))
    found: dict[str, set[str]] = {}
    for case_ref, recipient in cur.fetchall():
        found.setdefault(case_ref, set()).add(recipient)
    return found


def settle(cur: db.Cursor, stopped: list[tuple[int, datetime]], breached: list[tuple[int, datetime, str | None]],
           escalated: dict[str, int]) -> None:
    """Record the outcome of claimed clocks and how far each case has been escalated."""
    if stopped:
        psycopg2.extras.execute_values(
            cur, "UPDATE notifier.sla_clocks c SET status = 'stopped', stopped_at = v.at FROM (VALUES %s)"
            " AS v(id, at) WHERE c.id = v.id", stopped, template="(%s, %s::timestamptz)")
    if breached:
        psycopg2.extras.execute_values(
            cur, "UPDATE notifier.sla_clocks c SET status = 'breached', breached_at = v.at, escalated_to = v.dest"
            " FROM (VALUES %s) AS v(id, at, dest) WHERE c.id = v.id", breached, template="(%s, %s::timestamptz, %s)")
    if escalated:
        psycopg2.extras.execute_values(
            cur, "UPDATE notifier.sla_cases s SET escalated = v.n FROM (VALUES %s) AS v(case_ref, n)"
            " WHERE s.case_ref = v.case_ref", list(escalated.items()))
