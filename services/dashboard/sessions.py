"""Signed-in sessions and the audit log, in the dashboard's schema. The cookie holds a random token; only
its SHA-256 is stored, so a copy of the table signs nobody in. Each session has its own CSRF token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from services.common import db
from services.dashboard.operators import Operator

TTL_HOURS = 12


@dataclass(frozen=True)
class Session:
    user_id: str
    role: str
    csrf: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(cur: db.Cursor, op: Operator) -> tuple[str, Session]:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    cur.execute("DELETE FROM dashboard.sessions WHERE expires_at < now()")
    cur.execute("INSERT INTO dashboard.sessions (token_sha256, user_id, role, csrf, expires_at)"
                " VALUES (%s, %s, %s, %s, now() + make_interval(hours => %s))",
                (_digest(token), op.id, op.role, csrf, TTL_HOURS))
    return token, Session(op.id, op.role, csrf)


def find(cur: db.Cursor, token: str | None) -> Session | None:
    if not token or len(token) > 100:
        return None
    cur.execute("SELECT user_id, role, csrf FROM dashboard.sessions WHERE token_sha256 = %s AND expires_at > now()",
                (_digest(token),))
    found = cur.fetchone()
    return Session(*found) if found else None


def end(cur: db.Cursor, token: str | None) -> None:
    if token:
        cur.execute("DELETE FROM dashboard.sessions WHERE token_sha256 = %s", (_digest(token),))


def audit(cur: db.Cursor, session: Session, action: str, target: str) -> None:
    cur.execute("INSERT INTO dashboard.audit (user_id, role, action, target) VALUES (%s, %s, %s, %s)",
                (session.user_id, session.role, action, target[:300]))
