"""Language detection: script, markers, lexicon votes, model."""

import pytest

from schemas.models import Urgency
from services.common.settings import REPO_ROOT
from services.triage.classify import Classifier, Ruleset

CLASSIFIER = Classifier(Ruleset.load(REPO_ROOT / "config" / "triage"))


@pytest.mark.parametrize(("text", "language"), [
    ("นายจ้างไม่จ่ายเงินเดือนสามเดือนแล้ว", "th"),
    ("ami Dubai te kaj kori, amar salary 3 mash dey nai, ki korbo?", "bn"),
    ("malai company le 3 mahina dekhi talab diyena, ke garne hajur?", "ne"),
    ("Majikan gak bayar gaji udah 3 bulan, saya bingung karena anak sakit.", "id"),
    ("Majikan tak bayar gaji dah 3 bulan, saya nak balik kampung.", "ms"),
    ("Je ne suis pas payé depuis trois mois et le patron garde mon passeport.", "fr"),
    ("Toi bi chu giu ho chieu, khong tra luong hai thang roi.", "vi"),
    ("Gaji saya dipotong 2 juta rupiah setiap bulan oleh agensi.", "id"),  # one marker breaks a tie
    ("Mein Chef zahlt mir nicht den Lohn, was soll ich tun?", "de"),  # not English: no lexicon covers it
    ("Agent wa Nairobi alinichaji shilingi 150,000 kwa visa na ticket, na walikuwa wamesema ni bure.", "sw"),
])
def test_the_language_of_a_complaint_is_found(text, language):
    assert CLASSIFIER.classify(text).language == language


def test_a_partner_supplied_language_wins():
    d = CLASSIFIER.classify("He hit me", language="tl")
    assert d.language == "tl" and "partner" in d.reasons[0]


@pytest.mark.parametrize("text, language", [
    ("4 maasam sambalam illa, romba kashtama irukku, naan enna panradhu", "ta"),
    ("Demozie 5 wer alkefelugnim. Madam bukra bicha tilalech, betam dekmognal", "am"),
])
def test_romanised_tamil_and_amharic_are_recognised_and_read(text, language):
    """Their markers name the language, now a covered one: four months without pay is read as withheld wages
    (not reviewed as an unread language)."""
    d = CLASSIFIER.classify(text)
    assert d.language == language and language in CLASSIFIER.rules.lexicon.languages
    assert d.urgency == Urgency.high and "wage_theft" in d.categories
