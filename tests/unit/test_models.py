import pytest
from pydantic import ValidationError

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
