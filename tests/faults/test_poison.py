"""A poison record of each kind on every consumed topic: set aside, kept, alerted; no loop dies; the
pipeline keeps flowing; a record that failed goes through when it is requeued once the cause is fixed."""

from __future__ import annotations

import json
import uuid

import pytest

from schemas import topics
from services.common import signing
from services.common.consumer import Incoming
from services.intake.submission_auth import record_ref

from .conftest import (
    alerts,
    complaint,
    grievance,
    partner_secret,
    produce,
    readiness,
    submission_record,
    submit_until_accepted,
    topic_records,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

# Every topic a consumer group reads, and the schema whose dead_letters table keeps what it sets aside.
CONSUMED = {
    topics.SUBMISSIONS.name: [("intake-submissions", "intake")],
    topics.RECEIVED.name: [("triage", "triage")],
    topics.TRIAGED.name: [("intake-status", "intake")],
    topics.ROUTED.name: [("intake-status", "intake"), ("notifier", "notifier")],
    topics.DELIVERED.name: [("intake-status", "intake")],
    topics.FAILED.name: [("intake-status", "intake")],
}


def poisons(marker: str) -> dict[str, tuple[bytes | None, list]]:
    """(value, headers) of each kind of poison; the marker makes each record findable."""
    nested = ("[" * 5000 + "]" * 5000).encode()
    return {
        "non_utf8": (b"\xff\xfe\xfa" + marker.encode() + b"\x80", []),
        "nul_in_id": (json.dumps({"m": marker}).encode(), [("ce_id", b"abc\x00" + marker.encode())]),
        "huge_id": (json.dumps({"m": marker}).encode(), [("ce_id", ("x" * 8000 + marker).encode())]),
        "non_utf8_header": (json.dumps({"m": marker}).encode(), [("ce_source", b"\xff\xfe" + marker.encode())]),
        "wrong_types": (json.dumps({"case_ref": 12345, "text": ["a"], "partner_id": {"x": 1}, "m": marker}).encode(),
                        []),
        "deep_nesting": (nested[:-2] + json.dumps(marker).encode() + b"]]", []),
        "not_an_object": (json.dumps([marker, 1, None]).encode(), []),
        "tombstone": (None, []),
    }


def test_poison_records_on_every_consumed_topic(fstack, fconn, invariants):
    run = uuid.uuid4().hex[:8]
    sent = {}
    unsigned: dict[str, bytes] = {}  # on the submissions topic: rejection reference -> key
    for topic in CONSUMED:
        records = []
        for kind in poisons(""):
            value, headers = poisons(f"{run}-{kind}")[kind]
            key = f"poison-{run}-{kind}".encode()
            records.append((key, value, headers))
            sent[(topic, key)] = kind
            if topic == topics.SUBMISSIONS.name:
                event_id = Incoming(topic, 0, 0, key, value, headers).event_id
                unsigned[f"{event_id} {record_ref(key, headers, value)}"] = key
        produce(fstack, topic, records)

    def kept() -> dict[tuple[str, bytes], set[str]]:
        found: dict[tuple[str, bytes], set[str]] = {}
        with fconn.cursor() as cur:
            for schema in ("intake", "triage", "notifier"):
                cur.execute(f"SELECT topic, key, consumer_group FROM {schema}.dead_letters WHERE key LIKE %s",
                            (f"poison-{run}-%".encode(),))
                for topic, key, group in cur.fetchall():
                    found.setdefault((topic, bytes(key)), set()).add(group)
            # On the submissions topic a record no partner signed is answered on grievance.rejected and kept
            # there (sealed), whatever its bytes: it never reaches the parser, let alone the dead-letter topic.
            cur.execute("SELECT source_ref FROM intake.rejected_submissions WHERE source_ref = ANY(%s)",
                        (list(unsigned),))
            for (ref,) in cur.fetchall():
                found.setdefault((topics.SUBMISSIONS.name, unsigned[ref]), set()).add("intake-submissions")
        return found

    def every_group_kept_every_poison():
        found = kept()
        return all({g for g, _ in CONSUMED[t]} <= found.get((t, k), set()) for t, k in sent)

    wait_for(every_group_kept_every_poison, 90, 1.0, what="every poison kept by every group that reads it")

    # Each dead letter is on its group's dead-letter topic with the kafka_dlt-* headers, and alerted.
    dlq = {bytes(r.key): dict(r.headers) for r in topic_records(fstack, topics.dlq("triage")) if r.key}
    mine = {k: h for k, h in dlq.items() if k.startswith(f"poison-{run}".encode())}
    assert len(mine) == len(poisons("x"))
    assert all(h["kafka_dlt-original-topic"] == topics.RECEIVED.name.encode() for h in mine.values())
    raised = [a for a in alerts(fstack) if a["kind"] == "dead_letter"]
    with fconn.cursor() as cur:
        cur.execute("SELECT topic, kafka_partition, kafka_offset FROM triage.dead_letters WHERE key LIKE %s",
                    (f"poison-{run}-%".encode(),))
        for topic, partition, offset in cur.fetchall():
            assert any(a["topic"] == topic and f"(partition {partition}, offset {offset})" in a["message"]
                       for a in raised), (topic, partition, offset)

    # No loop died, and the pipeline still delivers.
    for name in ("intake", "triage", "notifier"):
        code, body = readiness(fstack, name)
        assert code == 200, body
    body = complaint()
    invariants.case_refs.add(submit_until_accepted(fstack, body))
    print("poison:", invariants.check())


def test_requeued_dead_letter_goes_through_once_its_cause_is_fixed(fstack, fconn, invariants, tmp_path):
    """A Kafka submission from a partner not yet in the directory is answered (rejected); one whose case
    triage cannot route is still routed; so the dead letter here is a submission whose bytes were cut:
    requeued as it was it fails again (kept once, attempts counted); requeued repaired it is filed."""
    body = complaint(partner_id="ngo-np")
    ce_id = f"requeue-{uuid.uuid4().hex[:8]}"
    key, value, headers = submission_record(body, ce_id)
    # Truncated JSON its partner signed (so it reaches the parser): a dead letter.
    cut = value[:-7]
    cut_headers = [*signing.submission_headers(partner_secret("ngo-np"), "ngo-np", ce_id, cut),
                   *[(k, v) for k, v in headers if not k.startswith("webhook-")]]
    produce(fstack, topics.SUBMISSIONS.name, [(key, cut, cut_headers)])

    def dead_letter():
        with fconn.cursor() as cur:
            cur.execute("SELECT attempts FROM intake.dead_letters WHERE dedupe_key LIKE %s", (f"%{ce_id}",))
            return cur.fetchone()
    assert wait_for(dead_letter, 60, what="the cut submission dead-lettered")[0] == 1

    # Requeue the dead letter unchanged with the replay command: it fails again, kept once, counted.
    capture = tmp_path / "dlq.jsonl"
    out = grievance(fstack, "capture", topics.dlq("intake-submissions"), "-o", str(capture), "--idle-ms", "1500")
    assert out.returncode == 0, out.stderr
    lines = [line for line in capture.read_text().splitlines() if ce_id in line]
    assert len(lines) == 1
    # Sealed on the dead-letter topic (the capture holds no complaint text); replay opens it with the key.
    assert body["text"][:30] not in lines[0] and '"grievance-sealed"' in lines[0]
    only = tmp_path / "one.jsonl"
    only.write_text(lines[0] + "\n")
    assert grievance(fstack, "replay", str(only), "--no-progress").returncode == 0
    wait_for(lambda: dead_letter()[0] == 2, 60, what="the requeued dead letter to fail again and be counted")

    # Repaired (the partner's system fixed and resent the same event id, signed afresh over the repaired
    # bytes): it is filed, not dropped. The repaired bytes are in clear, so the seal mark goes with the
    # sealed value.
    repaired = json.loads(lines[0])
    repaired["value"] = value.decode()
    resigned = [{"k": k, "v": v.decode()}
                for k, v in signing.submission_headers(partner_secret("ngo-np"), "ngo-np", ce_id, value)]
    repaired["headers"] = [h for h in repaired["headers"] if h["k"] != "grievance-sealed"
                           and not h["k"].startswith("webhook-")] + resigned
    only.write_text(json.dumps(repaired) + "\n")
    assert grievance(fstack, "replay", str(only), "--no-progress").returncode == 0

    def filed():
        with fconn.cursor() as cur:
            cur.execute("SELECT case_ref FROM intake.cases WHERE partner_id = %s AND external_id = %s",
                        ("ngo-np", body["external_id"]))
            return cur.fetchone()
    invariants.case_refs.add(wait_for(filed, 60, what="the repaired submission filed")[0])
    print("requeue:", invariants.check())
