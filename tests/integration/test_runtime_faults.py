"""The runtime against real PostgreSQL: which errors are waited out, which are the record's, which stop
the loop; processed ids pruned by age; a bad stored directory record left out, not fatal."""

from __future__ import annotations

import threading

import psycopg2
import pytest
from psycopg2.extras import Json

from services.common import db
from services.common.consumer import ConsumerLoop
from services.common.directory import load
from services.common.directory_cache import DirectoryCache
from services.common.errors import is_record_fault, is_systemic, is_transient
from services.common.settings import REPO_ROOT, Settings


def _raised(conn, sql: str, params=()) -> Exception:
    with pytest.raises(psycopg2.Error) as info, db.transaction(conn) as cur:
        cur.execute(sql, params)
    return info.value


def test_a_huge_key_is_the_records_fault_not_an_outage(conn):
    # "index row size exceeds btree maximum" is an OperationalError; retrying it forever once stalled a loop.
    exc = _raised(conn, "INSERT INTO triage.processed_events (consumer_group, event_id) VALUES ('t', %s)",
                  ("x" * 8000 + "".join(chr(0x4E00 + i) for i in range(3000)),))
    assert isinstance(exc, psycopg2.OperationalError)
    assert not is_transient(exc) and is_record_fault(exc)


def test_nul_and_bad_data_are_the_records_fault(conn):
    with pytest.raises(ValueError) as info, db.transaction(conn) as cur:
        cur.execute("SELECT %s", ("a\x00b",))
    assert is_record_fault(info.value)
    exc = _raised(conn, "SELECT '2026-13-45'::date")
    assert is_record_fault(exc)


def test_a_missing_table_stops_the_loop_instead_of_dead_lettering(conn):
    exc = _raised(conn, "SELECT * FROM triage.no_such_table")
    assert is_systemic(exc) and not is_record_fault(exc) and not is_transient(exc)


def test_an_unreachable_database_is_waited_out():
    with pytest.raises(psycopg2.OperationalError) as info:
        db.connect("postgresql://postgres@127.0.0.1:1/x", retries=1)
    assert is_transient(info.value)


def test_processed_ids_older_than_the_retention_are_pruned(conn, database_url):
    with db.transaction(conn) as cur:
        cur.execute("INSERT INTO triage.processed_events (consumer_group, event_id, processed_at) VALUES"
                    " ('prune-test', 'old', now() - interval '31 days'), ('prune-test', 'new', now())")
    loop = ConsumerLoop(schema="triage", group="prune-test", topic_names=[], handler=lambda c, r: [],
                        settings=Settings(database_url=database_url, processed_retention_days=30),
                        stop=threading.Event())
    loop._prune(conn)
    with db.transaction(conn) as cur:
        cur.execute("SELECT event_id FROM triage.processed_events WHERE consumer_group = 'prune-test'")
        assert [r[0] for r in cur.fetchall()] == ["new"]


def test_a_stored_record_that_breaks_the_rules_is_left_out_not_fatal(conn, database_url):
    good = load(REPO_ROOT / "config").partners[0].model_dump(mode="json")
    bad = {**good, "id": "zz-bad-zone", "working_hours": {"timezone": "Europe/Geneva"}}
    with db.transaction(conn) as cur:
        cur.execute("DELETE FROM triage.partners")
        cur.execute("INSERT INTO triage.partners (id, record, updated_by) VALUES (%s,%s,'t'), (%s,%s,'t')",
                    (good["id"], Json(good), bad["id"], Json(bad)))
    try:
        directory = DirectoryCache(database_url).get()
        assert [p.id for p in directory.partners] == [good["id"]]
    finally:
        with db.transaction(conn) as cur:
            cur.execute("DELETE FROM triage.partners")
