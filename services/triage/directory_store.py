"""Writing the partner directory: every change is versioned, audited with its actor, and announced.

API keys issued through the admin API (`issued_by` set) outlive a replace of the record, by
`grievance directory load` or PUT: they end only when revoked through the API (or the partner is deleted).
"""

from __future__ import annotations

from datetime import UTC, datetime

from psycopg2.extras import Json
from pydantic import ValidationError

from schemas import envelope, topics
from schemas.models import DirectoryChanged
from services.common import db
from services.common import logging as log
from services.common.directory import LEGACY_KEY_LABEL, ApiKey, Directory, Partner, redact
from services.common.directory_cache import SealedSecret, open_secrets, seal_secrets
from services.common.settings import Settings
from services.common.vault import optional

SOURCE = "triage"


def load(cur: db.Cursor) -> Directory:
    cur.execute("SELECT record FROM triage.partners ORDER BY id")
    return Directory(partners=[Partner.model_validate(_opened(r[0])) for r in cur.fetchall()])


def get(cur: db.Cursor, partner_id: str, *, lock: bool = False) -> Partner | None:
    """One stored partner as the model reads it today; None if missing or no longer valid."""
    cur.execute("SELECT record FROM triage.partners WHERE id = %s" + (" FOR UPDATE" if lock else ""), (partner_id,))  # noqa: S608 - constant text
    row = cur.fetchone()
    try:
        return Partner.model_validate(_opened(row[0])) if row else None
    except ValidationError:
        return None


def upsert(cur: db.Cursor, partner: Partner, actor: str) -> envelope.Message | None:
    """Create or replace one partner, keeping the keys the admin API issued; None when nothing changed."""
    cur.execute("SELECT record, version FROM triage.partners WHERE id = %s FOR UPDATE", (partner.id,))
    row = _opened_row(cur.fetchone())
    if row is not None:
        partner = _keep_issued_keys(partner, row[0])
    record = partner.model_dump(mode="json")
    if row is not None and row[0] == record:
        return None
    before = _as_now(row[0]) if row else None
    version = row[1] + 1 if row else 1
    cur.execute(
        "INSERT INTO triage.partners (id, record, version, updated_by) VALUES (%s,%s,%s,%s)"
        " ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, version = EXCLUDED.version,"
        " updated_by = EXCLUDED.updated_by, updated_at = now()",
        (partner.id, _sealed(record), version, actor))
    changed = sorted(k for k in record if before is None or before.get(k) != record[k])
    return _changed(cur, partner.id, "updated" if before else "created", actor, version, changed,
                    redact(before) if before else None, partner.redacted())


def add_key(cur: db.Cursor, partner_id: str, key: ApiKey, actor: str) -> envelope.Message:
    """Add a key (rotation: the old one stays valid until revoked). LookupError: no such partner;
    ValueError: the label is taken."""
    partner = _editable(cur, partner_id)
    if key.label in {k.label for k in partner.every_key()}:
        raise ValueError(f"partner {partner_id} already has a key labelled {key.label!r}")
    changed = Partner.model_validate({**partner.model_dump(), "api_keys": [*partner.api_keys, key]})
    message = upsert(cur, changed, actor)
    assert message is not None  # noqa: S101 - a new key always changes the record
    return message


def revoke_key(cur: db.Cursor, partner_id: str, label: str, actor: str) -> envelope.Message:
    """Remove a key by its label (`default` is the legacy api_key_sha256). LookupError: no such key."""
    partner = _editable(cur, partner_id)
    if label not in {k.label for k in partner.every_key()}:
        raise LookupError(f"partner {partner_id} has no key labelled {label!r}")
    changed = Partner.model_validate({
        **partner.model_dump(), "api_keys": [k for k in partner.api_keys if k.label != label],
        "api_key_sha256": None if label == LEGACY_KEY_LABEL else partner.api_key_sha256})
    # Written directly: upsert would keep an issued key.
    cur.execute("SELECT record, version FROM triage.partners WHERE id = %s FOR UPDATE", (partner_id,))
    stored, version = _opened_row(cur.fetchone())
    before, record = _as_now(stored), changed.model_dump(mode="json")
    cur.execute("UPDATE triage.partners SET record = %s, version = %s, updated_by = %s, updated_at = now()"
                " WHERE id = %s", (_sealed(record), version + 1, actor, partner_id))
    return _changed(cur, partner_id, "updated", actor, version + 1,
                    sorted(k for k in record if before.get(k) != record[k]), redact(before), changed.redacted())


def _editable(cur: db.Cursor, partner_id: str) -> Partner:
    partner = get(cur, partner_id, lock=True)
    if partner is None:
        raise LookupError(f"no partner {partner_id} (or its stored record needs fixing with PUT first)")
    return partner


def _keep_issued_keys(partner: Partner, stored: dict) -> Partner:
    """The new record plus the keys the admin API issued that it does not name."""
    labels = {k.label for k in partner.every_key()}
    issued = []
    for raw in stored.get("api_keys") or []:
        try:
            key = ApiKey.model_validate(raw)
        except ValidationError:
            continue
        if key.issued_by and key.label not in labels:
            issued.append(key)
    if not issued:
        return partner
    return Partner.model_validate({**partner.model_dump(), "api_keys": [*partner.api_keys, *issued]})


def delete(cur: db.Cursor, partner_id: str, actor: str) -> envelope.Message | None:
    cur.execute("DELETE FROM triage.partners WHERE id = %s RETURNING record, version", (partner_id,))
    row = _opened_row(cur.fetchone())
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


# Webhook secrets are sealed at rest with the data vault (this process's GRIEVANCE_DATA_KEY) and opened as
# they are read, so every comparison above is between clear records.


def _opened(stored: dict) -> dict:
    """A stored record with its webhook secret opened; as stored when this process cannot open it."""
    try:
        return open_secrets(stored, optional(Settings.from_env().data_key))
    except SealedSecret:
        return stored


def _opened_row(row: tuple | None) -> tuple | None:
    return None if row is None else (_opened(row[0]), *row[1:])


def _sealed(record: dict) -> Json:
    vault = optional(Settings.from_env().data_key)
    if vault is None and record.get("webhook"):
        log.get().warning("webhook_secret_in_clear", partner_id=record.get("id"),
                          action="set GRIEVANCE_DATA_KEY; `grievance rekey` seals secrets stored in clear")
    return Json(seal_secrets(record, vault))
