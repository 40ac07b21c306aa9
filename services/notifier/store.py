"""The delivery stage's SQL: each function is one short transaction's worth of statements, never held
across a send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg2.extras

from services.common import db

LEASE_LOST = "no result recorded before the lease expired (the notifier stopped mid-send?)"


@dataclass(frozen=True)
class Claimed:
    id: int
    case_ref: str
    recipient: str
    payload: dict
    attempt: int  # this attempt's number over the delivery's life
    drive_attempt: int  # and since creation or the last redelivery
    urgency: str | None
    give_up_at: datetime | None
    redeliveries: int


def claim(cur: db.Cursor, worker: str, blocked: list[str], sending: set[int], limit: int,
          lease_s: float, pick, now: datetime) -> list[Claimed]:
    """Lease up to `limit` due deliveries in claim order, skipping blocked partners and keeping within each
    partner's room (`pick`); starts an attempt for each (its number is counted now, before the send)."""
    cur.execute(
        "SELECT id, recipient FROM notifier.deliveries WHERE status = 'pending' AND next_attempt_at <= %(now)s"
        " AND (lease_until IS NULL OR lease_until <= %(now)s) AND NOT (recipient = ANY(%(blocked)s::text[]))"
        " AND NOT (id = ANY(%(sending)s::bigint[]))"
        " ORDER BY priority, deliver_by NULLS LAST, next_attempt_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED",
        {"now": now, "blocked": blocked, "sending": sorted(sending), "limit": limit * 4})
    ids = pick(cur.fetchall())
    if not ids:
        return []
    cur.execute(
        "UPDATE notifier.deliveries SET lease_until = %s + make_interval(secs => %s), claimed_by = %s,"
        " attempts = attempts + 1, drive_attempts = drive_attempts + 1 WHERE id = ANY(%s)"
        " RETURNING id, case_ref, recipient, payload, attempts, drive_attempts, urgency, give_up_at, redeliveries",
        (now, lease_s, worker, ids))
    claimed = [Claimed(*row) for row in cur.fetchall()]
    # An attempt left open by a notifier that died mid-send is closed as such.
    cur.execute("UPDATE notifier.attempts SET error = %s, finished_at = now() WHERE delivery_id = ANY(%s)"
                " AND finished_at IS NULL", (LEASE_LOST, ids))
    psycopg2.extras.execute_values(
        cur, "INSERT INTO notifier.attempts (delivery_id, attempt, claimed_by) VALUES %s",
        [(c.id, c.attempt, worker) for c in claimed])
    return claimed


def finish_attempts(cur: db.Cursor, rows: list[tuple[int, int, int | None, str | None, int]]) -> None:
    """(delivery id, attempt, status code, error, duration ms) for attempts that reached the partner."""
    psycopg2.extras.execute_values(
        cur, "UPDATE notifier.attempts a SET status_code = v.code, error = v.error, duration_ms = v.ms,"
        " finished_at = now() FROM (VALUES %s) AS v(id, attempt, code, error, ms)"
        " WHERE a.delivery_id = v.id AND a.attempt = v.attempt",
        rows, template="(%s, %s, %s::int, %s::text, %s::int)")


def set_channels(cur: db.Cursor, rows: list[tuple[int, str]]) -> None:
    """(id, channel) of attempts just made: the channel a delivery went by (the partner's directory record
    decides at each send) where it differs from the one recorded."""
    if rows:
        psycopg2.extras.execute_values(
            cur, "UPDATE notifier.deliveries d SET channel = v.channel FROM (VALUES %s) AS v(id, channel)"
            " WHERE d.id = v.id AND d.channel <> v.channel", rows)


def delivered(cur: db.Cursor, rows: list[tuple[int, datetime]]) -> set[int]:
    """Mark delivered (whoever holds the lease now: a success is never undone); the ids that changed."""
    changed = psycopg2.extras.execute_values(
        cur, "UPDATE notifier.deliveries d SET status = 'delivered', delivered_at = v.at, lease_until = NULL,"
        " claimed_by = NULL, last_error = NULL FROM (VALUES %s) AS v(id, at)"
        " WHERE d.id = v.id AND d.status = 'pending' RETURNING d.id",
        rows, template="(%s, %s::timestamptz)", fetch=True)
    return {r[0] for r in changed}


def failed(cur: db.Cursor, worker: str, rows: list[tuple[int, int, datetime | None, str, datetime]]) -> set[int]:
    """(id, attempt, retry at or None for dead-lettered, error, now) for attempts this worker still holds
    the lease of; the ids that changed (a lease taken over by another notifier is its to record)."""
    changed = psycopg2.extras.execute_values(
        cur, "UPDATE notifier.deliveries d SET status = CASE WHEN v.retry_at IS NULL THEN 'failed' ELSE 'pending' END,"
        " next_attempt_at = COALESCE(v.retry_at, d.next_attempt_at), lease_until = NULL, claimed_by = NULL,"
        " last_error = v.error, failed_at = CASE WHEN v.retry_at IS NULL THEN v.at END"
        " FROM (VALUES %s) AS v(id, attempt, retry_at, error, at, worker)"
        " WHERE d.id = v.id AND d.status = 'pending' AND d.claimed_by = v.worker AND d.attempts = v.attempt"
        " RETURNING d.id",
        [(*r, worker) for r in rows], template="(%s, %s, %s::timestamptz, %s, %s::timestamptz, %s)", fetch=True)
    return {r[0] for r in changed}


def deferred(cur: db.Cursor, worker: str, rows: list[tuple[int, int, datetime, str]]) -> set[int]:
    """(id, attempt, retry at, why) for claims given back before anything was sent (intake could not give
    the contact details yet): the attempt is not counted and its row is removed."""
    changed = psycopg2.extras.execute_values(
        cur, "UPDATE notifier.deliveries d SET attempts = d.attempts - 1, drive_attempts = d.drive_attempts - 1,"
        " next_attempt_at = v.retry_at, lease_until = NULL, claimed_by = NULL, last_error = v.why"
        " FROM (VALUES %s) AS v(id, attempt, retry_at, why, worker)"
        " WHERE d.id = v.id AND d.status = 'pending' AND d.claimed_by = v.worker AND d.attempts = v.attempt"
        " RETURNING d.id",
        [(*r, worker) for r in rows], template="(%s, %s, %s::timestamptz, %s, %s)", fetch=True)
    done = {r[0] for r in changed}
    cur.execute("DELETE FROM notifier.attempts a USING unnest(%s::bigint[], %s::int[]) AS v(id, attempt)"
                " WHERE a.delivery_id = v.id AND a.attempt = v.attempt",
                ([r[0] for r in rows if r[0] in done], [r[1] for r in rows if r[0] in done]))
    return done


def redeliver(cur: db.Cursor, *, delivery_id: int | None = None, case_ref: str | None = None,
              recipient: str | None = None, horizon_for) -> list[tuple[int, str, str, str]]:
    """Drive dead-lettered deliveries again: pending now, a fresh horizon and attempt budget. Returns
    (id, case_ref, recipient, previous status) of every delivery matched; only failed ones change."""
    cur.execute(
        "SELECT id, case_ref, recipient, status, urgency FROM notifier.deliveries WHERE (%(id)s::bigint IS NULL"
        " OR id = %(id)s) AND (%(case)s::text IS NULL OR case_ref = %(case)s)"
        " AND (%(recipient)s::text IS NULL OR recipient = %(recipient)s) ORDER BY id FOR UPDATE",
        {"id": delivery_id, "case": case_ref, "recipient": recipient})
    rows = cur.fetchall()
    for id, _, _, status, urgency in rows:
        if status == "failed":
            cur.execute(
                "UPDATE notifier.deliveries SET status = 'pending', next_attempt_at = now(), drive_attempts = 0,"
                " give_up_at = %s, redeliveries = redeliveries + 1, failed_at = NULL, lease_until = NULL,"
                " claimed_by = NULL WHERE id = %s", (horizon_for(urgency), id))
    return [(id, c, r, s) for id, c, r, s, _ in rows]


def dead(cur: db.Cursor, limit: int = 500) -> list[dict]:
    """Dead-lettered deliveries, newest first, for operators."""
    cur.execute("SELECT id, case_ref, recipient, urgency, attempts, redeliveries, last_error, failed_at"
                " FROM notifier.deliveries WHERE status = 'failed' ORDER BY failed_at DESC NULLS LAST LIMIT %s",
                (limit,))
    names = ("id", "case_ref", "recipient", "urgency", "attempts", "redeliveries", "last_error", "failed_at")
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def expire(cur: db.Cursor, now: datetime, limit: int = 500) -> list[tuple]:
    """Dead-letter pending deliveries whose horizon has passed without an attempt to find out (their
    partner's circuit stayed open): (id, case_ref, recipient, attempts, urgency, redeliveries, last_error)."""
    cur.execute(
        "UPDATE notifier.deliveries SET status = 'failed', failed_at = %(now)s, lease_until = NULL, claimed_by = NULL"
        " WHERE id IN (SELECT id FROM notifier.deliveries WHERE status = 'pending' AND give_up_at < %(now)s"
        " AND (lease_until IS NULL OR lease_until <= %(now)s) LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        " RETURNING id, case_ref, recipient, attempts, urgency, redeliveries, last_error", {"now": now, "limit": limit})
    return cur.fetchall()
