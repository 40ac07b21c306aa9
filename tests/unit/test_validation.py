import json

import pytest

from services.intake.validation import InvalidSubmission, NotJson, dedupe_key, parse_submission


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"{not json", b"[1, 2]", b"\"text\"", b"x" * 70_000])
def test_bytes_that_are_not_a_json_object_are_not_json(raw):
    with pytest.raises(NotJson):
        parse_submission(raw)


def test_field_errors_name_each_failing_field():
    raw = json.dumps({"partner_id": "ngo-np", "external_id": "e1", "text": "",
                      "contact": {"email": "nope"}}).encode()
    with pytest.raises(InvalidSubmission) as info:
        parse_submission(raw)
    assert {e.loc for e in info.value.errors} == {"text", "contact.email"}
    assert (info.value.partner_id, info.value.external_id) == ("ngo-np", "e1")


def test_kafka_submission_needs_a_partner_id():
    with pytest.raises(InvalidSubmission) as info:
        parse_submission(b'{"text": "help"}')
    assert [e.loc for e in info.value.errors] == ["partner_id"]


def test_http_partner_comes_from_the_key_and_must_match_the_body():
    assert parse_submission(b'{"text": "help"}', partner_id="ngo-my").partner_id == "ngo-my"
    with pytest.raises(InvalidSubmission) as info:
        parse_submission(b'{"text": "help", "partner_id": "ngo-th"}', partner_id="ngo-my")
    assert info.value.errors[0].loc == "partner_id"


def test_dedupe_key_is_the_external_id_or_a_content_digest():
    with_id = parse_submission(b'{"text": "help", "external_id": "x-1"}', partner_id="ngo-my")
    assert dedupe_key(with_id) == "x-1"
    a = parse_submission(b'{"text": "help  me"}', partner_id="ngo-my")
    b = parse_submission(b'{"text": "help me"}', partner_id="ngo-my")
    c = parse_submission(b'{"text": "help me now"}', partner_id="ngo-my")
    assert dedupe_key(a) == dedupe_key(b) != dedupe_key(c)
    assert dedupe_key(a).startswith("sha256:")
