import pytest
from pydantic import ValidationError

from schemas.countries import ISO_3166_1_ALPHA_2
from schemas.models import GrievanceRejected, PartnerSubmission, normalise_text


def test_text_is_nfc_with_whitespace_folded_and_controls_removed():
    decomposed = "Cafe\u0301  \t owner\x07 took   my\r\n\r\n\r\n\r\npassport  "
    assert normalise_text(decomposed) == "Café owner took my\n\npassport"


def test_submission_tolerates_unknown_fields_and_normalises():
    s = PartnerSubmission.model_validate({"text": "  Tôi   bị đánh ", "partner_id": "ngo-np", "crm_field": 1})
    assert s.text == "Tôi bị đánh"
    assert not hasattr(s, "crm_field")


@pytest.mark.parametrize(("field", "value"), [
    ("country_of_work", "Malaysia"), ("language", "English!"), ("partner_id", "NGO NP"), ("text", "   "),
    ("urgency_hint", "urgent"), ("text", "x" * 10_001),
])
def test_submission_rejects_bad_fields(field, value):
    with pytest.raises(ValidationError) as info:
        PartnerSubmission.model_validate({"text": "ok", field: value})
    assert info.value.errors()[0]["loc"] == (field,)


def test_events_are_strict():
    with pytest.raises(ValidationError):
        GrievanceRejected.model_validate({"partner_id": None, "external_id": None, "source_event_id": "x",
                                          "errors": [], "rejected_at": "2026-01-01T00:00:00Z", "extra": 1})


def test_country_codes_are_the_249_assigned_iso_3166_codes():
    assert len(ISO_3166_1_ALPHA_2) == 249 and {"MY", "NP", "AE", "TW", "PS", "XK"} - ISO_3166_1_ALPHA_2 == {"XK"}
    for code in ("XX", "EU", "ZZ", "UK", "AN"):  # user-assigned, reserved, withdrawn
        with pytest.raises(ValidationError) as info:
            PartnerSubmission.model_validate({"text": "ok", "country_of_origin": code})
        assert info.value.errors()[0]["type"] == "country_code"
    schema = PartnerSubmission.model_json_schema()["properties"]["country_of_work"]["anyOf"][0]
    assert schema["enum"] == sorted(ISO_3166_1_ALPHA_2)  # the published contract lists them


@pytest.mark.parametrize(("field", "value", "kind"), [
    ("text", "a\x00b", "string_nul"), ("employer", "a\x00b", "string_nul"),
    ("external_id", "a\x00b", "string_control"), ("external_id", "a\x1bb", "string_control"),
    ("external_id", "a\ud800b", "string_unicode"), ("text", "a\udfffb", "string_unicode"),
])
def test_nul_controls_in_ids_and_surrogates_are_refused_by_the_model(field, value, kind):
    with pytest.raises(ValidationError) as info:
        PartnerSubmission.model_validate({"text": "ok", field: value})
    assert (info.value.errors()[0]["loc"], info.value.errors()[0]["type"]) == ((field,), kind)


def test_lines_drop_control_characters_and_keep_nel_as_a_space():
    s = PartnerSubmission.model_validate({"text": "ok", "employer": "Acme\x01\x9f\x85Ltd"})
    assert s.employer == "Acme Ltd"
