"""Text normalisation for matching: same length as the input, so a match's offsets are the input's."""

from __future__ import annotations

import re
import unicodedata


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


_FOLDABLE = re.compile("[" + re.escape("".join(map(chr, FOLD))) + "]")


def fold(text: str) -> str:
    if text.isascii():  # most SMS-style text: lower() is the same fold, many times faster
        return text.lower()
    if _FOLDABLE.search(text) is None:  # Thai, Khmer, Bengali… in lower-case company: nothing to fold
        return text
    return text.translate(FOLD)  # every mapping is one character to one: offsets never shift

