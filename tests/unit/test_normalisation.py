"""What people type before the terms are matched: invisible characters, letters repeated for emphasis,
politeness particles inside a phrase; offsets still point into the text as given."""

import pytest

from schemas.models import Urgency
from services.common.settings import REPO_ROOT
from services.triage.classify import Classifier, Ruleset
from services.triage.lexicon import Lexicon, _term
from services.triage.text import ZAWGYI_HINT, prepare, zawgyi_to_unicode

CLASSIFIER = Classifier(Ruleset.load(REPO_ROOT / "config" / "triage"))


def lexicon(*terms: tuple[str, str], fillers: dict[str, list[str]] | None = None) -> Lexicon:
    return Lexicon([_term(t, "wage_theft", lang, is_cue=False) for t, lang in terms], fillers)


def found(lex: Lexicon, given: str) -> list[str]:
    text, starts, ends, emphatic = prepare(given)
    out = []
    for h in lex.find(text.lower(), emphatic):
        s, e = (h.start, h.end) if starts is None or ends is None else (starts[h.start], ends[h.end])
        out.append(given[s:e])
    return out


@pytest.mark.parametrize("invisible", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\x01"])
def test_an_invisible_character_inside_a_term_no_longer_hides_it(invisible):
    text = f"My boss kept my pass{invisible}port and hit me"
    d = CLASSIFIER.classify(text)
    assert "document_retention" in d.categories
    assert any(invisible in e.term for e in d.evidence)  # the evidence is the text as given, invisible and all
    assert all(text[e.start:e.end] == e.term for e in d.evidence)


def test_tagalog_politeness_particles_sit_inside_a_phrase():
    with_po = CLASSIFIER.classify("hindi pa po binabayaran ang sahod ko")
    without = CLASSIFIER.classify("hindi pa binabayaran ang sahod ko")
    assert "wage_theft" in with_po.categories and with_po.categories == without.categories
    assert [e.term for e in with_po.evidence] == ["hindi pa po binabayaran"]


def test_a_filler_is_skipped_only_for_its_own_language_and_only_as_a_whole_word():
    lex = lexicon(("hindi pa binabayaran", "tl"), ("gaji tak bayar", "ms"), fillers={"tl": ["po"], "ms": ["lah"]})
    assert found(lex, "hindi pa po binabayaran") == ["hindi pa po binabayaran"]
    assert found(lex, "gaji lah tak bayar") == ["gaji lah tak bayar"]
    assert found(lex, "gaji po tak bayar") == []  # "po" is a Tagalog filler, not a Malay one
    assert found(lex, "hindi pa pot binabayaran") == []  # a word starting with a filler is a word


def test_letters_repeated_for_emphasis_match_the_term():
    lex = lexicon(("please help", "en"), ("passport", "en"))
    assert found(lex, "pleeease help") == ["pleeease help"]
    assert found(lex, "PLEEEEASE HELPPP now") == ["PLEEEEASE HELPPP"]
    assert found(lex, "my passsport") == ["passsport"]  # cut to two: a double letter stays double
    assert found(lex, "pleease help") == []  # two is a spelling, not emphasis: left alone


def test_emphasis_in_a_real_message():
    d = CLASSIFIER.classify("They beeeat me every day")
    assert d.urgency == Urgency.critical and "violence_abuse" in d.categories


@pytest.mark.parametrize("given", ["pleeease\u200b help", "e\u0301\u0301\u0301ee x\u00ad\u00ady", "\u200b", "aaaa",
                                   "क़\u200dक़क़क़ ok", "\ufeff\ufeffhelppp"])
def test_prepared_offsets_map_back_into_the_given_text(given):
    text, starts, ends, _ = prepare(given)
    assert "\u200b" not in text and "\u00ad" not in text and "\ufeff" not in text
    if starts is None or ends is None:
        assert text == given
        return
    assert len(starts) == len(ends) == len(text) + 1 and starts[-1] == ends[-1] == len(given)
    for i in range(len(text)):
        for j in range(i + 1, len(text) + 1):
            assert 0 <= starts[i] < ends[j] <= len(given)


# Zawgyi → Unicode pairs, written by hand from the two encodings' code charts.
ZAWGYI_PAIRS = [
    ("\u1021\u102d\u1019\u1039\u101b\u103d\u1004\u1039", "\u1021\u102d\u1019\u103a\u101b\u103e\u1004\u103a"),  # အိမ်ရှင်
    ("\u1031\u101e\u102c\u1037\u1001\u1010\u1039", "\u101e\u1031\u102c\u1037\u1001\u1010\u103a"),  # သော့ခတ်
    ("\u1021\u103b\u1015\u1004\u1039", "\u1021\u1015\u103c\u1004\u103a"),  # အပြင်
    ("\u1000\u103a\u1019", "\u1000\u103b\u1019"),  # ကျမ
    ("\u1019\u1031\u1015\u1038", "\u1019\u1015\u1031\u1038"),  # မပေး
    ("\u1031\u103b\u1015\u102c", "\u1015\u103c\u1031\u102c"),  # ပြော
    ("\u1011\u1019\u1004\u1039\u1038", "\u1011\u1019\u1004\u103a\u1038"),  # ထမင်း
    ("\u1015\u1010\u1039\u1005\u1015\u102d\u102f\u1094", "\u1015\u1010\u103a\u1005\u1015\u102d\u102f\u1037"),  # ပတ်စပို့
    ("\u1021\u1019\u1031\u1014\u1094 \u1019\u1031\u1014\u1094",
     "\u1021\u1019\u1014\u1031\u1037 \u1019\u1014\u1031\u1037"),  # အမနေ့ မနေ့: two syllables with e
]


@pytest.mark.parametrize(("zawgyi", "unicode"), ZAWGYI_PAIRS)
def test_zawgyi_is_converted_to_unicode(zawgyi, unicode):
    converted, starts, ends = zawgyi_to_unicode(zawgyi, CLASSIFIER.rules.zawgyi)
    assert converted == unicode
    assert len(starts) == len(ends) == len(converted) + 1 and starts[-1] == ends[-1] == len(zawgyi)


def test_zawgyi_burmese_is_read_and_its_evidence_is_the_text_as_typed():
    text = ("\u1021\u102d\u1019\u1039\u101b\u103d\u1004\u1039\u1000 \u1000\u103a\u1019\u1000\u102d\u102f "
            "\u101b\u102d\u102f\u1000\u1039\u1010\u101a\u1039\u104b \u1021\u102d\u1019\u1039\u1000\u102d\u102f "
            "\u1031\u101e\u102c\u1037\u1001\u1010\u1039\u1011\u102c\u1038\u1001\u1032\u1037\u1010\u101a\u1039\u104b")
    assert ZAWGYI_HINT.search(text)
    d = CLASSIFIER.classify(text)
    assert d.urgency == Urgency.critical and "restriction_of_movement" in d.categories
    assert any("Zawgyi" in r for r in d.reasons)
    assert all(text[e.start:e.end] == e.term for e in d.evidence)


def test_unicode_burmese_shows_no_sign_of_zawgyi():
    unicode = "".join(u for _, u in ZAWGYI_PAIRS)
    assert ZAWGYI_HINT.search(unicode) is None
    assert not any("Zawgyi" in r for r in CLASSIFIER.classify(unicode).reasons)


@pytest.mark.parametrize(("text", "category"), [
    ("the company kept our pasports since we landed", "document_retention"),  # a letter left out
    ("company not pay my salery 4 month", "wage_theft"),  # a vowel for another
    ("they confiscated my passprt last year", "document_retention"),
])
def test_a_one_letter_misspelling_of_a_long_word_is_read_as_the_word(text, category):
    d = CLASSIFIER.classify(text)
    assert category in d.categories
    assert all(text[e.start:e.end] == e.term for e in d.evidence)  # the evidence is the word as misspelt


@pytest.mark.parametrize("text", ["I was sacked last week and want my final pay", "Where do I buy a hanger?"])
def test_a_misspelling_that_is_another_word_is_not_read(text):
    # "sacked" is one letter from "smacked", "hanger" one vowel from "hunger": both words of their own
    assert not {"violence_abuse", "living_conditions"} & set(CLASSIFIER.classify(text).categories)


def test_every_shipped_term_finds_a_text_that_says_it():
    """A term is read as a text is (NFC, no invisible characters, letter runs cut to two): one written with a run
    of three ("kkk*", "ههه"), decomposed accents or a pasted zero-width space would otherwise never match anything,
    silently. Each term's words, typed as a message, must find that term."""
    lex = CLASSIFIER.rules.lexicon
    dead = []
    for term in lex.terms:
        text, _, _, emphatic = prepare(" ".join(term.parts))
        if not any(h.term is term for h in lex.find(text.lower(), emphatic)):
            dead.append((term.language, term.kind, term.text))
    assert not dead, dead


@pytest.mark.parametrize("written, typed", [("kkk*", "kkkkk"), ("giu\u0301p*", "giup"), ("pa\u200bsport", "pasport"),
                                            ("ههه", "هههههه")])
def test_a_term_written_oddly_is_read_as_a_text_is(written, typed):
    assert found(lexicon((written, "en")), f"x {typed} y") == [typed]
