"""A Kafka submission is a partner's only when that partner's secret signed its key, id, time and bytes."""

import pytest

from services.common.directory import Directory
from services.common.signing import submission_headers
from services.intake.submission_auth import Unauthenticated, record_ref, verify

NP, MY = "demo-secret-ngo-np-0123", "demo-secret-ngo-my-4567"
DIRECTORY = Directory.model_validate({"partners": [
    {"id": "ngo-np", "name": "NGO NP", "kind": "ngo", "webhook": {"url": "https://np.example/hook", "secret": NP}},
    {"id": "ngo-my", "name": "NGO MY", "kind": "ngo", "webhook": {"url": "https://my.example/hook", "secret": MY}},
    {"id": "voice-app", "name": "Voice app", "kind": "ngo", "receives_cases": False},
]})
NOW = 1_800_000_000
BODY = b'{"external_id": "x-1", "text": "They took my passport."}'


def signed(secret=NP, partner="ngo-np", event_id="evt-1", body=BODY, ts=NOW) -> list[tuple[str, bytes]]:
    return submission_headers(secret, partner, event_id, body, timestamp=ts)


def replaced(name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [(k, value if k == name else v) for k, v in signed()]


def check(key=b"ngo-np", headers=None, value=BODY, now=NOW, tolerance_s=300):
    return verify(key, signed() if headers is None else headers, value, DIRECTORY, now=now, tolerance_s=tolerance_s)


def refused(**kwargs) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as info:
        check(**kwargs)
    return info.value


def test_a_record_signed_with_its_partners_secret_is_that_partners():
    who = check()
    assert (who.partner_id, who.event_id, who.timestamp) == ("ngo-np", "evt-1", NOW)
    # A CloudEvents id may travel along, when it is the signed id.
    assert check(headers=[*signed(), ("ce_id", b"evt-1")])


@pytest.mark.parametrize(("name", "headers", "loc"), [
    ("unsigned", [], {"event_id", "timestamp", "signature"}),
    ("wrong secret", signed(secret="not-the-partners-secret"), {"signature"}),
    ("another partner's secret", signed(secret=MY), {"signature"}),
    ("signed for another key", signed(partner="ngo-my"), {"signature"}),
    ("signed for another id", replaced("webhook-id", b"evt-2"), {"signature"}),
    ("signed at another time", replaced("webhook-timestamp", str(NOW + 1).encode()), {"signature"}),
    ("another body", signed(body=BODY + b" "), {"signature"}),
    ("a different ce_id", [*signed(), ("ce_id", b"evt-9")], {"event_id"}),
    ("a second signature header", [*signed(), ("webhook-signature", b"v1,x")], {"signature"}),
    ("a timestamp that is not a number", replaced("webhook-timestamp", b"soon"), {"timestamp"}),
    ("a non-ASCII id", replaced("webhook-id", b"\xff"), {"event_id"}),
    ("an empty signature", replaced("webhook-signature", b" "), {"signature"}),
])
def test_anything_but_the_partners_own_signature_is_refused_naming_the_field(name, headers, loc):
    exc = refused(headers=headers)
    assert {e.loc for e in exc.errors} == loc, name
    assert exc.partner_id == "ngo-np"  # the partner whose name was used is told, on its own stream


def test_the_key_must_be_a_known_partner_and_only_a_known_one_is_told():
    for key in (None, b"", b"NGO NP", b"\xff\xfe", b"ngo-np.ngo-my"):
        exc = refused(key=key)
        assert [e.loc for e in exc.errors] == ["key"] and exc.partner_id is None
    exc = refused(key=b"ngo-xx", headers=signed(partner="ngo-xx"))
    assert exc.errors[0].msg == "unknown partner" and exc.partner_id is None


def test_a_partner_without_a_secret_cannot_submit_on_kafka():
    exc = refused(key=b"voice-app", headers=signed(secret="anything-at-all-16", partner="voice-app"))
    assert exc.errors[0].type == "no_secret" and exc.partner_id == "voice-app"


def test_timestamps_outside_the_window_are_refused_either_way():
    assert check(now=NOW + 300) and check(now=NOW - 300)
    assert refused(now=NOW + 301).errors[0].loc == "timestamp"
    assert "ahead" in refused(now=NOW - 301).errors[0].msg
    assert check(now=NOW + 3000, tolerance_s=3600)  # configurable (SUBMISSION_TOLERANCE_S)


def test_a_forgery_is_told_its_signature_is_wrong_even_when_late():
    exc = refused(headers=signed(secret=MY, ts=NOW - 10_000))
    assert [e.type for e in exc.errors] == ["signature_mismatch"]


def test_any_of_several_signatures_may_match_while_a_secret_rotates():
    old, new = dict(signed(secret="the-previous-secret-of-np")), dict(signed())
    assert check(headers=replaced("webhook-signature", old["webhook-signature"] + b" " + new["webhook-signature"]))


def test_a_tombstone_is_signed_as_empty_bytes_and_then_left_to_the_parser():
    assert check(value=None, headers=signed(body=b""))


def test_record_ref_tells_a_forgery_from_the_partners_resend_of_the_same_event():
    genuine, forged, resent = signed(), signed(secret=MY), signed(ts=NOW + 60)
    refs = {record_ref(b"ngo-np", headers, BODY) for headers in (genuine, forged, resent)}
    assert len(refs) == 3
    # Headers the verdict does not depend on leave it as it is: a copy of the record is the same record.
    assert record_ref(b"ngo-np", [*genuine, ("trace", b"x")], BODY) == record_ref(b"ngo-np", genuine, BODY)
