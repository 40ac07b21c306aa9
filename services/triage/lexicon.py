"""Lexicons (config/triage/lexicons/<language>.yaml) compiled into one Aho-Corasick automaton.

One pass over the folded text finds every term of every language: code-mixed messages ("Taglish",
Malay with English words, romanised Nepali) are read with all their languages at once.
Latin-script terms match whole words ("word*" may run on); Devanagari and Bengali terms start a word and
may run on into its endings; Thai, Khmer and Burmese (no spaces between words) and Arabic (prefixes
written on to the word) match anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import yaml
from ahocorasick_rs import AhoCorasick, MatchKind

from services.triage.text import fold, prepare

MARKER = "marker"  # a word that tells which language a text is in (language_markers.yaml), nothing else
MARKERS_FILE = "language_markers.yaml"
FILLERS_FILE = "fillers.yaml"
# Danger words in languages no lexicon covers (safety_net/<language>.yaml): a text in such a language is still
# read by a person, but one that says someone is beaten, locked in or bleeding is critical until then.
SAFETY_NET_DIR = "safety_net"
LATIN, INDIC, OTHER, LATIN_STARTED, MISSPELT = 0, 1, 2, 3, 4  # how a key bounds its matches (see Lexicon)
SHORT_KEY = 3
WORD_STARTS = (" ", "\n", "\t", "(", '"', "'", "/", "-", "*", "¿", "¡", "[", "«")
CUE_KINDS = ("negation", "negation_after", "hypothetical", "reported", "resolved", "jest", "over", "boundary")
GAP = " .. "
GAP_CHARS = 30


@dataclass(frozen=True, slots=True)
class Term:
    text: str  # as written in the lexicon
    kind: str  # a concept name, or a cue kind
    language: str
    parts: tuple[str, ...]  # folded; more than one for "a .. b"
    prefix: bool  # "word*": the last part may continue into a longer word
    is_cue: bool
    covers: bool = True  # False for a safety-net term or a marker: its language is still not covered


class Hit(NamedTuple):  # a tuple: texts make many of these, and tuples are the cheapest to make
    term: Term
    start: int
    end: int  # exclusive


class Lexicon:
    def __init__(self, terms: list[Term], fillers: dict[str, list[str]] | None = None):
        self.terms = terms
        # Per language, a pattern for its fillers (with the spaces after them).
        # The reading without fillers is matched only with that language's terms of more than one word (in
        # Thai, Khmer, Burmese: every term): a much smaller automaton, so a Tagalog "po" costs little.
        self._fillers = [(language, pattern, Lexicon([t for t in terms if t.language == language and (
                              len(t.parts) > 1 or " " in t.parts[0] or not _is_latin(t.parts[0][0]))]))
                         for language, words in sorted((fillers or {}).items())
                         if words and (pattern := _filler_pattern(words)) is not None]
        # A filler can only split a phrase with a word on each side: " po " (or " po" at a line's end). One
        # search without word-boundary tests, so a text with none costs almost nothing.
        probes = sorted({f for words in (fillers or {}).values() for w in words
                         if (f := as_read(w))}, key=len, reverse=True)
        latin = "|".join(re.escape(f) for f in probes if _is_latin(f[0]))
        other = "|".join(re.escape(f) for f in probes if not _is_latin(f[0]))
        self._filler_probe = re.compile("|".join(([f" (?:{latin})[ \n]"] if latin else [])
                                                 + ([f"(?:{other})"] if other else []))) if probes else None
        self.languages = sorted({t.language for t in terms if t.covers})  # the languages the rules cover
        # Per key: the terms it completes, split by whether the match may run on into a longer word
        # ("word*"). A gap term is looked at only when its last part matches, so a frequent first part
        # ("no .. paid") costs nothing until the rest of the term turns up.
        refs: dict[str, tuple[list[Term], list[Term]]] = {}
        inner: set[str] = set()
        for term in terms:
            inner.update(term.parts[:-1])  # an inner part must be found, though it completes nothing
            refs.setdefault(term.parts[-1], ([], []))[1 if term.prefix else 0].append(term)
        # A short Latin-script key ("y", "no", "ot") is stored after each character that may start a word
        # (" no", "\nno", "(no"), the text being read after a space: its many matches inside longer words
        # ("no" in "know") are then never found, rather than found and thrown away one by one.
        keys: dict[str, tuple] = {}  # each key of the automaton, with what a match of it means
        for key in sorted(inner | set(refs)):
            bounded, open_ended = refs.get(key, ((), ()))
            script = script_of(key)
            if script == LATIN and len(key) <= SHORT_KEY and key[0].isalnum():
                value = (key, len(key), LATIN_STARTED, key in inner, tuple(bounded) + tuple(open_ended),
                         tuple(open_ended))
                for before in WORD_STARTS:
                    keys[before + key] = value
                continue
            keys[key] = (key, len(key), script, key in inner, tuple(bounded) + tuple(open_ended), tuple(open_ended))
        # A one-letter misspelling of a long word of the English and French terms ("pasport", "salery") is a key
        # too: found at no cost, it has the text read again with the word spelt right.
        for variant, word in _misspellings(terms, set(refs) | inner).items():
            keys[variant] = (word, len(variant), MISSPELT, False, (), ())
        # ahocorasick_rs hands back a whole text's matches as one list (a Rust loop), which is about twice as
        # fast as a Python iterator over pyahocorasick's.
        self._values = list(keys.values())
        self._automaton = AhoCorasick(list(keys), matchkind=MatchKind.Standard) if keys else None

    @classmethod
    def load(cls, directory: Path, concepts: set[str], markers: Path | None = None,
             fillers: Path | None = None, safety_net: Path | None = None) -> Lexicon:
        terms: list[Term] = []
        for covers, where in ((True, directory), (False, safety_net)):
            for path in sorted(where.glob("*.yaml")) if where is not None and where.exists() else ():
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                language = data["language"]
                for kind, words in (data.get("terms") or {}).items():
                    if kind not in concepts:
                        raise ValueError(f"{path.name}: unknown concept {kind!r} (see policy.yaml)")
                    terms.extend(_term(w, kind, language, is_cue=False, covers=covers) for w in words)
                for kind, words in (data.get("cues") or {}).items():
                    if kind not in CUE_KINDS:
                        raise ValueError(f"{path.name}: unknown cue kind {kind!r}; expected one of {CUE_KINDS}")
                    terms.extend(_term(w, kind, language, is_cue=True, covers=covers) for w in words)
        if markers is not None and markers.exists():
            for language, words in (yaml.safe_load(markers.read_text(encoding="utf-8")) or {}).items():
                # a language known only by its markers is recognised, not covered (romanised Tamil, Amharic)
                terms.extend(_term(w, MARKER, language, is_cue=True, covers=False) for w in words)
        found: dict[str, list[str]] = {}
        if fillers is not None and fillers.exists():
            for language, words in (yaml.safe_load(fillers.read_text(encoding="utf-8")) or {}).items():
                found[str(language)] = [str(w) for w in words or ()]
        return cls(terms, found)

    def find(self, folded: str, emphatic: tuple[int, ...] = ()) -> list[Hit]:
        """Every term occurrence; Latin-script terms only on word boundaries (a "word*" may run on).

        Also found: a term whose words are split by a filler of its language ("hindi pa po binabayaran"),
        and one typed with a letter repeated for emphasis ("helppp", cut to "helpp" by `prepare`: `emphatic`
        says where) read with that letter once. Those are found in a second reading of the text without the
        fillers or the doubled letter, mapped back to the text's offsets; only the text with fillers or
        emphasis pays for it."""
        misspelt: list[tuple[int, int, str]] = []
        hits = self._scan(folded, misspelt)
        if misspelt:
            self._read_corrected(hits, folded, misspelt)
        if not emphatic and (self._filler_probe is None or self._filler_probe.search(folded) is None):
            return hits
        known = set(hits)
        if emphatic:
            dropped = {i + 1 for i in emphatic}
            src = [i for i in range(len(folded)) if i not in dropped]
            # a span ending just before a dropped letter covers it ("help" is the evidence's "helppp")
            self._add(self, hits, known, "".join(folded[i] for i in src), src,
                      lambda e: src[e] if e < len(src) else len(folded))
        for _language, pattern, own in self._fillers:
            if pattern.search(folded) is None:
                continue
            src = []
            pos = 0
            for m in pattern.finditer(folded):
                src.extend(range(pos, m.start()))
                pos = m.end()
            src.extend(range(pos, len(folded)))
            self._add(own, hits, known, pattern.sub("", folded), src, lambda e, src=src: src[e - 1] + 1)
        return hits

    def _read_corrected(self, hits: list[Hit], folded: str, misspelt: list[tuple[int, int, str]]) -> None:
        """The text read again with each misspelt word spelt right; a span covering a corrected word is the
        misspelt word in the text."""
        pieces: list[str] = []
        src: list[int] = []
        pos = 0
        for start, end, word in sorted(misspelt):
            if start < pos:
                continue
            pieces += [folded[pos:start], word]
            src += [*range(pos, start), *(min(start + j, end - 1) for j in range(len(word)))]
            pos = end
        pieces.append(folded[pos:])
        src += range(pos, len(folded))
        self._add(self, hits, set(hits), "".join(pieces), src, lambda e: src[e - 1] + 1)

    @staticmethod
    def _add(lexicon: Lexicon, hits: list[Hit], known: set[Hit], reading: str, src: list[int], end_at) -> None:
        """`lexicon`'s hits in `reading` (`src`: the text's offset of each of its characters) not already
        found, in the text's offsets."""
        for h in lexicon._scan(reading):
            mapped = Hit(h.term, src[h.start], end_at(h.end))
            if mapped not in known:
                known.add(mapped)
                hits.append(mapped)

    def _scan(self, folded: str, misspelt: list[tuple[int, int, str]] | None = None) -> list[Hit]:
        """Every term's hits in `folded`; the misspelt words found go to `misspelt` (start, end, the word)."""
        hits: list[Hit] = []
        if self._automaton is None:  # no terms at all: nothing to find
            return hits
        seen: dict[str, list[tuple[int, int]]] = {}  # whole-word spans of inner parts so far
        n = len(folded)
        add, new = hits.append, tuple.__new__
        values = self._values
        # Read after a space (see WORD_STARTS): a match's end in the text read is one past its end in `folded`.
        for index, _, last in self._automaton.find_matches_as_indexes(" " + folded, overlapping=True):
            key, length, script, is_inner, both, open_ended = values[index]
            end = last - 1
            start = end - length
            if script == LATIN_STARTED:
                whole = end >= n or not folded[end].isalnum()
            elif script == LATIN:  # words are space-delimited
                if start and folded[start - 1].isalnum():
                    continue
                whole = end >= n or not folded[end].isalnum()
            else:
                if script == MISSPELT:
                    if misspelt is not None and not (start and folded[start - 1].isalnum()) \
                            and (end >= n or not folded[end].isalnum()):
                        misspelt.append((start, end, key))
                    continue
                if script == INDIC and start and "\u0900" <= folded[start - 1] <= "\u09ff" \
                        and folded[start - 1] not in "\u0964\u0965":
                    continue  # Devanagari and Bengali separate words by spaces: a term starts a word ("थी" ≠ "साथी")
                whole = True
            if whole:
                if is_inner:
                    if key in seen:
                        seen[key].append((start, end))
                    else:
                        seen[key] = [(start, end)]
                completes = both
            else:
                completes = open_ended
                if not completes:
                    continue
                while end < n and folded[end].isalnum():  # "beat*" in "beating": the evidence is the word
                    end += 1
            for term in completes:
                parts = term.parts
                if len(parts) == 1:
                    add(new(Hit, (term, start, end)))  # Hit(...) without the call through its __new__
                elif parts[-2] in seen:  # most gap terms end on a common word: look further only if they may
                    hits.extend(Hit(term, s, end) for s in _gap_starts(parts, seen, start))
        return hits


MISSPELT_MIN = 6  # letters in a word before one typo is read as the word ("pasport", "salery")
_VOWELS = "aeiou"
# Misspellings are read for English and French terms only: simplemma's dictionaries of the languages below say
# whether a misspelling is in fact another word ("sacked" is not "smacked", "hanger" not "hunger", "kurang" not
# "kurung"), and Spanish, German or Swahili would cost 100 MB to 1 GB of dictionary for little gain.
MISSPELT_LANGUAGES = ("en", "fr")
WORD_LISTS = ("en", "fr", "id", "ms", "tl")


def _misspellings(terms: list[Term], keys: set[str]) -> dict[str, str]:
    """One-letter misspellings of the long words of English and French concept terms, each with its word: a
    letter left out inside a word of 7 letters or more ("pasport"), or a vowel inside it typed for another
    ("salery"). Left out: a misspelling that is a key of the lexicons or a word of a dictionary, or that two
    words share."""
    words = {w for t in terms if not t.is_cue and t.language in MISSPELT_LANGUAGES
             for part in t.parts for w in part.split() if len(w) >= MISSPELT_MIN and w.isalpha()}
    if not words:
        return {}
    from simplemma.strategies.dictionaries import DefaultDictionaryFactory  # only while the lexicon is built

    factory = DefaultDictionaryFactory(cache_max_size=len(WORD_LISTS))
    dictionaries = [factory.get_dictionary(lang) for lang in WORD_LISTS]
    found: dict[str, set[str]] = {}
    for word in words:
        # Inside the word only: a first or last letter changed is more often another word or form ("chaine").
        inside = range(1, len(word) - 1)
        variants = {word[:i] + word[i + 1:] for i in inside} if len(word) > MISSPELT_MIN else set()
        variants |= {word[:i] + v + word[i + 1:] for i in inside if word[i] in _VOWELS for v in _VOWELS
                     if v != word[i]}
        for variant in variants - words - keys:
            found.setdefault(variant, set()).add(word)
    return {variant: next(iter(ws)) for variant, ws in sorted(found.items())
            if len(ws) == 1 and not any(variant in d for d in dictionaries)}


def _gap_starts(parts: tuple[str, ...], seen: dict[str, list[tuple[int, int]]], last_start: int) -> set[int]:
    """Where "a .. b .. c" starts, given where its last part starts: each earlier part must end at most
    GAP_CHARS before the next one begins."""
    starts = {last_start}
    for part in reversed(parts[:-1]):
        spans = seen.get(part)
        if not spans:
            return set()
        starts = {s for s, e in spans for nxt in starts if 0 <= nxt - e <= GAP_CHARS}
        if not starts:
            return set()
    return starts


def _filler_pattern(words: list[str]) -> re.Pattern[str] | None:
    """Fillers with the spaces after them; Latin-script ones as whole words only."""
    folded = sorted({as_read(w) for w in words} - {""}, key=len, reverse=True)
    if not folded:
        return None
    latin = [re.escape(w) for w in folded if _is_latin(w[0])]
    alternatives = [re.escape(w) for w in folded if not _is_latin(w[0])]
    if latin:
        alternatives.insert(0, rf"\b(?:{'|'.join(latin)})\b")
    return re.compile(rf"(?:{'|'.join(alternatives)})\s*")


def as_read(word: object) -> str:
    """A lexicon word read as a text is read (text.prepare: NFC, no invisible characters, letter runs cut to two,
    then folded), so one written "kkk*", with decomposed accents or a pasted zero-width space still matches."""
    return fold(prepare(str(word)).text.strip())


def _term(text: str, kind: str, language: str, *, is_cue: bool, covers: bool = True) -> Term:
    raw = str(text).strip()
    prefix = raw.endswith("*")
    parts = tuple(as_read(p) for p in raw.rstrip("*").split(GAP))
    if not all(parts):
        raise ValueError(f"empty term in {language} lexicon: {text!r}")
    return Term(raw, kind, language, parts, prefix, is_cue, covers)


def script_of(key: str) -> int:
    """How a key bounds its matches, from its first character: whole words (Latin), a word start (Devanagari,
    Bengali) or anywhere (Thai, Khmer, Burmese, Arabic, …)."""
    first = key[0]
    return LATIN if _is_latin(first) else INDIC if "\u0900" <= first <= "\u09ff" else OTHER


def _is_latin(ch: str) -> bool:
    return ch < "\u0250" or "\u1e00" <= ch <= "\u1eff"
