"""What the consumer loop checks before any handler sees a record, and how it tells repeats apart. Pure."""

from __future__ import annotations

import pytest

from services.common.consumer import Incoming, dead_letter, dead_letter_alert
from services.common.outbox import headers_from_json, headers_to_json


def rec(headers=(), key=b"ngo-np", value=b"{}", topic="grievance.submissions") -> Incoming:
    return Incoming(topic, 0, 7, key, value, list(headers))


@pytest.mark.parametrize(("headers", "why"), [
    ([("ce_id", b"abc\x00def")], "ce_id"),
    ([("ce_id", b"x" * 201)], "ce_id"),
    ([("ce_id", b"\xff\xfe")], "not UTF-8"),
    ([("ce_id", "événement".encode())], "ce_id"),
    ([("ce_id", b"")], "ce_id"),
    ([("ce_source", b"/a b")], "ce_source"),
    ([("h", b"x")] * 65, "headers"),
    ([("big", b"x" * 9000)], "too long"),
    ([("k\x00", b"v")], "NUL"),
])
def test_malformed_envelopes_are_named(headers, why):
    record = rec(headers)
    assert record.problem is not None and why in record.problem
    assert record.event_id.startswith("sha256:")  # never the malformed id itself


def test_a_huge_key_is_malformed():
    assert "key" in rec(key=b"k" * 2000).problem


def test_a_good_envelope_passes_and_keeps_its_id():
    record = rec([("ce_id", b"0f6e-11"), ("ce_source", b"/partner/app"), ("ce_type", b"org.grievance.submission.v1")])
    assert record.problem is None and record.event_id == "0f6e-11"


def test_deduplication_is_scoped_to_source_and_key():
    same_id = [("ce_id", b"42"), ("ce_source", b"/partner/app")]
    a, b = rec(same_id, key=b"ngo-np"), rec(same_id, key=b"ngo-my")
    other_source = rec([("ce_id", b"42"), ("ce_source", b"/other")], key=b"ngo-np")
    assert len({a.dedupe_key, b.dedupe_key, other_source.dedupe_key}) == 3
    assert rec(same_id, key=b"ngo-np").dedupe_key == a.dedupe_key  # a true repeat is still a repeat


def test_plain_json_repeats_by_bytes_per_key():
    assert rec(value=b'{"a":1}').dedupe_key == rec(value=b'{"a":1}').dedupe_key
    assert rec(value=b'{"a":1}').dedupe_key != rec(value=b'{"a":1}', key=b"ngo-my").dedupe_key


def test_headers_with_nul_or_binary_survive_the_outbox_as_base64():
    headers = [("ce_id", b"a\x00b"), ("raw", b"\xff\x00"), ("text", "é".encode())]
    stored = headers_to_json(headers)
    assert all("\x00" not in str(item) for item in stored)
    assert headers_from_json(stored) == headers


def test_dead_letter_and_alert_for_a_poison_record():
    record = rec([("ce_id", b"abc\x00")], key=b"GRV-0123456789AB", value=b"\xff", topic="grievance.received")
    exc = ValueError("bad \x00 bytes \udc80")
    message = dead_letter("triage", record, exc)
    names = dict(message.headers)
    assert message.topic == "triage.dlq" and message.value == b"\xff"
    assert names["kafka_dlt-original-topic"] == b"grievance.received"
    assert b"\x00" not in names["kafka_dlt-exception-message"]
    alert = dead_letter_alert("triage", "triage", record, exc)
    assert alert.topic == "operator.alerts" and alert.key == b"GRV-0123456789AB"
    assert b'"urgency":"high"' in alert.value and b"may hold a grievance" in alert.value
