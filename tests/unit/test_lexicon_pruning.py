"""Finding and removing lexicon terms that another term of the same concept already finds."""

from pathlib import Path

import yaml

from services.triage.lexicon_pruning import redundant_terms, remove

LEXICON = """# a comment that must survive
language: en
terms:
  physical_violence: ["beaten", "beaten with", "beat*", "beating me", "hit", "hit*", "hitting",
    slapped her, 'slapped']
  medical_emergency: ["took him", "no one took him", "bleeding", "not .. bleeding"]
  confinement: ["ขังไว้ในห้อง", "ขัง", "locked"]
cues:
  negation: ["no one", "not"]
"""


def found(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "en.yaml").write_text(LEXICON, encoding="utf-8")
    return {r.term: r.covered_by for r in redundant_terms(tmp_path)}


def test_a_longer_term_under_a_shorter_one_of_its_concept_is_redundant(tmp_path: Path):
    r = found(tmp_path)
    assert r["beaten with"] == "beaten"
    assert r["beaten"] == "beat*"
    assert r["hit"] == "hit*"  # the same word, open-ended
    assert r["beating me"] == "beat*"
    assert r["slapped her"] == "slapped"
    assert r["ขังไว้ในห้อง"] == "ขัง"  # Thai matches anywhere: a substring is enough


def test_run_on_words_gaps_and_cues_keep_a_term(tmp_path: Path):
    r = found(tmp_path)
    assert "hit*" not in r  # "hitting" is not a match of the whole word "hit"
    assert "hitting" in r and r["hitting"] == "hit*"
    assert "no one took him" not in r  # its extra words are a negation: part of the term's meaning
    assert "not .. bleeding" not in r  # gap terms are left alone
    assert not {"beat*", "hit*", "slapped", "ขัง", "locked"} & set(r)


def test_removing_keeps_comments_and_every_other_term(tmp_path: Path):
    (tmp_path / "en.yaml").write_text(LEXICON, encoding="utf-8")
    found_terms = redundant_terms(tmp_path)
    assert remove(found_terms) == len(found_terms)
    text = (tmp_path / "en.yaml").read_text(encoding="utf-8")
    assert text.startswith("# a comment that must survive")
    data = yaml.safe_load(text)
    assert data["terms"]["physical_violence"] == ["beat*", "hit*", "slapped"]
    assert data["terms"]["confinement"] == ["ขัง", "locked"]
    assert data["terms"]["medical_emergency"] == ["took him", "no one took him", "bleeding", "not .. bleeding"]
    assert redundant_terms(tmp_path) == []


def test_terms_with_regex_signs_quotes_and_other_scripts_are_removed_exactly(tmp_path: Path):
    """A maintainer's term may hold regex signs ("(+", "?"), a quote or a zero-width joiner: each is matched as
    text, never as a pattern, and only the redundant item goes."""
    (tmp_path / "xx.yaml").write_text(
        'language: en\nterms:\n'
        '  threat: ["c++ (night)?", "c++ (night)? shift", "it\'s", "it\'s over", "a.b", "axb c"]\n'
        "  distress: ['کمک', 'کمک\u200dکن']\n", encoding="utf-8")
    found = {r.term: r.covered_by for r in redundant_terms(tmp_path)}
    assert found == {"c++ (night)? shift": "c++ (night)?", "it's over": "it's", "کمک\u200dکن": "کمک"}
    assert remove(redundant_terms(tmp_path)) == 3
    data = yaml.safe_load((tmp_path / "xx.yaml").read_text(encoding="utf-8"))
    assert data["terms"] == {"threat": ["c++ (night)?", "it's", "a.b", "axb c"], "distress": ["کمک"]}


def test_a_term_that_holds_another_concepts_term_is_kept(tmp_path: Path):
    """Thai "เขาหักเงิน" (he deducts money) is under "หักเงิน" of its concept, but it also holds "ขาหัก" (a broken
    leg): a term inside a longer one carries nothing, so removing the longer term would read a broken leg."""
    (tmp_path / "th.yaml").write_text('language: th\nterms:\n  deductions: ["เขาหักเงิน", "หักเงิน", "หักเงินเดือน"]\n'
                                      '  medical_emergency: ["ขาหัก"]\n', encoding="utf-8")
    r = {x.term: x.covered_by for x in redundant_terms(tmp_path)}
    assert "เขาหักเงิน" not in r
    assert r["หักเงินเดือน"] == "หักเงิน"  # holds no other concept's term: still redundant


def test_regex_signs_and_pasted_invisible_characters_do_not_fool_the_check(tmp_path: Path):
    """Another concept's term with regex signs is looked for literally; a term pasted with a zero-width space or a
    NUL is the same term as typed: a repeat, or under the shorter term that covers the typed one."""
    (tmp_path / "xx.yaml").write_text('language: en\nterms:\n'
                                      '  excessive_hours: ["c++ night shift", "night shift", "on call\\u200b duty", '
                                      '"on call duty", "nig\\x00ht shift y"]\n'
                                      '  threat: ["c++", "n.ght"]\n', encoding="utf-8")
    r = {x.term: x.covered_by for x in redundant_terms(tmp_path)}
    assert "c++ night shift" not in r  # holds "c++", which "night shift" does not
    assert r["on call duty"] == "on call duty" and "on call\u200b duty" not in r  # the second is a repeat
    # read as "night shift y", under "night shift"; "n.ght" is no pattern that it would hold and be kept for
    assert r["nig\x00ht shift y"] == "night shift"
