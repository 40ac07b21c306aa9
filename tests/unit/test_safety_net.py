"""The safety net for critical meaning: indirect and plain-word danger, distress without a named danger,
languages no lexicon covers, and negation kept to its own clause."""

import pytest

from schemas.models import Urgency
from services.common.settings import REPO_ROOT
from services.triage.classify import Classifier, Ruleset
from services.triage.lexicon import Lexicon, _term

CLASSIFIER = Classifier(Ruleset.load(REPO_ROOT / "config" / "triage"))


@pytest.mark.parametrize("text", [
    "sir company not pay salary 4 month. i dont want to wake up tomorrow. please tell my mother i am sorry",
    "ya no puedo mas, 4 meses sin cobrar. dile a mi mama q me perdone",
    "pagod na ko ate, 3 months walang sahod. parang ayoko na gumising bukas",
    "em met qua roi, cty tru luong moi thang. em khong muon thuc day nua",
    "kak aku udah capek. mending aku gak usah bangun lagi besok",
    "bhai ab aur nahi hota, salary nahi mili. kal subah uthne ka mann nahi hai",
    "เหนื่อยมากแล้วค่ะ หนี้นายหน้ายังไม่หมด ไม่อยากตื่นขึ้นมาอีกแล้ว",
    "يا أخوي تعبت خلاص، الكفيل ماسك الجواز. قول لأمي تسامحني",
    "ana ta3bene ktir, el passport ma3 el madame. ma ba2a badde fi2 bokra",
])
def test_indirect_self_harm_is_critical(text):
    d = CLASSIFIER.classify(text)
    assert d.urgency == Urgency.critical and "self_harm" in d.categories


@pytest.mark.parametrize(("text", "category"), [
    ("bro my hand got caught in the machine, i can see the bone. supervisor say continue working", "health_access"),
    ("Since Sunday they have not given me any food, I am only drinking water from the tap", "living_conditions"),
    ("they lock the gate and take the key when they go out, we stay inside 3 weeks now", "restriction_of_movement"),
    ("Mi compañero se cayó del tractor y se abrió la cabeza, está vomitando", "health_access"),
    ("madame 2afalet 3layye el bab w ra7et, ma fi akl bel bet", "restriction_of_movement"),
    ("they lock the dormitory at night", "restriction_of_movement"),
])
def test_danger_in_plain_words_is_critical(text, category):
    d = CLASSIFIER.classify(text)
    assert d.urgency == Urgency.critical and category in d.categories


def test_distress_without_a_named_danger_is_high_and_reviewed():
    d = CLASSIFIER.classify("please save me, I don't know where to go")
    assert d.urgency == Urgency.high and d.needs_review and "distress" in " ".join(d.reasons)


@pytest.mark.parametrize(("text", "language"), [
    ("Der Chef hat unsere Pässe und schließt abends das Tor zur Unterkunft ab. Er hat einen Kollegen geschlagen.",
     "de"),
    ("nimechoka sana. miezi 4 bila mshahara. mwambie mama anisamehe, sitaki kuamka kesho", "sw"),
    ("මැඩම් මට ගැහුවා, දැන් කාමරේ අගුලු දාලා. කෑම දෙන්නේ නැහැ.", "si"),
])
def test_danger_in_an_uncovered_language_is_critical_and_reviewed(text, language):
    d = CLASSIFIER.classify(text)
    assert d.language == language and "no lexicon covers it" in d.reasons[0]
    assert d.urgency == Urgency.critical and d.needs_review


@pytest.mark.parametrize(("text", "language"), [
    ("Frage: Darf mein Arbeitgeber meinen Ausweis behalten? Ich will es nur wissen.", "de"),
    ("මගේ පාස්පෝට් එක ආපහු ගන්න පුළුවන්ද? තොරතුරු විතරයි ඕනේ.", "si"),
])
def test_an_uncovered_language_without_danger_words_is_high_and_reviewed(text, language):
    d = CLASSIFIER.classify(text)
    assert d.language == language and d.urgency == Urgency.high and d.needs_review


def test_a_safety_net_language_is_not_covered():
    terms = [_term("geschlagen", "physical_violence", "de", is_cue=False, covers=False),
             _term("beaten", "physical_violence", "en", is_cue=False)]
    assert Lexicon(terms).languages == ["en"]


def test_a_negation_stays_in_its_clause():
    d = CLASSIFIER.classify("Nobody beats us, they lock the gate at night and take the key.")
    assert d.urgency == Urgency.critical and "restriction_of_movement" in d.categories
    assert "violence_abuse" not in d.categories


def test_reported_speech_still_frames_the_clause_after_a_comma():
    d = CLASSIFIER.classify("I heard that in Kuwait, maids are locked in. How do I check an agency?")
    assert d.urgency == Urgency.low


@pytest.mark.parametrize("text", [
    "Hakuna mtu ananipiga, chakula kipo. Shida ni kwamba agency imeshika passport yangu.",
    "Niemand schlägt uns, Essen gibt es auch. Aber die Agentur hat meinen Pass behalten.",
])
def test_a_safety_net_word_can_be_negated(text):
    d = CLASSIFIER.classify(text)
    assert d.urgency == Urgency.high and d.needs_review and "violence_abuse" not in d.categories


@pytest.mark.parametrize(("text", "urgency", "category"), [
    # "مارا" (struck) inside "ہمارا" (our) is no beating
    ("ہمارا کفیل اچھا ہے، بس تین مہینے سے تنخواہ نہیں ملی", "high", "wage_theft"),
    ("کفیل نے کل مجھے لوہے کی راڈ سے مارا", "critical", "violence_abuse"),
    ("O patrão não paga o salário há três meses", "high", "wage_theft"),
])
def test_languages_once_safety_nets_are_read_in_full(text, urgency, category):
    d = CLASSIFIER.classify(text)
    assert d.urgency == Urgency(urgency) and category in d.categories and d.language in ("ur", "pt")
    assert d.language in CLASSIFIER.rules.lexicon.languages
