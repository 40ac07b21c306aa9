"""Shrinking the lexicons: terms another term of the same concept already finds.

A term is redundant when a shorter term of the same concept and language matches inside it wherever it
matches ("beaten with" under "beaten", "beating me" under "beat*", Thai "ตบหน้า" under "ตบ"), the words it
adds carry no cue ("not allowed .. doctor" is not "doctor", because a cue inside a term is part of its meaning)
and no term of another concept (any language's): a term inside a longer one carries nothing, so the longer term
is what keeps Thai "เขาหักเงิน" (he deducts money) from reading as "ขาหัก" (a broken leg).
Removing such a term changes the evidence span (the shorter term's) and no urgency or review flag; a category
can still move where a term of another concept overlaps the removed one without lying inside it (in round 8, the
341 terms found changed 9 of 2,985 labelled texts' categories and nothing else), so `grievance eval` on every set
confirms each removal. A maintainer's step:
`grievance triage-lexicon redundant [--remove]`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from services.triage.lexicon import CUE_KINDS, GAP, INDIC, LATIN, Term, _term, script_of


@dataclass(frozen=True)
class Redundant:
    path: Path
    concept: str
    term: str  # as written
    covered_by: str


def _inside(short: str, short_prefix: bool, long: str, long_prefix: bool) -> bool:
    """Whether every match of `long` contains a match of `short` (both folded single parts)."""
    script = script_of(long)
    for m in re.finditer(re.escape(short), long):
        start, end = m.start(), m.end()
        if script not in (LATIN, INDIC):
            return True
        if start and long[start - 1].isalnum():  # the matcher's own word test
            continue
        if script == INDIC or short_prefix:
            return True
        # a whole-word short term must end where a word ends, also when `long` runs on ("hit*" ⊄ "hit")
        if end < len(long):
            if not long[end].isalnum():
                return True
        elif not long_prefix:
            return True
    return False


def _shorter(short: Term, long: Term) -> bool:
    """`short` may cover `long`: fewer characters, or the same word open-ended ("hit*" covers "hit")."""
    a, b = short.parts[0], long.parts[0]
    return len(a) < len(b) or (a == b and short.prefix and not long.prefix)


def _cue_words(files: dict[Path, dict]) -> list[str]:
    return sorted({p for data in files.values() for kind, words in (data.get("cues") or {}).items()
                   if kind in CUE_KINDS for w in words for p in _term(w, kind, "", is_cue=True).parts})


def _carries_cue(long: str, short: str, cues: list[str]) -> bool:
    """Whether the words `long` adds around `short` hold a cue (any language's)."""
    rest = " ".join(long.split(short, 1))
    for cue in cues:
        for m in re.finditer(re.escape(cue), rest):
            if script_of(cue) != LATIN:
                return True
            before = m.start() == 0 or not rest[m.start() - 1].isalnum()
            after = m.end() == len(rest) or not rest[m.end()].isalnum()
            if before and after:
                return True
    return False


def redundant_terms(*directories: Path) -> list[Redundant]:
    """Every redundant term in the lexicon files of these directories, with the term that covers it."""
    files = {path: yaml.safe_load(path.read_text(encoding="utf-8")) or {}
             for where in directories if where.exists() for path in sorted(where.glob("*.yaml"))}
    cues = _cue_words(files)
    concepts = {path: {concept: [_term(w, concept, data["language"], is_cue=False) for w in words]
                       for concept, words in (data.get("terms") or {}).items()} for path, data in files.items()}
    singles = [t for by_concept in concepts.values() for terms in by_concept.values() for t in terms
               if len(t.parts) == 1]
    return [Redundant(path, concept, term, cover)
            for path, by_concept in concepts.items() for concept, terms in by_concept.items()
            for term, cover in _covered(terms, cues, singles)]


def _held(long: Term, others: Sequence[Term]) -> list[Term]:
    """The terms of other concepts inside `long` wherever it matches: while `long` is there, they do not count."""
    word = long.parts[0]
    return [u for u in others if u.kind != long.kind and len(u.parts[0]) < len(word) and u.parts[0] in word
            and _inside(u.parts[0], u.prefix, word, long.prefix)]


def _covered(terms: list[Term], cues: list[str], others: Sequence[Term] = ()) -> list[tuple[str, str]]:
    """(term, the term that covers it) for each redundant term of one concept: a repeat, or a single-part term
    a shorter one finds wherever it matches and that holds every other concept's term the longer one holds."""
    singles = [t for t in terms if len(t.parts) == 1]
    seen: set[tuple[str, bool]] = set()
    out: list[tuple[str, str]] = []
    for t in terms:
        key = (GAP.join(t.parts), t.prefix)
        if key in seen:
            out.append((t.text, t.text))
            continue
        seen.add(key)
        if len(t.parts) != 1:
            continue
        long = t.parts[0]
        candidates = [s for s in singles if s is not t and _shorter(s, t)
                      and _inside(s.parts[0], s.prefix, long, t.prefix) and not _carries_cue(long, s.parts[0], cues)]
        held = _held(t, others) if candidates else []  # once per term: the scan over every other term is the cost
        cover = next((s for s in candidates if all(u.parts[0] in s.parts[0]
                                                   and _inside(u.parts[0], u.prefix, s.parts[0], s.prefix)
                                                   for u in held)), None)
        if cover is not None:
            out.append((t.text, cover.text))
    return out


def remove(redundant: list[Redundant]) -> int:
    """Delete each term from its concept's list in the YAML text (comments and layout kept); returns how many."""
    removed = 0
    by_path: dict[Path, list[Redundant]] = {}
    for r in redundant:
        by_path.setdefault(r.path, []).append(r)
    for path, items in by_path.items():
        text = path.read_text(encoding="utf-8")
        for r in items:
            block = re.search(rf"(?m)^  {re.escape(r.concept)}:.*(?:\n(?!  \S).*)*", text)
            if block is None:
                continue
            body = new = block.group()
            # written "term", 'term' or plain: an item of a flow list, between "[" or "," and "," or "]"
            for item in (re.escape(f'"{r.term}"'), re.escape(f"'{r.term}'"), re.escape(r.term)):
                new = re.sub(rf"(?<=[\[,\s]){item},\s*", "", body, count=1)
                if new == body:
                    new = re.sub(rf",\s*{item}(?=\s*\])", "", body, count=1)
                if new != body:
                    break
            if new != body:
                text = text[:block.start()] + new + text[block.end():]
                removed += 1
        path.write_text(text, encoding="utf-8")
    return removed
