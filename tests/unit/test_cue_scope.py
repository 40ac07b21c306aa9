"""How cues scope concept terms, on a toy lexicon so the mechanics are tested apart from the shipped words."""

from pathlib import Path

import pytest
import yaml

from schemas.models import Urgency
from services.common.settings import REPO_ROOT
from services.triage.classify import Classifier, Ruleset
from services.triage.language import Detected

TOY = {
    "language": "en",
    "terms": {"physical_violence": ["hits me", "beat*"], "threat_to_life": ["kill me"],
              "wage_withholding": ["salary .. late"], "document_retention": ["holds my passport"],
              "feedback": ["thank you"], "unpaid_overtime": ["overtime salary is late"]},
    "cues": {"negation": ["never", "no one"], "negation_after": ["no more"], "hypothetical": ["can he"],
             "reported": ["i read"], "resolved": ["gave it back", "is paid now"], "jest": ["haha*", "😂"],
             "over": ["that is over"],
             "boundary": ["but"]},
}


class _English:
    def detect(self, text, hint=None, votes=None, markers=None):
        return Detected("en", "latin", "model")


@pytest.fixture(scope="module")
def classify(tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("triage")
    (root / "lexicons").mkdir()
    (root / "policy.yaml").write_text((REPO_ROOT / "config" / "triage" / "policy.yaml").read_text())
    (root / "lexicons" / "en.yaml").write_text(yaml.safe_dump(TOY))
    return Classifier(Ruleset.load(root), detector=_English()).classify


def test_a_term_counts_with_no_cue(classify):
    d = classify("My boss hits me every day.")
    assert d.urgency == Urgency.critical and [e.term for e in d.evidence] == ["hits me"]


def test_a_negation_before_the_term_sets_it_aside_and_asks_for_review(classify):
    d = classify("My boss never hits me.")
    assert d.urgency != Urgency.critical and d.needs_review and not d.evidence
    assert any("not counted: negation" in r for r in d.reasons)


def test_a_negation_does_not_cross_a_boundary_word_or_punctuation(classify):
    assert classify("He never paid overtime but he hits me.").urgency == Urgency.critical
    assert classify("No one helps. He hits me.").urgency == Urgency.critical


def test_a_negation_after_the_term_sets_it_aside_within_its_window(classify):
    assert classify("He hits me no more, he is kind.").urgency != Urgency.critical
    far = classify("He hits me and the whole family knows, and no more can be said.")
    assert far.urgency == Urgency.critical


def test_a_hypothetical_turns_into_a_request_for_information(classify):
    d = classify("Can he holds my passport?")
    assert d.urgency == Urgency.low and "information_request" in d.categories


def test_a_resolved_matter_in_the_same_clause_is_set_aside(classify):
    d = classify("Thank you, my salary was late and it is paid now.")
    assert d.urgency == Urgency.low and d.categories == ["other"]
    assert classify("My salary is late. The agent gave it back to my friend.").urgency == Urgency.high
    assert classify("My salary is paid now but the agent holds my passport.").urgency == Urgency.high


def test_reported_speech_frames_its_whole_clause(classify):
    d = classify("I read that in many houses in this city the employer holds my passport, is it true?")
    assert d.urgency == Urgency.low and "information_request" in d.categories and not d.evidence
    assert classify("I read that in many houses. He holds my passport").evidence


def test_a_resolved_cue_does_not_reach_a_danger_in_another_clause(classify):
    d = classify("The agent gave it back but he beat me yesterday.")
    assert d.urgency == Urgency.critical


def test_a_settled_danger_in_the_resolved_clause_is_set_aside_and_still_reviewed(classify):
    d = classify("Thank you, the man who beat me is paid now and gone.")
    assert d.urgency == Urgency.low and d.needs_review and not any(e.concept == "physical_violence" for e in d.evidence)


def test_a_prefix_terms_evidence_is_the_whole_word(classify):
    d = classify("They beat me and beating continues.")
    assert [e.term for e in d.evidence] == ["beat", "beating"]
    assert all(d.reasons)


def test_a_term_inside_a_longer_term_of_another_concept_gives_way(classify):
    d = classify("My overtime salary is late again.")
    assert d.urgency == Urgency.medium and [e.concept for e in d.evidence] == ["unpaid_overtime"]


def test_a_laugh_sets_aside_hyperbole_in_its_sentence_and_a_person_still_reads_it(classify):
    d = classify("My boss will kill me if I am late again hahaha 😂 he is like that")
    assert d.urgency != Urgency.critical and d.needs_review and not d.evidence
    assert any("not counted: jest" in r for r in d.reasons)
    assert classify("😂 ok, kill me if you want").urgency != Urgency.critical  # before the term too


def test_a_laugh_never_sets_aside_violence_nor_reaches_past_its_sentence(classify):
    assert classify("haha he hits me every night").urgency == Urgency.critical
    assert classify("Funny video haha. Now he says he will kill me.").urgency == Urgency.critical
    far = "He said he will kill me" + ", and" * 20 + " haha"
    assert classify(far).urgency == Urgency.critical  # beyond the jest window


def test_a_past_matter_said_to_be_over_is_set_aside_back_across_but_and_still_reviewed(classify):
    d = classify("He hits me when I came, but that is over now. He holds my passport.")
    assert d.urgency == Urgency.high and d.needs_review
    assert [e.concept for e in d.evidence] == ["document_retention"]


def test_over_reaches_forward_only_in_its_clause_and_never_past_its_sentence(classify):
    assert classify("That is over, but now he hits me.").urgency == Urgency.critical
    assert classify("He hits me. That is over for the others.").urgency == Urgency.critical
