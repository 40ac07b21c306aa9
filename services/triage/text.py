"""Text normalisation for matching. Folding keeps the length, so a match's offsets are the folded text's;
`nfc` says where each offset of the NFC form lies in the text as given."""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from typing import NamedTuple


def _fold_table() -> dict[int, str]:
    """Lower case and strip diacritics from Latin letters, one character for one, so "Không được trả
    lương" and an SMS's "khong duoc tra luong" match the same terms."""
    table: dict[int, str] = {}
    for cp in [*range(0x41, 0x5B), *range(0xC0, 0x250), *range(0x1E00, 0x1F00)]:
        ch = chr(cp)
        base = unicodedata.normalize("NFD", ch)[0].lower()
        if len(base) == 1 and base != ch:
            table[cp] = base
    table.update({ord(k): v for k, v in {"đ": "d", "Đ": "d", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l",
                                         "’": "'", "‘": "'", "“": '"', "”": '"', "ı": "i"}.items()})
    # Arabic letter variants that writers use interchangeably.
    table.update({ord(k): v for k, v in {"أ": "ا", "إ": "ا", "آ": "ا", "ى": "ي", "ة": "ه"}.items()})
    return table


FOLD = _fold_table()
# The same mapping as a string indexed by code point (unmapped ones map to themselves; past its end a
# character is left as it is): str.translate reads it much faster than the dict, which costs an int object
# and a hash lookup per character.
_FOLD_STRING = "".join(FOLD.get(cp, chr(cp)) for cp in range(max(FOLD) + 1))


_FOLDABLE = re.compile("[" + re.escape("".join(map(chr, FOLD))) + "]")


def fold(text: str) -> str:
    if text.isascii():  # most SMS-style text: lower() is the same fold, many times faster
        return text.lower()
    if _FOLDABLE.search(text) is None:  # Thai, Khmer, Bengali… in lower-case company: nothing to fold
        return text
    return text.translate(_FOLD_STRING)  # every mapping is one character to one: offsets never shift


def nfc(text: str) -> tuple[str, list[int] | None, list[int] | None]:
    """The NFC form of `text`, with where each of its offsets lies in `text`: `starts[i]` for a span
    starting at i, `ends[i]` for one ending at i (both None when `text` is already NFC: the same offsets).

    NFC can shorten a text (a letter and its accent typed apart), lengthen it (Devanagari and Bengali
    letters with a nukta, which NFC decomposes) or reorder marks. The text is cut where normalisation
    cannot reach across (before a character that starts with a starter composing with nothing before
    it); a piece NFC leaves the same length maps one to one, another maps whole, so a span never loses
    a character it covers and `text[starts[s]:ends[e]]` is the given text's form of the NFC span."""
    if unicodedata.is_normalized("NFC", text):  # most texts: a quick check, no copy
        return text, None, None
    pieces, begin = [], 0
    for i in range(1, len(text)):
        if _boundary_before(text[i]):
            pieces.append((begin, i))
            begin = i
    pieces.append((begin, len(text)))
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    for a, b in pieces:
        piece = unicodedata.normalize("NFC", text[a:b])
        out.append(piece)
        if len(piece) == b - a:
            starts.extend(range(a, b))
            ends.extend(range(a, b))
        else:
            starts.extend([a] * len(piece))
            ends.extend([a] + [b] * (len(piece) - 1))
    starts.append(len(text))
    ends.append(len(text))
    return "".join(out), starts, ends


def _boundary_before(ch: str) -> bool:
    first = unicodedata.normalize("NFD", ch)[0]
    return unicodedata.combining(first) == 0 and first not in _composes_with_previous()


@cache
def _composes_with_previous() -> frozenset[str]:
    """Starters that canonical composition joins to the character before them: Hangul vowels and final
    consonants, and the second half of two-part vowel signs (Bengali ো = ে + া, Tamil, Sinhala, Burmese…)."""
    found = {chr(cp) for cp in [*range(0x1161, 0x1176), *range(0x11A8, 0x11C3)]}
    for cp in range(0x30000):
        parts = unicodedata.decomposition(chr(cp)).split()
        if len(parts) == 2 and not parts[0].startswith("<"):
            pair = "".join(chr(int(p, 16)) for p in parts)
            if unicodedata.normalize("NFC", pair) == chr(cp):
                found.add(pair[1])
    return frozenset(found)


class Prepared(NamedTuple):
    """A text made ready for matching: `starts[i]`/`ends[i]` say where a span starting/ending at i lies in the
    text as given (None: the same offsets); `emphatic` holds where a run of one letter typed three times or
    more ("pleeease", "helppp") was cut to its first two letters, so the matcher can also try one."""
    text: str
    starts: list[int] | None
    ends: list[int] | None
    emphatic: tuple[int, ...] = ()


@cache
def _invisible_code_points() -> tuple[int, ...]:
    return tuple(cp for cp in [*range(0x30000), *range(0xE0000, 0xE0080)]
                 if unicodedata.category(chr(cp)) == "Cf" or (unicodedata.category(chr(cp)) == "Cc"
                                                              and not chr(cp).isspace()))


def _invisible_class(*, astral: bool | None = None) -> str:
    """Format characters (zero-width space and joiners, word joiner, BOM, soft hyphen, bidi marks…) and
    control characters other than whitespace: typed or pasted inside a word, they split it for every term.
    As ranges: a class of single characters makes every search slow. `astral`: only those outside the Basic
    Multilingual Plane (True) or only those inside it (False)."""
    found = [cp for cp in _invisible_code_points() if astral is None or (cp > 0xFFFF) == astral]
    ranges: list[list[int]] = []
    for cp in found:
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return "".join(re.escape(chr(a)) + ("" if a == b else "-" + re.escape(chr(b))) for a, b in ranges)


_INVISIBLE_CHARS = _invisible_class()
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS}]")
# The same, looked for in two steps: a class within the Basic Multilingual Plane is a bitmap (fast); the few
# astral ones are looked for only in a text with an astral character (an emoji, mostly).
_INVISIBLE_BMP = re.compile(f"[{_invisible_class(astral=False)}]")
_INVISIBLE_ASTRAL = re.compile(f"[{_invisible_class(astral=True)}]")
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")


def _has_invisible(text: str) -> bool:
    if _INVISIBLE_BMP.search(text) is not None:
        return True
    return _ASTRAL.search(text) is not None and _INVISIBLE_ASTRAL.search(text) is not None
# Invisible characters, or a letter typed three times or more in a row; `_TRIPLE` (any character three
# times) is the cheap first look, most texts having neither.
_SQUEEZE = re.compile(f"[{_INVISIBLE_CHARS}]+|([^\\W\\d_])\\1\\1+")
_TRIPLE = re.compile(r"(.)\1\1")
_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")  # the ASCII part of _INVISIBLE


def prepare(given: str) -> Prepared:
    """NFC, then without invisible characters and with letter runs of three or more cut to two; offsets
    map back to `given` through both steps."""
    if given.isascii():  # already NFC; its only invisible characters are control characters
        if _TRIPLE.search(given) is None and _ASCII_CONTROL.search(given) is None:
            return Prepared(given, None, None)
        text, starts, ends = given, None, None
    else:
        text, starts, ends = nfc(given)
        if _TRIPLE.search(text) is None and not _has_invisible(text):
            return Prepared(text, starts, ends)
    first = _SQUEEZE.search(text)
    if first is None:
        return Prepared(text, starts, ends)
    out: list[str] = []
    src: list[int] = []  # where each character of the squeezed text comes from in `text`
    emphatic: list[int] = []
    pos = 0
    for m in _SQUEEZE.finditer(text, first.start()):
        a, b = m.span()
        out.append(text[pos:a])
        src.extend(range(pos, a))
        if m.group(1):  # keep two letters; the second stands for the rest of the run, so spans cover it all
            emphatic.append(len(src))
            out.append(text[a:a + 2])
            src.extend((a, b - 1))
        pos = b
    out.append(text[pos:])
    src.extend(range(pos, len(text)))
    sq_starts = [*src, len(text)]
    sq_ends = [0, *(s + 1 for s in src)]
    sq_ends[-1] = len(text)  # a span reaching the end also covers what was dropped there
    if starts is not None and ends is not None:
        sq_starts = [starts[i] for i in sq_starts]
        sq_ends = [ends[i] for i in sq_ends]
    return Prepared("".join(out), sq_starts, sq_ends, tuple(emphatic))


class ZawgyiTable(NamedTuple):
    """config/triage/zawgyi.yaml: per Zawgyi character, its slot in a syllable and its Unicode text."""
    chars: dict[str, tuple[int, str]]
    leading: frozenset[int]  # slots that start a syllable when they come first (vowel sign e, medial ra)
    consonant: int
    slots: int

    @classmethod
    def from_data(cls, data: dict) -> ZawgyiTable:
        slots = list(data["slots"])
        chars = {chr(int(cp, 16)): (slots.index(slot), "".join(chr(int(u, 16)) for u in text.split()))
                 for cp, (slot, text) in data["map"].items()}
        return cls(chars, frozenset(slots.index(s) for s in data["leading"]), slots.index("consonant"), len(slots))


# Signs of Zawgyi that Unicode Burmese never shows: a vowel sign e or a virama with no consonant before or after
# it, or a code point Unicode gives to other Myanmar-script languages. Only such a text is given to the detector.
ZAWGYI_HINT = re.compile(r"\u1039(?![\u1000-\u1021])|(?<![\u1000-\u1021\u103b-\u103e\u1031\u1039])\u1031"
                         r"|[\u1060-\u1097]")
_ZAWGYI_CHARS = re.compile(r"[\u1031\u1039\u1060-\u1097]")  # one quick look first: most texts have none


def looks_zawgyi(text: str) -> bool:
    return not text.isascii() and _ZAWGYI_CHARS.search(text) is not None and ZAWGYI_HINT.search(text) is not None


_MYANMAR_BASE = re.compile(r"[\u1000-\u102a\u103f\u104c-\u104f]")


def zawgyi_to_unicode(text: str, table: ZawgyiTable) -> tuple[str, list[int], list[int]]:
    """`text` with each Zawgyi syllable rewritten in Unicode order, and where each offset of the result lies in
    `text` (`starts`, `ends` as for `nfc`: a span inside a syllable covers the whole syllable)."""
    out: list[str] = []
    starts: list[int] = []
    ends: list[int] = []

    def emit(a: int, b: int, slots: list[str]) -> None:
        piece = "".join(slots)
        out.append(piece)
        starts.extend([a] * len(piece))
        ends.extend([a] + [b] * (len(piece) - 1))

    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if not ("\u1000" <= ch <= "\u109f"):
            emit(i, i + 1, [ch])
            i += 1
            continue
        # One syllable: leading signs, one consonant, then every mark up to the next consonant or leading sign.
        slots = [""] * table.slots
        start, has_base = i, False
        while i < n:
            ch = text[i]
            if not "\u1000" <= ch <= "\u109f":
                if _INVISIBLE.match(ch) is None:
                    break
                i += 1  # pasted inside the syllable: dropped, or the marks after it would make a syllable of
                continue  # their own and read as other words
            slot, uni = table.chars.get(ch, (table.consonant if _MYANMAR_BASE.match(ch) else table.slots - 1, ch))
            if slot == table.consonant:
                if has_base:
                    break
                has_base = True
            elif slot in table.leading and (has_base or slots[slot]):
                break  # the next syllable's e or ra
            elif ch in "\u104a\u104b" or "\u1040" <= ch <= "\u1049":  # punctuation and digits stand alone
                if i > start:
                    break
                slots[slot] += uni
                i += 1
                break
            slots[slot] += uni
            i += 1
        emit(start, i, slots)
    starts.append(n)
    ends.append(n)
    return "".join(out), starts, ends
