"""Employer and recruiter names, normalised so that one company is one key whatever the spelling.

"GLOBAL GLOVES SDN. BHD.", "Global Gloves Sdn Bhd" and "global-gloves" share a key; so do transliteration
variants such as "Al-Futtaim", "Al Futtaim" and "Alfuttaim", and a Thai or Arabic name and its romanised
form where the romanisation is the usual one. Pure code.
"""

from __future__ import annotations

import re

from anyascii import anyascii

# Legal forms and generic words that do not tell companies apart (compared after transliteration).
LEGAL_FORMS = {
    "sdn", "bhd", "berhad", "pte", "pty", "ltd", "limited", "llc", "l.l.c", "co", "company", "corp",
    "corporation", "inc", "incorporated", "plc", "pvt", "private", "p", "pt", "tbk", "cv", "jsc", "tnhh",
    "cong", "ty", "mtv", "wll", "w.l.l", "est", "establishment", "fze", "fzco", "fzc", "gmbh", "sa", "sarl",
    "spa", "srl", "bv", "nv", "ag", "kk", "kabushiki", "kaisha", "brisath", "chamkad", "mhachn", "shrkh",
    "mwssh", "the", "and", "&", "ksa", "uae", "group", "holdings", "enterprise", "enterprises",
}
_WORD = re.compile(r"[a-z0-9]+")
_REPEAT = re.compile(r"(.)\1+")


def words(name: str) -> list[str]:
    return [w for w in _WORD.findall(anyascii(name).lower()) if w not in LEGAL_FORMS]


def entity_key(name: str | None) -> str | None:
    """The linking key: transliterated, lower case, legal forms dropped, spaces and doubled letters
    folded ("Al-Futtaim Trading LLC" → "alfutaimtrading"). None when nothing distinctive is left."""
    if not name:
        return None
    key = _REPEAT.sub(r"\1", "".join(words(name)))
    return key if len(key) >= 3 else None
