"""The classifier's mechanics, on the shipped policy and lexicons."""

import pytest

from schemas.models import Urgency
from services.common.settings import REPO_ROOT
from services.triage.classify import Classifier, Ruleset

CLASSIFIER = Classifier(Ruleset.load(REPO_ROOT / "config" / "triage"))


def classify(text, **kw):
    return CLASSIFIER.classify(text, **kw)


def test_evidence_offsets_point_into_the_original_text():
    text = "My boss KEPT MY PASSPORT and hit me yesterday."
    d = classify(text)
    assert d.urgency == Urgency.critical
    assert {"document_retention", "violence_abuse"} <= set(d.categories)
    assert d.evidence and all(text[e.start:e.end] == e.term for e in d.evidence)
    assert d.ruleset.startswith("triage-")


def test_negation_question_and_reported_speech_do_not_raise_urgency():
    assert classify("My employer never hit me, he is kind.").urgency != Urgency.critical
    asked = classify("Can my employer keep my passport? How do I check an agency?")
    assert asked.urgency == Urgency.low and "information_request" in asked.categories
    assert classify("I read that employers keep passports. How do I check an agency?").urgency == Urgency.low


def test_a_negation_does_not_reach_across_a_clause_boundary():
    d = classify("He never paid overtime but yesterday he hit me.")
    assert d.urgency == Urgency.critical


def test_partner_hints_raise_and_never_lower():
    assert classify("He hit me", urgency_hint=Urgency.low).urgency == Urgency.critical
    assert classify("How do I renew my permit?", urgency_hint=Urgency.high).urgency == Urgency.high
    assert classify("How do I renew my permit?", minor_involved=True).urgency == Urgency.high
    assert classify("They keep my passport", minor_involved=True).urgency == Urgency.critical


@pytest.mark.parametrize("text", ["Ажилчид цалингаа авч чадахгүй байна", "ᎠᏂᏴᏫ ᎤᏬᏚᎯ"])
def test_uncovered_language_is_reviewed_and_at_least_high(text):
    d = classify(text)
    assert d.needs_review and d.urgency.rank >= Urgency.high.rank


def test_nothing_recognised_is_high_and_reviewed_never_silently_low():
    d = classify("Please call me back tomorrow about the thing.")
    assert d.needs_review and d.urgency == Urgency.high and not d.evidence


def test_combination_of_signals_escalates():
    d = classify("The agent keeps my passport, I owe him a loan and I am not paid.")
    assert d.urgency == Urgency.critical
    assert any("combination" in r for r in d.reasons)


def test_a_term_inside_a_longer_term_that_is_set_aside_goes_with_it():
    """Egyptian "هيموتني" (he'll kill me) said laughing holds "يموت" (dying): the laugh sets aside the threat,
    and the medical emergency inside it is no reading of its own."""
    laughing = classify("المشرف هيموتني لو اتأخرت دقيقة 😅 بس دي مش المشكلة. عايز أعرف حقوقي")
    assert laughing.urgency != Urgency.critical and laughing.needs_review
    assert not any(e.concept == "medical_emergency" for e in laughing.evidence)
    assert classify("المشرف هيموتني لو اتأخرت").urgency == Urgency.critical  # without the laugh it is a threat


def test_requests_for_information_that_name_a_grave_topic_are_low_and_a_real_case_is_not():
    leaflet = classify("People ask us what to do if a housemaid is kept inside a house. Is there a number they can "
                       "call? We are updating our leaflet.")
    assert leaflet.urgency == Urgency.low and leaflet.needs_review  # a critical word set aside: a person looks
    assert classify("How much does it cost to send money home from Kuwait?").urgency == Urgency.low
    assert classify("Madam keeps me inside the house, I am not allowed out.").urgency == Urgency.critical
    assert classify("The room feels like a prison, 8 of us in one room").urgency == Urgency.medium
