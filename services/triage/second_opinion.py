"""The learned second opinion: the probability that a complaint is critical, from a linear model over
hashed character n-grams. Pure code and numpy; the model is data (config/triage/model/).

Character n-grams need no word segmentation, so one model reads every script, Thai, Khmer and Burmese
(written without spaces) and romanised text alike. The n-grams are hashed by a small rolling hash in
numpy over a whole batch at once: a few microseconds a text, where a per-n-gram Python analyser would
cost a hundred. Training (services/triage/model_training.py) builds its matrix with this same
`ngrams`, so the scorer is exactly the trained model. The weights are a plain array file and the
parameters a JSON file: nothing executable is loaded (no pickle).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_DIR = Path("model")  # under the triage config directory
PARAMS_FILE = "second_opinion.json"
WEIGHTS_FILE = "second_opinion.npz"
FORMAT = "hashed-char-ngrams/1"

_MULTIPLIER = np.uint64(1_000_003)  # the rolling hash: h(n) = h(n-1) * M + code point
_MIX = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of h * MIX pick the bucket
_PAD = "\x00"  # between texts; an n-gram that touches it is not counted


@dataclass(frozen=True)
class Features:
    """Every n-gram occurrence of a batch: which text it is in and which bucket it hashes to."""

    rows: np.ndarray  # int64, text index per occurrence
    buckets: np.ndarray  # int64
    counts: np.ndarray  # float64, occurrences per text (the scaling divides by its square root)


def ngrams(texts: Sequence[str], orders: Sequence[int], bits: int) -> Features:
    """Lower-cased character n-grams of the given orders, hashed into 2**bits buckets."""
    longest = max(orders)
    gap = _PAD * longest
    joined = gap + gap.join(t.lower() for t in texts) + gap
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    # Text i owns its leading gap and its characters; the trailing gap never starts a counted n-gram.
    owner = np.repeat(np.arange(len(texts), dtype=np.int64), lengths + longest)
    owner = np.concatenate([owner, np.full(longest, max(len(texts) - 1, 0), dtype=np.int64)])
    inside = codes != 0  # not a gap (a code point 0 in a text counts as one too)
    shift = np.uint64(64 - bits)
    rows, buckets = [], []
    size = len(codes)
    h = codes.copy()  # order 1; each longer order in place on the shorter one's array (fewer copies)
    clean = inside  # n-grams that touch no gap, as a mask: each order's from the shorter one's
    for n in range(1, longest + 1):
        if n > 1:
            h = h[: size - n + 1]
            h *= _MULTIPLIER  # wraps modulo 2**64, as intended
            h += codes[n - 1:]
            clean = clean[: size - n + 1] & inside[n - 1:]
        if n in orders:
            at = np.flatnonzero(clean)
            bucket = h[at]
            bucket += np.uint64(n)
            bucket *= _MIX
            bucket >>= shift
            rows.append(owner[at])
            buckets.append(bucket.view(np.int64))  # below 2**bits: the same values, no copy
    row = np.concatenate(rows)
    return Features(row, np.concatenate(buckets), np.bincount(row, minlength=len(texts)).astype(np.float64))


def scale(features: Features) -> np.ndarray:
    """Each occurrence's value: 1/sqrt(n-grams in its text), so a long message weighs as much as a short one."""
    return 1.0 / np.sqrt(np.maximum(features.counts, 1.0))[features.rows]


@dataclass(frozen=True)
class SecondOpinion:
    version: str
    orders: tuple[int, ...]
    bits: int
    weights: np.ndarray  # float32, one per bucket
    intercept: float
    critical_at: float  # the model says "critical" from this probability
    not_critical_below: float  # …and confidently "not critical" below this one
    raise_to_critical_at: float  # confident enough to raise the rules' urgency to critical
    meta: dict

    def critical_probabilities(self, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        f = ngrams(texts, self.orders, self.bits)
        score = np.bincount(f.rows, weights=self.weights.take(f.buckets), minlength=len(texts))
        score = score / np.sqrt(np.maximum(f.counts, 1.0)) + self.intercept
        return (1.0 / (1.0 + np.exp(-score))).tolist()

    @classmethod
    def load(cls, triage_dir: Path) -> SecondOpinion:
        where = triage_dir / MODEL_DIR
        params = json.loads((where / PARAMS_FILE).read_text(encoding="utf-8"))
        if params["format"] != FORMAT:
            raise ValueError(f"{where / PARAMS_FILE}: format {params['format']!r}, expected {FORMAT!r}")
        with np.load(where / WEIGHTS_FILE, allow_pickle=False) as data:
            weights = data["weights"].astype(np.float32)
        if weights.shape != (1 << params["bits"],):
            raise ValueError(f"{where / WEIGHTS_FILE}: {weights.shape[0]} weights for {params['bits']} bits")
        t = params["thresholds"]
        return cls(params["version"], tuple(params["orders"]), params["bits"], weights, float(params["intercept"]),
                   t["critical_at"], t["not_critical_below"], t["raise_to_critical_at"], params)

    @classmethod
    def load_if_present(cls, triage_dir: Path) -> SecondOpinion | None:
        return cls.load(triage_dir) if (triage_dir / MODEL_DIR / PARAMS_FILE).exists() else None
