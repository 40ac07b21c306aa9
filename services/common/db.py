"""PostgreSQL access: connections, transactions, and the plain-SQL migration runner.

Migrations live in migrations/<service>/NNN_name.sql; each service owns one schema of the same name.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from services.common import logging as log
from services.common.settings import MIGRATIONS_DIR

Connection = psycopg2.extensions.connection
Cursor = psycopg2.extensions.cursor

# Errors that mean "the database is unreachable right now", worth waiting out rather than dead-lettering.
TRANSIENT = (psycopg2.OperationalError, psycopg2.InterfaceError)

psycopg2.extras.register_default_jsonb(loads=__import__("json").loads)


def connect(url: str, *, retries: int = 30, delay: float = 0.5) -> Connection:
    for attempt in range(retries):
        try:
            conn = psycopg2.connect(url, connect_timeout=5)
            conn.autocommit = False
            return conn
        except psycopg2.OperationalError:
            if attempt == retries - 1:
                raise
            time.sleep(delay)
    raise AssertionError("unreachable")


@contextmanager
def transaction(conn: Connection) -> Iterator[Cursor]:
    """One transaction: commit on success, roll back on any exception."""
    cur = conn.cursor()
    try:
        yield cur
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        cur.close()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def ensure_database(url: str) -> None:
    """Create the database named in url if it does not exist yet."""
    name = database_name(url)
    conn = connect(with_database(url, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()


def drop_database(url: str) -> None:
    conn = connect(with_database(url, "postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')
    finally:
        conn.close()


def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply every migration not yet applied, all in one transaction; returns what was applied."""
    ensure_database(url)
    conn = connect(url)
    applied: list[str] = []
    try:
        with transaction(conn) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(727274)")  # one migrator at a time
            cur.execute(
                "CREATE TABLE IF NOT EXISTS public.schema_migrations ("
                " service text NOT NULL, version text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (service, version))"
            )
            cur.execute("SELECT service || '/' || version FROM public.schema_migrations")
            done = {row[0] for row in cur.fetchall()}
            for path in sorted(directory.glob("*/*.sql")):
                name = f"{path.parent.name}/{path.stem}"
                if name in done:
                    continue
                cur.execute(path.read_text())
                cur.execute(
                    "INSERT INTO public.schema_migrations (service, version) VALUES (%s, %s)",
                    (path.parent.name, path.stem),
                )
                applied.append(name)
    finally:
        conn.close()
    if applied:
        log.get().info("migrations_applied", migrations=applied)
    return applied


class PoolTimeout(Exception):
    """No connection came free in time: the database is saturated; answered 503 with Retry-After."""


class Pool:
    """A small thread-safe pool for HTTP handlers; each borrow is one transaction.

    psycopg2's pool raises at once when every connection is out; here a borrower waits for a free one
    (at most `wait_s`, then PoolTimeout) so a burst queues instead of failing. Connections are opened
    lazily, so a service starts (and answers 503) while the database is down."""

    def __init__(self, url: str, maxconn: int = 8, wait_s: float = 10.0):
        import psycopg2.pool

        self._pool = psycopg2.pool.ThreadedConnectionPool(0, maxconn, url, connect_timeout=5)
        self._slots = threading.BoundedSemaphore(maxconn)  # one per connection: getconn never runs dry
        self.wait_s = wait_s

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        if not self._slots.acquire(timeout=self.wait_s):
            raise PoolTimeout(f"no database connection free after {self.wait_s:g}s")
        try:
            conn = self._pool.getconn()  # may raise OperationalError: the database is unreachable
            broken = False
            try:
                with transaction(conn) as cur:
                    yield cur
            except TRANSIENT:
                broken = True
                raise
            finally:
                self._pool.putconn(conn, close=broken or conn.closed != 0)
        finally:
            self._slots.release()

    def close(self) -> None:
        self._pool.closeall()
