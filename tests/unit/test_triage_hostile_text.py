"""Whatever reaches triage (NUL, refused at intake but possible in a replayed or older event; other control and
format characters, astral symbols, Zawgyi-looking Burmese, mixed scripts, long runs), triage with its second opinion
answers with a decision: no exception, evidence inside the text as given, a probability in [0, 1], and a text
it cannot read at least `high` and reviewed (a worker's message must never stop silently or come out `low`)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.models import Urgency
from services.common.settings import REPO_ROOT
from services.triage.assess import weigh_all
from services.triage.classify import Classifier, Ruleset
from services.triage.evaluation import load_examples
from services.triage.second_opinion import SecondOpinion
from services.triage.text import FOLD, fold

TRIAGE = REPO_ROOT / "config" / "triage"
CLASSIFIER = Classifier(Ruleset.load(TRIAGE))
MODEL = SecondOpinion.load(TRIAGE)

# Text as the contract admits it: any code point but unpaired surrogates (the model refuses those at intake).
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=400)
HOSTILE = [
    "\x00" * 50, "my boss\x00 hit me\x00", "\u200b\u200c\u200d\ufeff\u00ad" * 40, "💀🔒🍞" * 100,
    "ဆရာ ကၽြန္ေတာ္ကို ရိုက္တယ္ ျပန္ခြင့္မေပးဘူး",  # Zawgyi-looking
    "pasport\u202e kept \u202c by employer", "a" * 20_000, "ب" * 20_000 + " help",
    "\r\n\t\x0b\x0c" * 200, "x\u0301\u0301\u0301\u0301" * 300,
]


def check(texts: list[str]) -> None:
    decisions = weigh_all([CLASSIFIER.classify(t) for t in texts], texts, MODEL)
    probabilities = MODEL.critical_probabilities(texts)
    for text, d, p in zip(texts, decisions, probabilities, strict=True):
        assert 0.0 <= float(p) <= 1.0 and not math.isnan(float(p)), (text[:40], p)
        assert all(0 <= e.start < e.end <= len(text) for e in d.evidence), (text[:40], d.evidence)
        if not d.evidence:  # nothing read: never below high, always for a person to look at
            assert d.urgency.rank >= Urgency.high.rank and d.needs_review, (text[:40], d)


def test_hostile_texts_get_a_decision():
    check(HOSTILE)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ANY_TEXT, min_size=1, max_size=8))
def test_any_text_the_contract_admits_gets_a_decision(texts):
    check(texts)


def test_folding_maps_every_code_point_as_its_table_says():
    """The fast fold (a string indexed by code point) is the fold table for every code point, astral and
    unassigned ones included, lone surrogates too: one character to one, offsets never shift."""
    every = "".join(map(chr, range(0x110000))) + "É"  # É: a foldable letter, so the table path is taken
    folded = fold(every)
    assert len(folded) == len(every) and folded == every.translate(FOLD)


# Real messages (the development sets, every language and script, two typed in Zawgyi), with NUL, zero-width,
# soft-hyphen, BOM and bell characters pasted anywhere: a copied or forwarded message carries them.
MESSAGES = [ex.text for name in ("triage_dev7", "triage_dev8")
            for ex in load_examples(REPO_ROOT / "tests" / "data" / name)]
PASTED = ["\x00", "\u200b", "\u200d", "\u00ad", "\ufeff", "\u2060", "\x07"]


def pasted_into(text: str, inserts: list[tuple[int, str]]) -> str:
    for at, ch in sorted(inserts, reverse=True):
        text = text[:at] + ch + text[at:]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_invisible_characters_pasted_anywhere_change_no_decision(data):
    text = data.draw(st.sampled_from(MESSAGES))
    inserts = data.draw(st.lists(st.tuples(st.integers(0, len(text)), st.sampled_from(PASTED)), min_size=1, max_size=6))
    hostile = pasted_into(text, inserts)
    clean, dirty = CLASSIFIER.classify(text), CLASSIFIER.classify(hostile)
    assert (dirty.urgency, dirty.needs_review) == (clean.urgency, clean.needs_review), (hostile, dirty.reasons)
    assert all(hostile[e.start:e.end] == e.term for e in dirty.evidence)


def test_a_zero_width_character_inside_a_zawgyi_syllable_is_dropped_not_read():
    """A Zawgyi message about sending money home, with word joiners pasted inside its syllables, read as "no food"
    (critical) when the marks after a joiner made a syllable of their own."""
    zawgyi = next(t for t in MESSAGES if t.startswith("မေလးရွားကေန"))
    hostile = pasted_into(zawgyi, [(36, "\u2060"), (60, "\u200b"), (88, "\x07")])  # 36: inside "ခ်င္"
    assert CLASSIFIER.classify(hostile).urgency == CLASSIFIER.classify(zawgyi).urgency == Urgency.low
