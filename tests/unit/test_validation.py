import json

import pytest

from services.intake.validation import (
    MAX_BODY_BYTES,
    MAX_ERRORS,
    InvalidSubmission,
    NotJson,
    dedupe_key,
    kept_body,
    parse_submission,
    printable,
)


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


# ------------------------------------------------------------------ hostile input


def _errors(raw: bytes, **kw) -> dict[str, str]:
    with pytest.raises(InvalidSubmission) as info:
        parse_submission(raw, **kw)
    return {e.loc: e.type for e in info.value.errors}


@pytest.mark.parametrize("field", ["external_id", "text", "employer", "recruiter", "sector", "language",
                                   "contact.name", "contact.phone", "contact.email", "contact.passport_number",
                                   "contact.messaging_handle", "contact.address", "crm.notes"])
@pytest.mark.parametrize(("bad", "kind"), [("a\u0000b", "string_nul"), ("a\ud800b", "string_unpaired_surrogate")])
def test_nul_and_lone_surrogates_are_refused_in_every_string_naming_the_field(field, bad, kind):
    body: dict = {"text": "help", "external_id": "e-1"}
    parent, _, leaf = field.rpartition(".")
    (body.setdefault(parent, {}) if parent else body)[leaf] = bad
    raw = json.dumps(body).encode()  # json.dumps writes "\\u0000" and "\\ud800": what an attacker sends
    errors = _errors(raw, partner_id="ngo-np")
    assert errors[field] == kind
    for e in errors:  # nothing unstorable in what is said about it
        assert "\x00" not in e and e.encode()


def test_a_bad_key_is_named_escaped_and_the_kept_external_id_is_safe():
    raw = b'{"text": "help", "external_id": "a\\ud800", "x\\u0000y": 1}'
    with pytest.raises(InvalidSubmission) as info:
        parse_submission(raw, partner_id="ngo-np")
    locs = {e.loc for e in info.value.errors}
    assert {"external_id", "x\\u0000y"} <= locs
    assert info.value.external_id is None  # never a string PostgreSQL cannot hold


@pytest.mark.parametrize("bad", ["a\x01b", "tab\there", "del\x7fx", "c1\x85x", "x" * 201, "x" * 8000])
def test_control_characters_and_overlong_ids_are_refused(bad):
    errors = _errors(json.dumps({"text": "help", "external_id": bad}).encode(), partner_id="ngo-np")
    assert set(errors) == {"external_id"}


def test_control_characters_in_text_and_lines_are_stripped_not_refused():
    s = parse_submission(json.dumps({"text": "help\x07 me", "employer": "Acme\x01 Sdn\x9f Bhd"}).encode(),
                         partner_id="ngo-np")
    assert (s.text, s.employer) == ("help me", "Acme Sdn Bhd")


@pytest.mark.parametrize("code", ["XX", "EU", "ZZ", "UK", "AA", "my", "MYS", 458])
def test_country_codes_must_be_assigned_iso_3166_alpha_2(code):
    errors = _errors(json.dumps({"text": "help", "country_of_work": code, "country_of_origin": "NP"}).encode(),
                     partner_id="ngo-np")
    assert set(errors) == {"country_of_work"}


@pytest.mark.parametrize(("body", "loc"), [
    ({"text": 123}, "text"), ({"text": ["help"]}, "text"), ({"text": "help", "contact": ["a"]}, "contact"),
    ({"text": "help", "consent": "yes"}, "consent"), ({"text": "help", "minor_involved": {"a": 1}}, "minor_involved"),
    ({"text": "help", "external_id": 7}, "external_id"), ({"text": {"nested": "object"}}, "text"),
])
def test_wrong_types_name_the_field(body, loc):
    assert loc in _errors(json.dumps(body).encode(), partner_id="ngo-np")


@pytest.mark.parametrize("raw", [
    b'{"text": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",  # deeper than the parser goes
    b'{"text": "help", "n": ' + b"1" * 5_000 + b"}",  # past Python's integer digits limit
    b'{"text": "help", "n": NaN}', b'{"text": "help"} trailing', b"\xfe\xff\x00{", b'{"text": "caf\xe9"}',
    "\ufeff[1]".encode(), b"",
])
def test_parser_limits_are_not_json_never_a_crash(raw):
    with pytest.raises(NotJson):
        parse_submission(raw, partner_id="ngo-np")


def test_utf16_is_refused_and_a_utf8_bom_is_tolerated():
    with pytest.raises(NotJson):
        parse_submission('{"text": "help"}'.encode("utf-16"), partner_id="ngo-np")
    assert parse_submission(b'\xef\xbb\xbf{"text": "help"}', partner_id="ngo-np").text == "help"


def test_many_bad_strings_give_a_bounded_list_of_errors():
    raw = json.dumps({"text": "help", "junk": ["\x00"] * 5_000}).encode()
    with pytest.raises(InvalidSubmission) as info:
        parse_submission(raw, partner_id="ngo-np")
    assert len(info.value.errors) == MAX_ERRORS


def test_kafka_submissions_get_the_same_rules():
    errors = _errors(b'{"partner_id": "ngo-np", "text": "help", "external_id": "\\ud800", "country_of_work": "XX"}')
    assert errors == {"external_id": "string_unpaired_surrogate", "country_of_work": "country_code"}


def test_what_is_kept_of_a_body_is_bounded():
    small = kept_body(b"abc")
    assert (small.head, small.size, small.truncated) == (b"abc", 3, False) and len(small.sha256 or "") == 64
    big = kept_body(b"x" * 5_000_000)
    assert (len(big.head), big.size, big.truncated) == (MAX_BODY_BYTES, 5_000_000, True)
    cut = kept_body(b"y" * MAX_BODY_BYTES, declared=None, cut_off=True)
    assert (len(cut.head), cut.size, cut.sha256, cut.truncated) == (MAX_BODY_BYTES, None, None, True)


def test_printable_escapes_what_postgresql_and_utf8_cannot_hold():
    assert printable("a\x00b\ud800c\x1b") == "a\\u0000b\\ud800c\\u001b"
    assert printable("x" * 500, 10) == "x" * 10 + "…"
