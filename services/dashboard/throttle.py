"""The sign-in limit against password guessing: so many failed sign-ins per account, and per client address,
within a sliding window; past either, every sign-in of that account or from that address is refused (429 with
Retry-After) until enough failures have left the window, the right password included, so guessing cannot
go on. Unknown accounts count like known ones (a guess at names is a guess too). A successful sign-in clears
its account's failures; the address keeps its own.

The decision is pure (`retry_after`); the failures live in dashboard.login_failures (`claim`, `succeeded`),
so a restart or a second dashboard process does not reset them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.common import db
from services.common.errors import safe_text


@dataclass(frozen=True)
class Limits:
    per_account: int = 5
    per_client: int = 20
    window: timedelta = timedelta(minutes=15)


LIMITS = Limits()


def account_key(user_id: str) -> str:
    """What failures are counted under: the name as typed, folded, bounded and storable (it is attacker's
    text: a NUL or an unpaired surrogate would make PostgreSQL refuse the row, and the sign-in a 500)."""
    return _storable(user_id.strip().lower())


def _storable(text: str) -> str:
    return safe_text(text, 100)[:100]  # escaping may lengthen it: bounded again


def retry_after(account: Sequence[datetime], client: Sequence[datetime], now: datetime,
                limits: Limits = LIMITS) -> int | None:
    """Seconds until a sign-in may be tried again, or None when it may be now. `account` and `client` are the
    failure times within the window (any order)."""
    waits = [_wait(account, limits.per_account, now, limits.window),
             _wait(client, limits.per_client, now, limits.window)]
    longest = max(waits)
    return None if longest <= 0 else max(1, math.ceil(longest))


def _wait(failures: Sequence[datetime], limit: int, now: datetime, window: timedelta) -> float:
    inside = sorted(t for t in failures if t > now - window)
    if len(inside) < limit:
        return 0
    # Under the limit again once all but limit - 1 of them have left the window.
    return (inside[len(inside) - limit] + window - now).total_seconds()


def claim(cur: db.Cursor, user_id: str, client: str, now: datetime,
          limits: Limits = LIMITS) -> tuple[int | None, int | None]:
    """(seconds to wait, None) when refused; else (None, the id of a failure recorded in advance), which the
    caller forgets once the password proves right. Recording before the password is checked, under a lock per
    account and per address, means parallel guesses cannot all pass the check before any has failed."""
    account, client = account_key(user_id), _storable(client)
    # Always the account first, then the address: two sign-ins never wait on each other's second lock.
    cur.execute("SELECT pg_advisory_xact_lock(hashtext('dashboard-sign-in:' || %s)),"
                " pg_advisory_xact_lock(hashtext('dashboard-sign-in-from:' || %s))", (account, client))
    wait = retry_after(*recent(cur, account, client, now, limits), now, limits)
    if wait is not None:
        return wait, None
    cur.execute("DELETE FROM dashboard.login_failures WHERE at < %s", (now - limits.window,))
    cur.execute("INSERT INTO dashboard.login_failures (user_id, client, at) VALUES (%s, %s, %s) RETURNING id",
                (account, client, now))
    return None, cur.fetchone()[0]


def recent(cur: db.Cursor, account: str, client: str, now: datetime,
           limits: Limits = LIMITS) -> tuple[list[datetime], list[datetime]]:
    """The failure times within the window of the account and of the address (as many as decide); both keys as
    stored."""
    since = now - limits.window
    cur.execute("SELECT at FROM dashboard.login_failures WHERE user_id = %s AND at > %s ORDER BY at DESC LIMIT %s",
                (account, since, limits.per_account))
    found = [r[0] for r in cur.fetchall()]
    cur.execute("SELECT at FROM dashboard.login_failures WHERE client = %s AND at > %s ORDER BY at DESC LIMIT %s",
                (client, since, limits.per_client))
    return found, [r[0] for r in cur.fetchall()]


def succeeded(cur: db.Cursor, user_id: str, claimed: int) -> None:
    """The password was right: the failure recorded in advance was none, and the account starts afresh."""
    cur.execute("DELETE FROM dashboard.login_failures WHERE id = %s OR user_id = %s", (claimed, account_key(user_id)))
