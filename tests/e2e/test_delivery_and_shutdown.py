"""Webhook retries until the receiver is back; SIGTERM shuts a service down cleanly."""

from __future__ import annotations

import signal

from services.common import db

from .conftest import complaint, inbox, status_by_external_id, submit_http, wait_delivered, wait_for


def test_deliveries_are_retried_until_the_receiver_answers(stack, conn):
    stack.stop("inbox")
    try:
        body = complaint()
        submit_http(stack, body)
        status = wait_for(lambda: (s := status_by_external_id(stack, body["external_id"])) and s["deliveries"]
                          and all(d["status"] == "retrying" and d["attempts"] >= 2 for d in s["deliveries"]) and s,
                          60, what="failed attempts reported as retrying")
        assert all("ConnectError" in d["detail"] for d in status["deliveries"])
    finally:
        stack.start("inbox")
        stack.wait_ready("inbox")
    status = wait_delivered(stack, body["external_id"], timeout=60)
    assert all(d["attempts"] >= 3 for d in status["deliveries"])
    assert all(d["times_received"] == 1 for d in inbox(stack, status["case_ref"]))
    with db.transaction(conn) as cur:
        cur.execute("SELECT a.attempt, a.status_code, a.error IS NOT NULL FROM notifier.attempts a"
                    " JOIN notifier.deliveries d ON d.id = a.delivery_id WHERE d.case_ref = %s"
                    " ORDER BY d.recipient, a.attempt", (status["case_ref"],))
        attempts = cur.fetchall()
    assert attempts[0] == (1, None, True)
    assert any(code == 200 for _, code, _ in attempts)


def test_sigterm_finishes_work_and_exits_cleanly(stack):
    body = complaint()
    submit_http(stack, body)
    assert stack.stop("triage", signal.SIGTERM) == 0
    stack.start("triage")
    stack.wait_ready("triage")
    wait_delivered(stack, body["external_id"])
