"""The sign-in limit against real PostgreSQL, fed what an attacker types: a name or address with a NUL, an
unpaired surrogate or 10,000 characters is counted (a row kept under a storable key), never a database error;
the sixth wrong guess at one name is refused with a wait, whatever the name holds."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from services.common import db
from services.dashboard import throttle

NOW = datetime.now(UTC)
HOSTILE = ["demo\x00operator", "demo\ud800operator", "\x00" * 300, "x" * 10_000, "\u202eadmin\ufeff"]


@pytest.fixture()
def cur(conn):
    with db.transaction(conn) as c:
        yield c
        c.connection.rollback()


@pytest.mark.parametrize("typed", HOSTILE)
def test_a_hostile_name_and_address_are_counted_not_refused_by_postgresql(cur, typed: str):
    client = typed + secrets.token_hex(4)  # the address as a proxy header might carry it
    wait, failure = throttle.claim(cur, typed, client, NOW)
    assert wait is None and failure is not None
    cur.execute("SELECT user_id, client FROM dashboard.login_failures WHERE id = %s", (failure,))
    user_id, stored_client = cur.fetchone()
    assert user_id == throttle.account_key(typed) and "\x00" not in stored_client and len(stored_client) <= 100


@pytest.mark.parametrize("typed", HOSTILE)
def test_the_sixth_guess_at_a_hostile_name_waits(cur, typed: str):
    name = typed + secrets.token_hex(4)  # its own account: earlier tests' rows are rolled back anyway
    for i in range(throttle.LIMITS.per_account):
        wait, failure = throttle.claim(cur, name, f"10.0.0.{i}", NOW + timedelta(seconds=i))
        assert wait is None and failure is not None
    wait, failure = throttle.claim(cur, name, "10.0.0.99", NOW + timedelta(seconds=10))
    assert failure is None and wait is not None and wait > 0
