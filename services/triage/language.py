"""Which language a complaint is written in.

The script decides where it can (Thai, Khmer, Burmese, Bengali, Arabic, …: known from Unicode ranges at
no cost). Latin and Devanagari text goes to py3langid, whose model ships in its wheel, restricted to the
languages that share the script. A romanised complaint (Nepali, Hindi, Bengali in Latin letters) is
given the language whose lexicon recognised most of its words when the model's choice recognised none.
The model also knows some Latin-script languages no lexicon covers (German, Swahili, …), so that such a text
is reported as uncovered rather than as the nearest covered language; Urdu is told from Arabic by its letters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache, cached_property

# Scripts whose language is (for this pipeline's corridors) fixed by the script itself.
SCRIPT_LANGUAGE = {
    "thai": "th", "khmer": "km", "myanmar": "my", "bengali": "bn", "arabic": "ar", "sinhala": "si",
    "tamil": "ta", "ethiopic": "am", "hangul": "ko", "han": "zh", "kana": "ja", "cyrillic": "ru",
    "georgian": "ka", "lao": "lo", "gurmukhi": "pa", "telugu": "te", "malayalam": "ml", "gujarati": "gu",
}
SCRIPTS = {
    "latin": r"A-Za-z\u00c0-\u024f\u1e00-\u1eff", "thai": r"\u0e00-\u0e7f", "khmer": r"\u1780-\u17ff",
    "myanmar": r"\u1000-\u109f", "bengali": r"\u0980-\u09ff", "arabic": r"\u0600-\u06ff\u0750-\u077f",
    "devanagari": r"\u0900-\u097f", "sinhala": r"\u0d80-\u0dff", "tamil": r"\u0b80-\u0bff",
    "ethiopic": r"\u1200-\u137f", "hangul": r"\uac00-\ud7af\u1100-\u11ff", "han": r"\u4e00-\u9fff",
    "kana": r"\u3040-\u30ff", "cyrillic": r"\u0400-\u04ff", "georgian": r"\u10a0-\u10ff", "lao": r"\u0e80-\u0eff",
    "gurmukhi": r"\u0a00-\u0a7f", "telugu": r"\u0c00-\u0c7f", "malayalam": r"\u0d00-\u0d7f",
    "gujarati": r"\u0a80-\u0aff",
}
ZAWGYI_PROBABILITY = 0.95
_SCRIPT_RES = {name: re.compile(f"[{ranges}]") for name, ranges in SCRIPTS.items()}
MODEL_SAMPLE_CHARS = 160
# Latin-script languages the rules cover, and some they do not (workers in the corridors write them): a text
# in one of those must be read as uncovered (human review), not as the covered language nearest to it.
MODEL_LANGUAGES = {"latin": ["en", "fr", "es", "vi", "id", "ms", "tl", "de", "sw", "pt", "it", "nl", "pl", "ro", "mg"],
                   "devanagari": ["ne", "hi"]}
# Letters Urdu adds to the Arabic alphabet (ٹ ڈ ڑ ں ھ ہ ے ۓ): two of them and the text is Urdu, not Arabic.
_URDU = re.compile("[\u0679\u0688\u0691\u06ba\u06be\u06c1\u06d2\u06d3]")


@dataclass(frozen=True)
class Detected:
    language: str
    script: str
    method: str  # "partner", "script", "model", "lexicon" or "none"


_NON_LATIN = re.compile("[" + "".join(r for n, r in SCRIPTS.items() if n != "latin") + "]")


def dominant_script(text: str) -> str | None:
    """The script most of the text is written in. Cheap on the common case: one search settles a text
    with no letters outside Latin; otherwise the first non-Latin script found is weighed against Latin."""
    sample = text[:400]
    latin = _SCRIPT_RES["latin"]
    if sample.isascii():  # most texts: one quick look settles it
        return "latin" if latin.search(sample) else None
    found = _NON_LATIN.search(sample)
    if found is None:
        return "latin" if latin.search(sample) else None
    script = _script_of(found.group())
    # Scripts without spaces or with vowel signs use more code points per word than Latin: weigh by 3.
    n_latin = len(latin.findall(sample))
    if n_latin <= 3:  # the character found already outweighs them
        return script
    return script if 3 * len(_SCRIPT_RES[script].findall(sample)) >= n_latin else "latin"


@cache
def _script_of(ch: str) -> str:
    return next(name for name, rx in _SCRIPT_RES.items() if name != "latin" and rx.match(ch))


class LanguageDetector:
    @cached_property
    def _models(self):
        """One py3langid model per script, each restricted to that script's languages."""
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        models = {}
        for script, langs in MODEL_LANGUAGES.items():
            models[script] = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=False)
            models[script].set_languages(langs)
        return models

    @cached_property
    def _zawgyi(self):
        from myanmartools import ZawgyiDetector

        return ZawgyiDetector()

    def is_zawgyi(self, text: str) -> bool:
        """Whether Burmese text is in the Zawgyi font encoding (Google's myanmartools model, some 150 µs:
        asked only about a text that shows a sign of it)."""
        return self._zawgyi.get_zawgyi_probability(text) >= ZAWGYI_PROBABILITY

    def warm_up(self) -> None:
        """Load the models now rather than on the first Latin-script or Zawgyi complaint."""
        _ = self._models, self._zawgyi

    def detect(self, text: str, hint: str | None = None, votes: dict[str, int] | None = None,
               markers: dict[str, int] | None = None) -> Detected:
        """`markers`: how many language markers of each language the text holds; two or more for one
        language, at least twice the next, settle it (romanised Nepali, Indonesian against Malay).
        `votes`: how many lexicon terms of each language the text contains. Two or more of one language, at
        least twice the next, settle it without the model (true of nearly every such case in the evaluation
        sets; the model costs some 100 µs a text)."""
        script = dominant_script(text) or "none"
        if hint:
            return Detected(hint.split("-")[0].lower(), script, "partner")
        if script in SCRIPT_LANGUAGE:
            if script == "arabic" and len(_URDU.findall(text, 0, 400)) >= 2:
                return Detected("ur", script, "script")
            return Detected(SCRIPT_LANGUAGE[script], script, "script")
        if markers:
            ranked = sorted(markers.values(), reverse=True)
            top = ranked[0]
            if top >= 2 and (len(ranked) == 1 or top >= 2 * ranked[1]):
                return Detected(max(markers, key=lambda lang: (markers[lang], lang)), script, "markers")
            # One marker breaks a tie of the lexicon votes ("dipotong" is Indonesian and Malay, "rupiah" only
            # Indonesian).
            if len(markers) == 1 and votes and votes.get(only := next(iter(markers)), 0) == max(votes.values()):
                return Detected(only, script, "markers")
        if votes:
            ranked = sorted(votes.values(), reverse=True)
            if ranked[0] >= 2 and (len(ranked) == 1 or ranked[0] >= 2 * ranked[1]):
                return Detected(max(votes, key=lambda lang: (votes[lang], lang)), script, "lexicon")
        if script in self._models:
            # The first couple of sentences identify a language as well as the whole text, at a fraction of
            # the cost: the model's time grows with the length of what it reads.
            guess = self._models[script].classify(text[:MODEL_SAMPLE_CHARS])[0]
            return Detected(_romanised(guess, votes or {}), script, "model")
        return Detected("und", script, "none")


def _romanised(guess: str, votes: dict[str, int]) -> str:
    """Romanised Nepali, Hindi or Bengali reads as Latin-script text to a model; if the model's language
    recognised none of the words and another lexicon recognised at least two, take that one."""
    if votes.get(guess, 0) or not votes:
        return guess
    best, n = max(votes.items(), key=lambda kv: (kv[1], kv[0]))
    return best if n >= 2 else guess
