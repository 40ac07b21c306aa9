"""A service killed between its database commit and its offset commit loses nothing and notifies once."""

from __future__ import annotations

import pytest

from services.common import db

from .conftest import complaint, inbox, submit_http, wait_delivered, wait_for


@pytest.mark.parametrize("service", ["triage", "notifier"])
def test_crash_after_db_commit_before_offset_commit(stack, conn, service):
    stack.stop(service)
    crashing = stack.start(service, GRIEVANCE_CRASH_AFTER_DB_COMMIT=service)
    try:
        stack.wait_ready(service)
        bodies = [complaint() for _ in range(3)]
        for body in bodies:
            assert submit_http(stack, body).status_code == 202
        wait_for(lambda: crashing.poll() is not None, 60, what=f"{service} to crash after its DB commit")
        assert crashing.returncode == 70  # the injected fault, not some other failure
    finally:
        stack.stop(service)
        stack.start(service)
        stack.wait_ready(service)

    for body in bodies:
        status = wait_delivered(stack, body["external_id"], timeout=60)
        received = inbox(stack, status["case_ref"])
        assert len(received) == len(status["deliveries"]) > 0
        assert all(d["times_received"] == 1 for d in received), received
        with db.transaction(conn) as cur:
            cur.execute("SELECT count(*) FROM triage.decisions WHERE case_ref = %s", (status["case_ref"],))
            assert cur.fetchone()[0] == 1
            cur.execute("SELECT count(*), sum(attempts) FROM notifier.deliveries WHERE case_ref = %s",
                        (status["case_ref"],))
            count, attempts = cur.fetchone()
            assert count == len(status["deliveries"]) and attempts == count
