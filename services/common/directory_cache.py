"""The partner directory as stored in PostgreSQL (triage.partners), for the services that route, accept keys
or deliver. An adapter: the model and its rules are in services.common.directory.

Webhook secrets are stored sealed with the data vault (`fernet:…`): triage's directory store seals them
as it writes, every reader opens them here with GRIEVANCE_DATA_KEY."""

from __future__ import annotations

import threading
import time

from pydantic import ValidationError

from services.common import db
from services.common import logging as log
from services.common.directory import Directory, Partner
from services.common.settings import Settings
from services.common.vault import DataVault, InvalidToken, is_sealed_text, optional


class DirectoryCache:
    """Re-read at most every `ttl_s` seconds, so an admin change reaches every service within seconds. If
    the database is unreachable the last good copy stays in use. A stored record that breaks the current
    rules (written before a rule existed) is left out with an error in the log, never the whole
    directory: one bad partner must not stop every case."""

    def __init__(self, database_url: str, ttl_s: float = 5.0, data_key: str | None = None):
        """data_key: what opens sealed webhook secrets; by default the process's GRIEVANCE_DATA_KEY."""
        self.database_url, self.ttl_s = database_url, ttl_s
        self._vault = optional(Settings.from_env().data_key if data_key is None else data_key)
        self._lock = threading.Lock()
        self._directory: Directory | None = None
        self._loaded_at = 0.0
        self._reported: set[str] = set()

    def get(self) -> Directory:
        with self._lock:
            if self._directory is None or time.monotonic() - self._loaded_at > self.ttl_s:
                try:
                    self._directory = self._read()
                    self._loaded_at = time.monotonic()
                except Exception:
                    if self._directory is None:
                        raise
        return self._directory

    def invalidate(self) -> None:
        """Read the database again on next use (the writer calls this after its own changes)."""
        with self._lock:
            self._loaded_at = float("-inf")

    def _read(self) -> Directory:
        conn = db.connect(self.database_url, retries=1)
        try:
            with db.transaction(conn) as cur:
                cur.execute("SELECT id, record FROM triage.partners ORDER BY id")
                rows = cur.fetchall()
        finally:
            conn.close()
        partners = []
        for partner_id, record in rows:
            try:
                partners.append(Partner.model_validate(open_secrets(record, self._vault)))
            except SealedSecret as exc:
                if partner_id not in self._reported:
                    self._reported.add(partner_id)
                    log.get().error("directory_record_sealed", partner_id=partner_id, error=str(exc),
                                    action="left out: give this service the GRIEVANCE_DATA_KEY that sealed it")
            except ValidationError as exc:
                if partner_id not in self._reported:
                    self._reported.add(partner_id)
                    log.get().error("directory_record_invalid", partner_id=partner_id,
                                    errors=[f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()],
                                    action="left out until fixed with `grievance directory load` or the admin API")
        return Directory(partners=partners)


class SealedSecret(ValueError):
    """A stored webhook secret this process's keys cannot open."""


SECRET_FIELDS = ("secret", "previous_secret")  # of a partner's webhook


def open_secrets(record: dict, vault: DataVault | None) -> dict:
    """A stored record with its webhook secrets opened; a secret stored in clear (before sealing) as it is."""
    webhook = record.get("webhook")
    if not isinstance(webhook, dict) or not any(is_sealed_text(webhook.get(f)) for f in SECRET_FIELDS):
        return record
    if vault is None:
        raise SealedSecret("the webhook secret is sealed and GRIEVANCE_DATA_KEY is not set")
    try:
        return {**record, "webhook": {**webhook, **{f: vault.unseal_text(webhook[f]) for f in SECRET_FIELDS
                                                   if is_sealed_text(webhook.get(f))}}}
    except InvalidToken:
        raise SealedSecret("no key in GRIEVANCE_DATA_KEY opens the webhook secret") from None


def seal_secrets(record: dict, vault: DataVault | None) -> dict:
    """A record as it is stored: its webhook secrets sealed (resealed with the newest key if they already
    were). Without a key the record is stored as it is, as before sealing existed."""
    webhook = record.get("webhook")
    if vault is None or not isinstance(webhook, dict):
        return record
    return {**record, "webhook": {**webhook, **{f: vault.reseal_text(webhook[f]) for f in SECRET_FIELDS
                                               if isinstance(webhook.get(f), str)}}}
