"""PostgreSQL access: connections, transactions, and the plain-SQL migration runner.

Migrations live in migrations/<service>/NNN_name.sql; each service owns one schema of the same name.
"""

from __future__ import annotations

import contextlib
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


@contextmanager
def savepoint(cur: Cursor, name: str = "step") -> Iterator[None]:
    """A nested scope inside the current transaction: rolled back alone when it raises."""
    cur.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        cur.execute(f"ROLLBACK TO SAVEPOINT {name}")
        raise
    cur.execute(f"RELEASE SAVEPOINT {name}")


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

    A borrower waits for a free connection (at most `wait_s`, then PoolTimeout) so a burst queues instead of
    failing. Connections are opened lazily, so a service starts (and answers 503) while the database is
    down, and kept open once returned: opening one costs a PostgreSQL backend start and an authentication,
    more than most requests (psycopg2's own pool with minconn 0 closed every connection it got back). One
    that failed is closed, not returned."""

    CHECK_AFTER_S = 5.0  # an idle connection older than this is checked first: PostgreSQL may have restarted

    def __init__(self, url: str, maxconn: int = 8, wait_s: float = 10.0):
        self.url, self.wait_s = url, wait_s
        self._slots = threading.BoundedSemaphore(maxconn)  # one per connection, idle or lent
        self._idle: list[tuple[Connection, float]] = []  # with when each was returned
        self._lock = threading.Lock()

    def _take(self) -> Connection:
        while True:
            with self._lock:
                if not self._idle:
                    break
                conn, since = self._idle.pop()  # the most recently used: its backend is warm
            if conn.closed == 0 and (time.monotonic() - since < self.CHECK_AFTER_S or self._alive(conn)):
                return conn
            with contextlib.suppress(Exception):
                conn.close()
        return connect(self.url, retries=1)  # may raise OperationalError: the database is unreachable

    @staticmethod
    def _alive(conn: Connection) -> bool:
        try:
            with transaction(conn) as cur:
                cur.execute("SELECT 1")
            return True
        except TRANSIENT:
            return False

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        if not self._slots.acquire(timeout=self.wait_s):
            raise PoolTimeout(f"no database connection free after {self.wait_s:g}s")
        try:
            conn = self._take()
            broken = True
            try:
                with transaction(conn) as cur:
                    yield cur
                broken = False
            except TRANSIENT:
                raise
            except BaseException:
                broken = conn.closed != 0  # rolled back by transaction(): fine to lend again
                raise
            finally:
                if broken or conn.closed != 0:
                    with contextlib.suppress(Exception):
                        conn.close()
                else:
                    with self._lock:
                        self._idle.append((conn, time.monotonic()))
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            with contextlib.suppress(Exception):
                conn.close()
