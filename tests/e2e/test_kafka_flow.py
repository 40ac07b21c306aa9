"""Submissions on the partners' Kafka topic, good and bad, each signed by its partner as partners do (what
intake does with unsigned and forged ones: test_kafka_auth.py)."""

from __future__ import annotations

import json
import uuid

from schemas import topics
from schemas.envelope import header
from services.common.vault import SEALED_HEADER, DataVault

from .conftest import PARTNER, as_json, complaint, inbox, produce, read_topic, wait_delivered
from .partner_kafka import signed


def submit(stack, value: bytes, partner: str = PARTNER) -> None:
    produce(stack, topics.SUBMISSIONS.name, value, key=partner.encode(), headers=signed(value, partner))


def test_kafka_submission_is_delivered(stack):
    body = complaint(partner_id=PARTNER)
    submit(stack, json.dumps(body).encode())
    status = wait_delivered(stack, body["external_id"])
    assert status["urgency"] == "high"
    assert len(inbox(stack, status["case_ref"])) == len(status["deliveries"])


def test_kafka_resubmit_creates_one_case_and_one_webhook_per_recipient(stack):
    body = complaint(partner_id=PARTNER)
    for _ in range(3):  # each resend signed afresh, under an event id of its own
        submit(stack, json.dumps(body).encode())
    status = wait_delivered(stack, body["external_id"])
    received = inbox(stack, status["case_ref"])
    assert len(received) == len(status["deliveries"])
    assert all(d["times_received"] == 1 for d in received)


def test_garbage_goes_to_dead_letter_invalid_json_is_rejected_and_flow_continues(stack):
    marker = uuid.uuid4().hex
    garbage = b"\x00\xffnot-json-" + marker.encode()
    submit(stack, garbage)  # its partner's broken client: signed, but not JSON
    invalid = {"partner_id": PARTNER, "external_id": f"bad-{marker}", "text": "   ", "country_of_work": "XXX"}
    submit(stack, json.dumps(invalid).encode())
    good = complaint(partner_id=PARTNER)
    submit(stack, json.dumps(good).encode())

    vault = DataVault(stack.data_key)  # dead letters are sealed on their topic: an operator opens them
    dead = read_topic(stack, topics.dlq("intake-submissions"),
                      lambda r: header(r.headers, SEALED_HEADER) and vault.decrypt_bytes(r.value) == garbage)
    assert marker.encode() not in dead.value
    assert header(dead.headers, "kafka_dlt-original-topic") == topics.SUBMISSIONS.name
    assert header(dead.headers, "kafka_dlt-original-consumer-group") == "intake-submissions"
    assert header(dead.headers, "kafka_dlt-exception-fqcn").endswith("NotJson")
    assert "not UTF-8" in header(dead.headers, "kafka_dlt-exception-message")
    assert int(header(dead.headers, "kafka_dlt-original-offset")) >= 0

    rejected = read_topic(stack, topics.REJECTED.name, lambda r: as_json(r)["external_id"] == f"bad-{marker}")
    assert rejected.key == PARTNER.encode()
    assert {e["loc"] for e in as_json(rejected)["errors"]} == {"text", "country_of_work"}
    assert header(rejected.headers, "ce_type") == topics.REJECTED.event_type

    wait_delivered(stack, good["external_id"])
