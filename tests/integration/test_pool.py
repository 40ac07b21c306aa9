"""The HTTP handlers' connection pool against real PostgreSQL: connections kept and lent again, a failed
one never lent again, a connection whose backend died while idle replaced unseen, a saturated pool a
PoolTimeout (answered 503 upstream)."""

from __future__ import annotations

import threading

import psycopg2
import pytest

from services.common import db


def _backend(pool: db.Pool) -> int:
    with pool.transaction() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def test_a_returned_connection_is_lent_again(database_url):
    pool = db.Pool(database_url, maxconn=2)
    try:
        first = _backend(pool)
        assert {_backend(pool) for _ in range(20)} == {first}
    finally:
        pool.close()


def test_an_error_rolls_back_and_the_connection_stays_usable(database_url):
    pool = db.Pool(database_url, maxconn=1)
    try:
        with pytest.raises(psycopg2.errors.DivisionByZero), pool.transaction() as cur:
            cur.execute("CREATE TEMP TABLE t (x int)")
            cur.execute("SELECT 1/0")
        with pool.transaction() as cur:  # rolled back: the temp table is gone, the connection works
            cur.execute("SELECT to_regclass('pg_temp.t')")
            assert cur.fetchone()[0] is None
    finally:
        pool.close()


def test_a_connection_killed_while_idle_is_replaced(database_url, conn, monkeypatch):
    pool = db.Pool(database_url, maxconn=1)
    try:
        dead = _backend(pool)
        with db.transaction(conn) as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (dead,))
        monkeypatch.setattr(db.Pool, "CHECK_AFTER_S", 0.0)  # as if it had been idle long enough to be checked
        assert _backend(pool) != dead
    finally:
        pool.close()


def test_a_connection_lost_mid_transaction_is_not_lent_again(database_url, conn):
    pool = db.Pool(database_url, maxconn=1)
    try:
        with pytest.raises(db.TRANSIENT), pool.transaction() as cur:
            cur.execute("SELECT pg_backend_pid()")
            victim = cur.fetchone()[0]
            with db.transaction(conn) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (victim,))
            cur.execute("SELECT 1")
        assert _backend(pool) != victim
    finally:
        pool.close()


def test_a_saturated_pool_times_out(database_url):
    pool = db.Pool(database_url, maxconn=1, wait_s=0.2)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with pool.transaction():
            held.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(5)
        with pytest.raises(db.PoolTimeout), pool.transaction():
            pass
    finally:
        release.set()
        t.join()
        pool.close()
