"""Writing the partner directory: every change is versioned, audited with its actor, and announced."""

from __future__ import annotations

from datetime import UTC, datetime

from psycopg2.extras import Json
from pydantic import ValidationError

from schemas import envelope, topics
from schemas.models import DirectoryChanged
from services.common import db
from services.common.directory import Directory, Partner, redact

SOURCE = "triage"


def load(cur: db.Cursor) -> Directory:
    cur.execute("SELECT record FROM triage.partners ORDER BY id")
    return Directory(partners=[Partner.model_validate(r[0]) for r in cur.fetchall()])


def upsert(cur: db.Cursor, partner: Partner, actor: str) -> envelope.Message | None:
    """Create or replace one partner; None when nothing changed."""
    cur.execute("SELECT record, version FROM triage.partners WHERE id = %s FOR UPDATE", (partner.id,))
    row = cur.fetchone()
    record = partner.model_dump(mode="json")
    if row is not None and row[0] == record:
        return None
    before = _as_now(row[0]) if row else None
    version = row[1] + 1 if row else 1
    cur.execute(
        "INSERT INTO triage.partners (id, record, version, updated_by) VALUES (%s,%s,%s,%s)"
        " ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, version = EXCLUDED.version,"
        " updated_by = EXCLUDED.updated_by, updated_at = now()",
        (partner.id, Json(record), version, actor))
    changed = sorted(k for k in record if before is None or before.get(k) != record[k])
    return _changed(cur, partner.id, "updated" if before else "created", actor, version, changed,
                    redact(before) if before else None, partner.redacted())


def delete(cur: db.Cursor, partner_id: str, actor: str) -> envelope.Message | None:
    cur.execute("DELETE FROM triage.partners WHERE id = %s RETURNING record, version", (partner_id,))
    row = cur.fetchone()
    if row is None:
        return None
    return _changed(cur, partner_id, "deleted", actor, row[1] + 1, [], redact(_as_now(row[0])), None)


def sync(cur: db.Cursor, directory: Directory, actor: str, *, prune: bool = False) -> list[envelope.Message]:
    """Make the stored directory equal to a file's: upsert each partner, and delete the others if prune."""
    messages = [m for p in directory.partners if (m := upsert(cur, p, actor))]
    if prune:
        keep = {p.id for p in directory.partners}
        cur.execute("SELECT id FROM triage.partners")
        messages += [m for (pid,) in cur.fetchall() if pid not in keep and (m := delete(cur, pid, actor))]
    return messages


def _as_now(stored: dict) -> dict:
    """A stored record as the model reads it today. One stored before a validation rule existed (a time zone
    that is no IANA name) is taken as stored: replacing or deleting it is how it gets fixed."""
    try:
        return Partner.model_validate(stored).model_dump(mode="json")
    except ValidationError:
        return stored


def _changed(cur: db.Cursor, partner_id: str, action: str, actor: str, version: int, fields: list[str],
             before: dict | None, after: dict | None) -> envelope.Message:
    now = datetime.now(UTC)
    cur.execute("INSERT INTO triage.directory_changes (partner_id, action, actor, before, after, changed_at)"
                " VALUES (%s,%s,%s,%s,%s,%s)", (partner_id, action, actor, Json(before), Json(after), now))
    event = DirectoryChanged(partner_id=partner_id, action=action, actor=actor, version=version,
                             changed_fields=fields, record=after, changed_at=now)
    return envelope.encode(topics.DIRECTORY, event, source=SOURCE,
                           id=envelope.event_id("directory", partner_id, str(version), action))
