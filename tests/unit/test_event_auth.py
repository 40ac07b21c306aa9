"""Signatures on internal events: what they cover and who may sign what. Pure."""

from __future__ import annotations

import pytest

from services.common.event_auth import EventSigner, EventVerifier, allowed_producers, generate, parse_public_keys

PAIRS = {name: generate() for name in ("intake", "triage", "notifier")}
VERIFIER = EventVerifier({name: pub for name, (_, pub) in PAIRS.items()})
HEADERS = [("ce_id", b"1"), ("ce_source", b"/grievance-pipeline/triage"), ("ce_type", b"org.grievance.case.routed.v1"),
           ("ce_time", b"2026-12-04T00:00:00+00:00"), ("ce_subject", b"GRV-0123456789AB")]


def signed(service="triage", topic="case.routed", key=b"GRV-0123456789AB", value=b'{"a":1}', headers=HEADERS):
    return EventSigner(service, PAIRS[service][0]).headers(topic, key, value, list(headers))


def test_the_producer_signature_verifies():
    assert VERIFIER.check("case.routed", b"GRV-0123456789AB", b'{"a":1}', signed()) is None


@pytest.mark.parametrize("change", ["topic", "key", "value", *[h for h, _ in HEADERS]])
def test_any_change_to_what_is_signed_fails(change):
    headers = signed()
    topic, key, value = "case.routed", b"GRV-0123456789AB", b'{"a":1}'
    if change == "topic":
        topic = "grievance.triaged"  # triage publishes it too: only the signature can tell
    elif change == "key":
        key = b"GRV-0000000000AA"
    elif change == "value":
        value = b'{"a":2}'
    else:
        headers = [(k, v + b"x" if k == change else v) for k, v in headers]
    assert "forged or tampered" in VERIFIER.check(topic, key, value, headers)


def test_only_the_registered_producer_may_sign():
    assert "only triage" in VERIFIER.check("case.routed", b"GRV-0123456789AB", b'{"a":1}', signed("notifier"))
    for service in ("intake", "triage", "notifier"):  # alerts come from every service
        assert VERIFIER.check("operator.alerts", None, b"{}", signed(service, "operator.alerts", None, b"{}")) is None


@pytest.mark.parametrize("stamp", [None, b"junk", b"ed25519;triage;%%", b"\xff"])
def test_missing_or_garbled_signatures_are_refused(stamp):
    headers = [] if stamp is None else [("grievance-signature", stamp)]
    assert VERIFIER.check("case.routed", b"k", b"v", headers) is not None


def test_partner_and_dead_letter_topics_are_not_checked_here():
    assert allowed_producers("grievance.submissions") == () and allowed_producers("triage.dlq") == ()


def test_key_parsing_refuses_bad_keys():
    assert parse_public_keys("intake=abc==, triage=def=, intake=ghi=") == {"intake": ["abc==", "ghi="],
                                                                           "triage": ["def="]}
    with pytest.raises(ValueError):
        parse_public_keys("intake")
    with pytest.raises(ValueError):
        EventSigner("triage", "c2hvcnQ=")


class _Producer:
    """Records what the relay sends (a fake: the relay's signing decision is what is under test)."""

    def __init__(self):
        self.sent = []

    def send(self, topic, key, value, headers):
        self.sent.append((topic, headers))

        class _Done:
            def get(self, timeout):
                return None
        return _Done()

    def flush(self):
        pass


def test_the_relay_signs_its_events_and_leaves_a_dead_letters_signature_alone():
    import threading

    from services.common.outbox import OutboxRelay, headers_to_json
    from services.common.settings import Settings

    original = signed()  # a triage event that some consumer set aside
    relay = OutboxRelay("notifier", Settings(), threading.Event(), signer=EventSigner("notifier", PAIRS["notifier"][0]))
    producer = _Producer()
    relay._send(producer, [(1, "notifier.dlq", b"GRV-0123456789AB", b'{"a":1}', headers_to_json(original)),
                           (2, "notification.failed", None, b"{}", headers_to_json(HEADERS))])
    (_, dlq_headers), (_, event_headers) = producer.sent
    assert dlq_headers == original  # requeued to case.routed, it still verifies as triage's
    assert VERIFIER.check("case.routed", b"GRV-0123456789AB", b'{"a":1}', dlq_headers) is None
    assert VERIFIER.check("notification.failed", None, b"{}", event_headers) is None


def test_during_a_rotation_both_keys_of_a_service_verify():
    new_private, new_public = generate()
    both = EventVerifier({"triage": [PAIRS["triage"][1], new_public]})
    headers = EventSigner("triage", new_private).headers("case.routed", b"k", b"v", HEADERS)
    assert both.check("case.routed", b"k", b"v", headers) is None
    assert both.check("case.routed", b"k", b"v", signed(key=b"k", value=b"v")) is None
    assert VERIFIER.check("case.routed", b"k", b"v", headers) is not None  # the old set alone refuses it
