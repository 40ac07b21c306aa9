from pathlib import Path

from schemas.models import Urgency
from services.triage.classify import Ruleset, classify

RULES = Ruleset.load(Path(__file__).resolve().parents[2] / "config" / "triage" / "baseline.yaml")


def test_passport_and_unpaid_wages_are_high_with_evidence_offsets():
    text = "My boss keeps my PASSPORT and wages withheld since May"
    d = classify(text, RULES, language="en")
    assert d.urgency == Urgency.high
    assert {"document_retention", "wage_theft"} <= set(d.categories)
    assert "retention_of_identity_documents" in d.indicators
    for e in d.evidence:
        assert text[e.start:e.end] == e.term
    assert not d.needs_review and d.ruleset == RULES.version


def test_partner_hints_raise_but_never_lower():
    assert classify("he beat me", RULES, urgency_hint=Urgency.low).urgency == Urgency.critical
    assert classify("question about fees", RULES, urgency_hint=Urgency.high).urgency == Urgency.high
    assert classify("question", RULES, minor_involved=True).urgency == Urgency.critical


def test_text_no_rule_understands_is_flagged_for_review():
    d = classify("ဆရာ ကျွန်တော့်ကို ကူညီပါ", RULES)
    assert d.needs_review and d.categories == ["other"]
