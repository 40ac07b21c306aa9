"""Erasure and retention: `grievance erase CASE_REF` and `grievance erase --older-than DAYS`.

An operator command, run with DATABASE_URL and GRIEVANCE_DATA_KEY, that crosses the services' schemas
by design: a worker's request to be forgotten must reach every copy at once, in one transaction, and
must not depend on each service being up to consume an "erasure requested" event. What it removes:

- every row of every service schema (`intake`, `triage`, `notifier`) with a `case_ref` column naming the
  case: contact details, delivery status, disclosures, triage decisions (the complaint text), linked
  entities, notifier deliveries (payloads) and their attempts;
- the case itself, and its rejected submissions (same partner and external id);
- outbox rows and dead letters that name the case (by key, by content, sealed dead letters opened with
  the data key to be searched); processed-event ids stay (ids only), so a replay of the case's old events
  is dropped as a repeat for as long as they are kept (`PROCESSED_RETENTION_DAYS`);
- then one row in `intake.erasures`: the case reference, when, who, and how many rows went where.

Events already published cannot be rewritten: copies on Kafka topics last until the topics' retention
removes them; a replay of them within the processed-id retention is a repeat, later it would bring the
case back, so captures holding erased cases must be discarded.
"""

from __future__ import annotations

import getpass
import json
from collections import Counter

from psycopg2.extras import Json

from services.common import db
from services.common.vault import SEALED_HEADER, SERVICE_SCHEMAS, DataVault
from services.intake import store


def erase(conn: db.Connection, case_ref: str, vault: DataVault, *, reason: str = "request",
          actor: str | None = None) -> dict[str, int]:
    """Remove the case everywhere it is stored; returns rows removed per table ({} when nothing named it)."""
    with db.transaction(conn) as cur:
        identity = store.case_identity(cur, case_ref)
        removed: Counter[str] = Counter()
        for table in _case_tables(cur):
            cur.execute(f"DELETE FROM {table} WHERE case_ref = %s", (case_ref,))  # noqa: S608 - table from the catalogue
            removed[table] += cur.rowcount
        removed.update(store.erase_case(cur, case_ref))
        for schema in SERVICE_SCHEMAS:
            removed.update(_runtime_rows(cur, schema, case_ref, identity, vault))
        removed = Counter({t: n for t, n in removed.items() if n})
        if removed:
            cur.execute("INSERT INTO intake.erasures (case_ref, reason, actor, removed) VALUES (%s,%s,%s,%s)",
                        (case_ref, reason, actor or f"operator:{getpass.getuser()}", Json(dict(removed))))
    return dict(removed)


def erase_older_than(conn: db.Connection, days: int, vault: DataVault,
                     actor: str | None = None) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """Retention: every case received more than `days` ago, erased as above (one transaction each), then
    the rejected submissions and dead letters kept longer than that. Returns (per case, the rest)."""
    with db.transaction(conn) as cur:
        cur.execute("SELECT case_ref FROM intake.cases WHERE received_at < now() - make_interval(days => %s)"
                    " ORDER BY received_at", (days,))
        refs = [r[0] for r in cur.fetchall()]
    cases = {ref: erase(conn, ref, vault, reason=f"retention: received more than {days} days ago", actor=actor)
             for ref in refs}
    rest: dict[str, int] = {}
    with db.transaction(conn) as cur:
        old = "created_at < now() - make_interval(days => %s)"
        for table in ["intake.rejected_submissions", *(f"{s}.dead_letters" for s in SERVICE_SCHEMAS)]:
            cur.execute(f"DELETE FROM {table} WHERE {old}", (days,))  # noqa: S608 - tables and clause from code
            rest[table] = cur.rowcount
    return cases, rest


def already_erased(conn: db.Connection, case_ref: str) -> bool:
    with db.transaction(conn) as cur:
        cur.execute("SELECT 1 FROM intake.erasures WHERE case_ref = %s", (case_ref,))
        return cur.fetchone() is not None


def _case_tables(cur: db.Cursor) -> list[str]:
    """Every table of the service schemas with a case_ref column, but the case itself (removed last, by
    intake's store) and the erasure audit: tables added later are covered without changing this."""
    cur.execute(
        "SELECT c.table_schema || '.' || c.table_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.column_name = 'case_ref' AND t.table_type = 'BASE TABLE' AND c.table_schema = ANY(%s)"
        " AND (c.table_schema, c.table_name) NOT IN (('intake', 'cases'), ('intake', 'erasures'))"
        " ORDER BY 1", (list(SERVICE_SCHEMAS),))
    return [r[0] for r in cur.fetchall()]


def _runtime_rows(cur: db.Cursor, schema: str, case_ref: str, identity: tuple[str, str] | None,
                  vault: DataVault) -> dict[str, int]:
    """The runtime tables' rows naming the case: processed ids (keyed by case ref on internal topics),
    outbox rows (events about it, its submission's rejection) and dead letters."""
    ref = case_ref.encode()
    # Processed-event ids stay: they hold no personal data (ids and the case reference, as the audit row
    # does), and they are what makes a replay of the case's old events a repeat instead of a new case.
    removed: dict[str, int] = {}
    partner, quoted = (identity[0].encode(), json.dumps(identity[1], ensure_ascii=False).encode()) if identity \
        else (None, None)
    cur.execute(f"DELETE FROM {schema}.outbox WHERE key = %s OR position(%s in value) > 0"  # noqa: S608 - schema from code
                " OR (key = %s AND position(%s in value) > 0)", (ref, ref, partner, quoted))
    removed[f"{schema}.outbox"] = cur.rowcount
    # Sealed copies (dead letters, and those waiting in the outbox for their topic) are opened to be searched.
    cur.execute(f"SELECT id, key, value, value_sealed, headers FROM {schema}.dead_letters")  # noqa: S608 - schema from code
    doomed = [row[0] for row in cur.fetchall() if _names(row[1], row[2], row[3], row[4], ref, partner, quoted, vault)]
    cur.execute(f"DELETE FROM {schema}.dead_letters WHERE id = ANY(%s)", (doomed,))  # noqa: S608 - schema from code
    removed[f"{schema}.dead_letters"] = cur.rowcount
    cur.execute(f"SELECT id, key, value, true, headers FROM {schema}.outbox WHERE headers @> %s",  # noqa: S608 - schema from code
                (Json([{"k": SEALED_HEADER}]),))
    doomed = [row[0] for row in cur.fetchall() if _names(row[1], row[2], row[3], row[4], ref, partner, quoted, vault)]
    cur.execute(f"DELETE FROM {schema}.outbox WHERE id = ANY(%s)", (doomed,))  # noqa: S608 - schema from code
    removed[f"{schema}.outbox"] += cur.rowcount
    return removed


def _names(key: bytes | None, value: bytes | None, sealed: bool, headers: list, ref: bytes, partner: bytes | None,
           quoted: bytes | None, vault: DataVault) -> bool:
    """Whether a kept record is about the case: keyed by it, or its value or headers name it, or it is
    the case's submission (keyed by the partner, holding its external id)."""
    key = bytes(key) if key is not None else b""
    content = vault.decrypt_bytes(bytes(value)) if sealed and value is not None else bytes(value or b"")
    content += json.dumps(headers, ensure_ascii=False).encode()
    return key == ref or ref in content or (partner is not None and key == partner and quoted in content)
