"""Scoring the classifier against labelled complaints. Pure: examples and decisions in, figures out."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from schemas.models import Urgency

LEVELS = [Urgency.critical, Urgency.high, Urgency.medium, Urgency.low]


@dataclass(frozen=True)
class Example:
    id: str
    language: str
    text: str
    urgency: Urgency
    categories: tuple[str, ...]
    tags: tuple[str, ...]


def load_examples(directory: Path) -> list[Example]:
    examples = []
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                d = json.loads(line)
                examples.append(Example(d["id"], d["language"], d["text"], Urgency(d["urgency"]),
                                        tuple(d.get("categories", ())), tuple(d.get("tags", ()))))
    return examples


@dataclass
class Report:
    total: int = 0
    correct: int = 0
    under: int = 0
    over: int = 0
    language_correct: int = 0
    confusion: Counter = field(default_factory=Counter)  # (labelled, predicted) → n
    by_language: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    category_tp: int = 0
    category_fp: int = 0
    category_fn: int = 0
    reviewed: int = 0
    # A critical case decided below critical and not flagged for review: nobody looks at it in time.
    critical_unreviewed: int = 0
    mistakes: list[tuple[Example, Urgency, list[str]]] = field(default_factory=list)
    # The second opinion alone, critical vs not at its own threshold: (labelled critical, said critical) → n
    opinion: Counter = field(default_factory=Counter)

    def add(self, ex: Example, urgency: Urgency, categories: list[str], language: str,
            needs_review: bool = False) -> None:
        self.total += 1
        self.confusion[(ex.urgency, urgency)] += 1
        lang = self.by_language[ex.language]
        lang["n"] += 1
        self.reviewed += needs_review
        lang["reviewed"] += needs_review
        if ex.urgency == Urgency.critical and urgency != Urgency.critical and not needs_review:
            self.critical_unreviewed += 1
            lang["critical_unreviewed"] += 1
        self.language_correct += language == ex.language
        lang["language_correct"] += language == ex.language
        if urgency == ex.urgency:
            self.correct += 1
            lang["correct"] += 1
        else:
            self.mistakes.append((ex, urgency, categories))
            if urgency.rank < ex.urgency.rank:
                self.under += 1
                lang["under"] += 1
            else:
                self.over += 1
        if ex.urgency == Urgency.critical:
            lang["critical"] += 1
            lang["critical_found"] += urgency == Urgency.critical
        predicted, labelled = set(categories), set(ex.categories)
        self.category_tp += len(predicted & labelled)
        self.category_fp += len(predicted - labelled)
        self.category_fn += len(labelled - predicted)

    def add_opinion(self, ex: Example, says_critical: bool) -> None:
        self.opinion[(ex.urgency == Urgency.critical, says_critical)] += 1

    def opinion_figures(self) -> dict | None:
        o = self.opinion
        if not o:
            return None
        n, said, critical = sum(o.values()), o[(True, True)] + o[(False, True)], o[(True, True)] + o[(True, False)]
        return {"accuracy": round((o[(True, True)] + o[(False, False)]) / n, 4),
                "critical_recall": round(o[(True, True)] / critical, 4) if critical else None,
                "critical_precision": round(o[(True, True)] / said, 4) if said else None}

    def precision(self, level: Urgency) -> float:
        predicted = sum(n for (_, p), n in self.confusion.items() if p == level)
        return self.confusion[(level, level)] / predicted if predicted else 0.0

    def recall(self, level: Urgency) -> float:
        labelled = sum(n for (t, _), n in self.confusion.items() if t == level)
        return self.confusion[(level, level)] / labelled if labelled else 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def under_triage_rate(self) -> float:
        return self.under / self.total if self.total else 0.0

    def figures(self) -> dict:
        cat_p = self.category_tp / ((self.category_tp + self.category_fp) or 1)
        cat_r = self.category_tp / ((self.category_tp + self.category_fn) or 1)
        return {
            "examples": self.total, "urgency_accuracy": round(self.accuracy, 4),
            "critical_recall": round(self.recall(Urgency.critical), 4),
            "under_triage_rate": round(self.under_triage_rate, 4),
            "over_triage_rate": round(self.over / (self.total or 1), 4),
            "critical_under_triaged_unreviewed": self.critical_unreviewed,
            "review_rate": round(self.reviewed / (self.total or 1), 4),
            "language_accuracy": round(self.language_correct / (self.total or 1), 4),
            "category_precision": round(cat_p, 4), "category_recall": round(cat_r, 4),
            "per_urgency": {u.value: {"precision": round(self.precision(u), 4), "recall": round(self.recall(u), 4)}
                            for u in LEVELS},
            "per_language": {
                lang: {"n": c["n"], "accuracy": round(c["correct"] / c["n"], 4),
                       "critical_recall": round(c["critical_found"] / c["critical"], 4) if c["critical"] else None,
                       "under_triage": c["under"], "critical_unreviewed": c["critical_unreviewed"],
                       "review_rate": round(c["reviewed"] / c["n"], 4),
                       "language_detected": round(c["language_correct"] / c["n"], 4)}
                for lang, c in sorted(self.by_language.items())
            },
            "confusion": {t.value: {p.value: self.confusion[(t, p)] for p in LEVELS} for t in LEVELS},
            "second_opinion_alone": self.opinion_figures(),
        }

    def table(self) -> str:
        f = self.figures()
        lines = [f"{f['examples']} examples · urgency accuracy {f['urgency_accuracy']:.3f} · critical recall "
                 f"{f['critical_recall']:.3f} · under-triage {f['under_triage_rate']:.3f} · over-triage "
                 f"{f['over_triage_rate']:.3f} · review rate {f['review_rate']:.3f} · critical under-triaged "
                 f"without review {f['critical_under_triaged_unreviewed']} · language detected "
                 f"{f['language_accuracy']:.3f} · categories P {f['category_precision']:.3f} R "
                 f"{f['category_recall']:.3f}"]
        if (o := f["second_opinion_alone"]) is not None:
            recall = "-" if o["critical_recall"] is None else f"{o['critical_recall']:.3f}"
            precision = "-" if o["critical_precision"] is None else f"{o['critical_precision']:.3f}"
            lines.append(f"second opinion alone, critical or not: accuracy {o['accuracy']:.3f} · critical recall "
                         f"{recall} · critical precision {precision}")
        lines += ["", "language     n  accuracy  critical recall  under-triaged  critical under w/o review"
                  "  review rate  language detected"]
        for lang, c in f["per_language"].items():
            cr = "-" if c["critical_recall"] is None else f"{c['critical_recall']:.3f}"
            lines.append(f"{lang:<8} {c['n']:>5}  {c['accuracy']:>8.3f}  {cr:>15}  {c['under_triage']:>13}"
                         f"  {c['critical_unreviewed']:>25}  {c['review_rate']:>11.3f}"
                         f"  {c['language_detected']:>17.3f}")
        lines += ["", "urgency    precision  recall"]
        lines += [f"{u:<10} {v['precision']:>9.3f}  {v['recall']:>6.3f}" for u, v in f["per_urgency"].items()]
        lines += ["", "confusion (rows: labelled, columns: predicted)",
                  "           " + "".join(f"{u.value:>10}" for u in LEVELS)]
        lines += [f"{t:<10} " + "".join(f"{row[p.value]:>10}" for p in LEVELS) for t, row in f["confusion"].items()]
        return "\n".join(lines)
