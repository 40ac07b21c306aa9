"""The learned second opinion: its features, the committed model's readings of clear cases, and how its
view is weighed against the rules' decision."""

import json
from pathlib import Path

import numpy as np
import pytest

from schemas.models import TriageDecision, Urgency
from services.common.settings import REPO_ROOT
from services.triage.assess import weigh, weigh_all
from services.triage.second_opinion import MODEL_DIR, PARAMS_FILE, WEIGHTS_FILE, SecondOpinion, ngrams

TRIAGE = REPO_ROOT / "config" / "triage"


@pytest.fixture(scope="module")
def model() -> SecondOpinion:
    return SecondOpinion.load(TRIAGE)


# Written for this test, not taken from any labelled set, in the sets' manner (a chat message with its
# greeting and context): plain danger, and everyday questions. Bare one-line statements are outside what
# the model learned from (the labelled messages run to 130–250 characters) and score lower; the README says so.
CRITICAL = [
    "Good evening sir, sorry to disturb you. I am working as housemaid in Jeddah since 8 months. My madam beats"
    " me every day with a stick and she locked me inside the house, I cannot go out, she gives me food only one"
    " time. Please help me, I am scared she will kill me.",
    "Kak tolong saya, saya TKW di Malaysia. Majikan saya pukul saya setiap hari dan saya dikunci di dalam rumah,"
    " tidak boleh keluar. Saya belum makan dari kemarin. Tolong saya kak, saya takut.",
    "Bonjour madame, je suis à Beyrouth depuis un an. Mon patron me frappe, il m enferme dans la maison et garde"
    " mon passeport. Hier il m a menacée de me tuer si je parle. Aidez-moi s il vous plaît.",
    "Hello, my cousin works on a construction site in Dubai. Yesterday he fell from the third floor, his leg is"
    " broken and bleeding a lot but the supervisor refuses to take him to hospital. Please help urgently.",
]
NOT_CRITICAL = [
    "Hello sir, I hope you are fine. I want to ask how many days of annual leave I can take after one year of"
    " work, and if the company must pay my ticket home. Thank you.",
    "Kak, saya mau tanya, kalau kontrak saya habis bulan depan, apakah saya bisa pindah majikan? Terima kasih"
    " banyak.",
    "Bonjour, je voudrais savoir si mon employeur doit me donner un jour de repos par semaine. Merci beaucoup"
    " pour votre aide.",
]


def test_the_committed_model_reads_clear_cases(model: SecondOpinion):
    critical = model.critical_probabilities(CRITICAL)
    calm = model.critical_probabilities(NOT_CRITICAL)
    assert all(p >= model.critical_at for p in critical), critical
    assert all(p < model.critical_at for p in calm), calm
    assert min(critical) > max(calm)


def test_a_texts_probability_does_not_depend_on_its_batch(model: SecondOpinion):
    """The service scores a polled batch, grievance classify one line: both must give the same number."""
    texts = CRITICAL + NOT_CRITICAL + ["", "ក្រុមហ៊ុនមិនបើកប្រាក់ខែ"]
    together = model.critical_probabilities(texts)
    alone = [model.critical_probabilities([t])[0] for t in texts]
    assert together == alone


def test_ngrams_never_span_two_texts():
    f = ngrams(["ab", "cd"], orders=(2, 3), bits=12)
    # "ab" has one 2-gram and no 3-gram; so has "cd": a 2-gram "bc" or a 3-gram "abc" would cross the gap.
    assert f.rows.tolist() == [0, 1]
    assert f.counts.tolist() == [1.0, 1.0]
    alone = ngrams(["cd"], orders=(2, 3), bits=12)
    assert f.buckets[1] == alone.buckets[0]


def test_ngrams_read_scripts_without_spaces_and_ignore_case():
    thai = ngrams(["นายจ้างไม่จ่ายเงินเดือน"], orders=(2, 3, 4), bits=16)
    assert thai.counts[0] == (23 - 1) + (23 - 2) + (23 - 3)
    upper, lower = ngrams(["HELP ME"], (2, 3), 16), ngrams(["help me"], (2, 3), 16)
    assert upper.buckets.tolist() == lower.buckets.tolist()


def test_a_model_file_of_another_format_or_size_is_refused(tmp_path: Path):
    where = tmp_path / MODEL_DIR
    where.mkdir()
    params = json.loads((TRIAGE / MODEL_DIR / PARAMS_FILE).read_text())
    (where / PARAMS_FILE).write_text(json.dumps({**params, "bits": 10}))
    np.savez_compressed(where / WEIGHTS_FILE, weights=np.zeros(1 << 16, dtype=np.float32))
    with pytest.raises(ValueError, match="weights for 10 bits"):
        SecondOpinion.load(tmp_path)
    (where / PARAMS_FILE).write_text(json.dumps({**params, "format": "something-else"}))
    with pytest.raises(ValueError, match="format"):
        SecondOpinion.load(tmp_path)
    assert SecondOpinion.load_if_present(tmp_path / "elsewhere") is None


def decision(urgency: Urgency, review: bool = False) -> TriageDecision:
    return TriageDecision(urgency=urgency, categories=["wages"], indicators=[], iris_principles=[], language="en",
                          needs_review=review, reasons=["language en (script)", "'unpaid' at 3–9: wages → medium"],
                          evidence=[], ruleset="test", summary=f"{urgency.value}: wages unpaid")


@pytest.mark.parametrize(("rules", "p", "urgency", "review"), [
    (Urgency.critical, 0.97, Urgency.critical, False),  # both say critical
    (Urgency.critical, 0.01, Urgency.critical, True),  # the model doubts it: a person looks, critical kept
    (Urgency.low, 0.01, Urgency.low, False),  # both say not critical
    (Urgency.low, 0.60, Urgency.high, True),  # the model says critical: never left below high
    (Urgency.medium, 0.60, Urgency.high, True),
    (Urgency.high, 0.60, Urgency.high, True),  # a disagreement: review, the rules' high kept
    (Urgency.high, 0.97, Urgency.critical, True),  # very confident: raised to critical
    (Urgency.medium, 0.97, Urgency.critical, True),
])
def test_a_disagreement_on_critical_is_reviewed_with_both_views(model: SecondOpinion, rules: Urgency, p: float,
                                                                 urgency: Urgency, review: bool):
    # The cases sit clear of the committed thresholds, so they hold the meaning whatever training moves.
    assert model.not_critical_below > 0.01 and model.critical_at <= 0.6 and model.raise_to_critical_at < 0.97
    assert model.raise_to_critical_at > 0.6
    before = decision(rules)
    after = weigh(before, p, model)
    assert (after.urgency, after.needs_review) == (urgency, review)
    assert after.reasons[:-1] == before.reasons  # the rules' reasons stay, in order
    assert f"critical with probability {p:.2f}" in after.reasons[-1] and model.version in after.reasons[-1]
    assert ("review" in after.reasons[-1]) == review
    assert after.summary.startswith(f"{urgency.value}: ")
    assert before.urgency == rules and before.needs_review is False  # the rules' decision is not changed in place


def test_a_review_the_rules_asked_for_stays(model: SecondOpinion):
    assert weigh(decision(Urgency.high, review=True), 0.01, model).needs_review


def test_weighing_a_batch_uses_each_texts_own_probability(model: SecondOpinion):
    texts = [CRITICAL[0], NOT_CRITICAL[0]]
    weighed = weigh_all([decision(Urgency.low), decision(Urgency.low)], texts, model)
    p = model.critical_probabilities(texts)
    assert [d.urgency for d in weighed] == [weigh(decision(Urgency.low), p[0], model).urgency, Urgency.low]
    assert weighed[0].urgency in (Urgency.high, Urgency.critical) and weighed[0].needs_review
    assert weigh_all([decision(Urgency.low)], texts[:1], None)[0].urgency == Urgency.low
