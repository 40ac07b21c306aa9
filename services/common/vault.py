"""Personal data at rest: one vault for every copy the pipeline keeps of it.

Contact details (intake.contacts), rejected bodies (intake.rejected_submissions), dead letters (each
schema's dead_letters and the `<group>.dlq` topics) and partners' webhook secrets (triage.partners) are
sealed with Fernet (AES-128-CBC with HMAC-SHA256). `GRIEVANCE_DATA_KEY` holds one key or several,
comma-separated and newest first: the first encrypts, any of them decrypts (MultiFernet), so a new key
can be put in front while `grievance rekey` re-encrypts what the older ones sealed.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import psycopg2
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from psycopg2.extras import Json
from pydantic import ValidationError

from services.common import db
from services.common.errors import safe_text

SEALED_HEADER = "grievance-sealed"  # on a Kafka record whose value is a Fernet token
SEALED_SCHEME = b"fernet"
TEXT_PREFIX = "fernet:"  # a sealed string stored where text is expected (a webhook secret in JSON)

__all__ = ["SEALED_COLUMNS", "SEALED_HEADER", "SEALED_SCHEME", "TEXT_PREFIX", "DataVault", "InvalidToken",
           "clear_error", "is_sealed_text", "optional", "parse_keys", "rekey"]


def parse_keys(spec: str) -> list[str]:
    return [k.strip() for k in (spec or "").split(",") if k.strip()]


class DataVault:
    def __init__(self, keys: str):
        parts = parse_keys(keys)
        if not parts:
            raise ValueError("GRIEVANCE_DATA_KEY is not set (generate one with `grievance keygen`)")
        try:
            fernets = [Fernet(k.encode()) for k in parts]
        except (ValueError, binascii.Error) as exc:
            raise ValueError("GRIEVANCE_DATA_KEY: each key must be 32 url-safe base64-encoded bytes "
                             "(make one with `grievance keygen`), comma-separated, newest first") from exc
        self._fernet = MultiFernet(fernets)
        self._oldest = parts[-1]
        self.key_count = len(parts)

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def derive(self, label: bytes) -> bytes:
        """A secret for another purpose (the worker pseudonym), from the oldest key listed: putting a new
        key in front for rotation leaves it unchanged."""
        return hashlib.sha256(label + b"\x00" + self._oldest.encode()).digest()

    def encrypt_bytes(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt_bytes(self, token: bytes) -> bytes:
        """Raises InvalidToken when no key listed opens it (or it was tampered with)."""
        return self._fernet.decrypt(bytes(token))

    def rotate(self, token: bytes) -> bytes:
        """The same content encrypted with the newest key."""
        return self._fernet.rotate(bytes(token))

    def seal_text(self, text: str) -> str:
        return TEXT_PREFIX + self.encrypt_bytes(text.encode()).decode("ascii")

    def unseal_text(self, value: str) -> str:
        """A sealed string opened; a string stored before sealing existed comes back as it is."""
        if not is_sealed_text(value):
            return value
        return self.decrypt_bytes(value[len(TEXT_PREFIX):].encode("ascii")).decode()

    def reseal_text(self, value: str) -> str:
        """Sealed with the newest key, whether it was sealed with an older one or stored in clear."""
        if not is_sealed_text(value):
            return self.seal_text(value)
        return TEXT_PREFIX + self.rotate(value[len(TEXT_PREFIX):].encode("ascii")).decode("ascii")


def is_sealed_text(value: object) -> bool:
    return isinstance(value, str) and value.startswith(TEXT_PREFIX)


@lru_cache(maxsize=8)
def optional(keys: str) -> DataVault | None:
    """The vault for these keys, or None when none are configured (a copy is then kept as it came)."""
    return DataVault(keys) if parse_keys(keys) else None


def clear_error(exc: BaseException, limit: int = 2000) -> str:
    """What an error may say where it is kept in clear (logs, alerts, dead-letter headers and rows): never
    the input it quotes. pydantic repeats each bad value (`input_value=…`) and PostgreSQL the key values of
    a violated constraint (`DETAIL: Key (…)=(…)`); only the locations and messages are kept."""
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        text = f"{len(errors)} validation error(s) for {exc.title}: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in errors)
    elif isinstance(exc, psycopg2.Error):
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    else:
        text = str(exc)
    return safe_text(text, limit)


# ------------------------------------------------------------------ every sealed copy, and rekeying them

SERVICE_SCHEMAS = ("intake", "triage", "notifier")
MAX_CLEAR_REJECTED = 65536  # a rejected body kept in clear before sealing existed, over this, stays as it is


@dataclass(frozen=True)
class SealedColumn:
    table: str  # schema.table
    key: str  # its primary key, for batches in key order
    column: str
    flag: str | None = None  # a boolean column, true when the value is sealed (false: kept before sealing)
    where: str = "true"  # which rows hold a sealed (or sealable) value


SEALED_COLUMNS = (
    SealedColumn("intake.contacts", "case_ref", "ciphertext"),
    SealedColumn("intake.case_events", "id", "note_sealed", where="note_sealed IS NOT NULL"),  # partners' notes
    SealedColumn("intake.rejected_submissions", "id", "body", "body_sealed",
                 f"(body_sealed OR octet_length(body) <= {MAX_CLEAR_REJECTED})"),
    *(SealedColumn(f"{s}.dead_letters", "id", "value", "value_sealed", "value IS NOT NULL") for s in SERVICE_SCHEMAS),
    # Dead letters waiting in the outbox (or kept after publishing) for their dead-letter topic.
    *(SealedColumn(f"{s}.outbox", "id", "value", where=f"headers @> '[{{\"k\": \"{SEALED_HEADER}\"}}]'")
      for s in SERVICE_SCHEMAS),
)


@dataclass
class Rekeyed:
    rotated: int = 0  # sealed under an older key, now under the newest
    sealed: int = 0  # kept in clear before sealing existed, now sealed
    left_clear: int = 0  # still in clear (a rejected body over the bound, kept before bounds existed)


def rekey(conn: db.Connection, vault: DataVault, batch_size: int = 500,
          report: Callable[[str, Rekeyed], None] = lambda table, counts: None) -> dict[str, Rekeyed]:
    """Re-encrypt every sealed copy with the newest key, and seal what was kept in clear before sealing
    existed (rejected bodies, dead letters, webhook secrets): one transaction per batch, so a long run
    holds no lock for long and can be run again after an interruption. Afterwards the older keys can
    be dropped from GRIEVANCE_DATA_KEY (but see `derive`: the pseudonym key comes from the oldest)."""
    done = {}
    for spec in SEALED_COLUMNS:
        done[spec.table] = _rekey_column(conn, spec, vault, batch_size)
        report(spec.table, done[spec.table])
    done["triage.partners"] = _rekey_partners(conn, vault, batch_size)
    report("triage.partners", done["triage.partners"])
    return done


def _rekey_column(conn: db.Connection, spec: SealedColumn, vault: DataVault, batch_size: int) -> Rekeyed:
    counts, last = Rekeyed(), None
    flag = spec.flag or "true"
    while True:
        with db.transaction(conn) as cur:
            cur.execute(f"SELECT {spec.key}, {spec.column}, {flag} FROM {spec.table} WHERE {spec.where}"  # noqa: S608 - SEALED_COLUMNS constants
                        f" AND (%s::text IS NULL OR {spec.key}::text > %s::text) ORDER BY {spec.key}::text"
                        " LIMIT %s FOR UPDATE", (last, last, batch_size))
            rows = cur.fetchall()
            for key, value, sealed in rows:
                new = vault.rotate(value) if sealed else vault.encrypt_bytes(bytes(value))
                cur.execute(f"UPDATE {spec.table} SET {spec.column} = %s"  # noqa: S608 - SEALED_COLUMNS constants
                            + (f", {spec.flag} = true" if spec.flag else "") + f" WHERE {spec.key} = %s", (new, key))
                counts.rotated += bool(sealed)
                counts.sealed += not sealed
        if len(rows) < batch_size:
            break
        last = str(rows[-1][0])
    if spec.flag:
        with db.transaction(conn) as cur:
            cur.execute(f"SELECT count(*) FROM {spec.table} WHERE NOT {spec.flag}")  # noqa: S608 - SEALED_COLUMNS constants
            counts.left_clear = cur.fetchone()[0]
    return counts


def _rekey_partners(conn: db.Connection, vault: DataVault, batch_size: int) -> Rekeyed:
    """Webhook secrets inside the stored partner records (a `fernet:` string, or clear if stored before)."""
    counts, last = Rekeyed(), ""
    while True:
        with db.transaction(conn) as cur:
            cur.execute("SELECT id, record FROM triage.partners WHERE id > %s ORDER BY id LIMIT %s FOR UPDATE",
                        (last, batch_size))
            rows = cur.fetchall()
            for partner_id, record in rows:
                webhook = record.get("webhook")
                if not isinstance(webhook, dict) or not isinstance(webhook.get("secret"), str):
                    continue
                was_sealed = is_sealed_text(webhook["secret"])
                resealed = {**record, "webhook": {**webhook, "secret": vault.reseal_text(webhook["secret"])}}
                cur.execute("UPDATE triage.partners SET record = %s WHERE id = %s", (Json(resealed), partner_id))
                counts.rotated += was_sealed
                counts.sealed += not was_sealed
        if len(rows) < batch_size:
            return counts
        last = rows[-1][0]
