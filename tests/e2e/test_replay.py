"""Capture a topic range and replay it twice: no second case, no second notification."""

from __future__ import annotations

import json
import subprocess
import sys

from services.common import db

from .conftest import complaint, inbox, submit_http, wait_delivered


def grievance(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=stack.env(), capture_output=True,
                          text=True, timeout=120, check=True)


def test_capture_and_double_replay_are_idempotent(stack, conn, tmp_path):
    bodies = [complaint() for _ in range(3)]
    refs = [submit_http(stack, b).json()["case_ref"] for b in bodies]
    statuses = [wait_delivered(stack, b["external_id"]) for b in bodies]

    capture = tmp_path / "received.jsonl"
    grievance(stack, "capture", "grievance.received", "-o", str(capture), "--idle-ms", "1500")
    lines = [json.loads(line) for line in capture.read_text().splitlines()]
    captured = [line for line in lines if json.loads(line["value"])["case_ref"] in refs]
    assert len(captured) == 3
    assert all(any(h["k"] == "ce_id" for h in line["headers"]) for line in captured)

    with db.transaction(conn) as cur:
        cur.execute("SELECT count(*) FROM triage.decisions")
        decisions_before = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM notifier.deliveries")
        deliveries_before = cur.fetchone()[0]

    for _ in range(2):
        out = grievance(stack, "replay", str(capture), "--no-progress", "--rate", "500")
        assert f"replayed {len(lines)} record(s)" in out.stderr

    # A marker case submitted after the replays: once it is delivered, the replays have been consumed.
    marker = complaint()
    submit_http(stack, marker)
    wait_delivered(stack, marker["external_id"])
    with db.transaction(conn) as cur:
        cur.execute("SELECT count(*) FROM triage.decisions")
        assert cur.fetchone()[0] == decisions_before + 1
        cur.execute("SELECT count(*) FROM notifier.deliveries WHERE case_ref <> ALL(%s)", (refs,))
        cur.execute("SELECT count(*) FROM notifier.deliveries")
        marker_deliveries = len(wait_delivered(stack, marker["external_id"])["deliveries"])
        assert cur.fetchone()[0] == deliveries_before + marker_deliveries
    for ref, status in zip(refs, statuses, strict=True):
        received = inbox(stack, ref)
        assert len(received) == len(status["deliveries"]) and all(d["times_received"] == 1 for d in received)
