"""Lexicons (config/triage/lexicons/<language>.yaml) compiled into one Aho-Corasick automaton.

One pass over the folded text finds every term of every language: code-mixed messages ("Taglish",
Malay with English words, romanised Nepali) are read with all their languages at once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import ahocorasick
import yaml

from services.triage.text import fold, is_latin

CUE_KINDS = ("negation", "hypothetical", "reported", "boundary")
GAP = " .. "
GAP_CHARS = 30


@dataclass(frozen=True)
class Term:
    text: str  # as written in the lexicon
    kind: str  # a concept name, or a cue kind
    language: str
    parts: tuple[str, ...]  # folded; more than one for "a .. b"
    prefix: bool  # "word*": the last part may continue into a longer word
    is_cue: bool


@dataclass(frozen=True)
class Hit:
    term: Term
    start: int
    end: int  # exclusive


class Lexicon:
    def __init__(self, terms: list[Term]):
        self.terms = terms
        self.languages = sorted({t.language for t in terms})
        self._automaton = ahocorasick.Automaton()
        keys: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, term in enumerate(terms):
            for j, part in enumerate(term.parts):
                keys[part].append((i, j))
        for key, refs in keys.items():
            self._automaton.add_word(key, (len(key), tuple(refs)))
        self._automaton.make_automaton()

    @classmethod
    def load(cls, directory: Path, concepts: set[str]) -> Lexicon:
        terms: list[Term] = []
        for path in sorted(directory.glob("*.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            language = data["language"]
            for kind, words in (data.get("terms") or {}).items():
                if kind not in concepts:
                    raise ValueError(f"{path.name}: unknown concept {kind!r} (see policy.yaml)")
                terms.extend(_term(w, kind, language, is_cue=False) for w in words)
            for kind, words in (data.get("cues") or {}).items():
                if kind not in CUE_KINDS:
                    raise ValueError(f"{path.name}: unknown cue kind {kind!r}; expected one of {CUE_KINDS}")
                terms.extend(_term(w, kind, language, is_cue=True) for w in words)
        return cls(terms)

    def find(self, folded: str) -> list[Hit]:
        """Every term occurrence, gap terms assembled from their parts."""
        singles: list[Hit] = []
        parts: dict[int, list[tuple[int, int, int]]] = defaultdict(list)  # term → (part, start, end)
        n = len(folded)
        for last, (length, refs) in self._automaton.iter(folded):
            start, end = last - length + 1, last + 1
            latin = is_latin(folded[start])
            for term_index, part_index in refs:
                term = self.terms[term_index]
                if latin:
                    if start > 0 and folded[start - 1].isalnum():
                        continue
                    final = part_index == len(term.parts) - 1
                    if end < n and folded[end].isalnum() and not (final and term.prefix):
                        continue
                if len(term.parts) == 1:
                    singles.append(Hit(term, start, end))
                else:
                    parts[term_index].append((part_index, start, end))
        for term_index, found in parts.items():
            singles.extend(_assemble(self.terms[term_index], found))
        return singles


def _term(text: str, kind: str, language: str, *, is_cue: bool) -> Term:
    raw = str(text).strip()
    prefix = raw.endswith("*")
    parts = tuple(fold(p.strip()) for p in raw.rstrip("*").split(GAP))
    if not all(parts):
        raise ValueError(f"empty term in {language} lexicon: {text!r}")
    return Term(raw, kind, language, parts, prefix, is_cue)


def _assemble(term: Term, found: list[tuple[int, int, int]]) -> list[Hit]:
    by_part: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for part, start, end in found:
        by_part[part].append((start, end))
    spans = [(s, e) for s, e in by_part.get(0, [])]
    for part in range(1, len(term.parts)):
        spans = [(s, e2) for s, e in spans for s2, e2 in by_part.get(part, []) if 0 <= s2 - e <= GAP_CHARS]
    return [Hit(term, s, e) for s, e in spans]
