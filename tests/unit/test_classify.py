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
