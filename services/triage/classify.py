"""Classification: complaint text → urgency, categories, ILO indicators, with the evidence for each.

Pure code: rules come in as data (config/triage/*.yaml), nothing here touches Kafka or SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from schemas.models import Evidence, Urgency


@dataclass(frozen=True)
class Concept:
    name: str
    category: str
    indicators: tuple[str, ...]
    urgency: Urgency
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Ruleset:
    version: str
    concepts: tuple[Concept, ...]

    @classmethod
    def load(cls, path: Path) -> Ruleset:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        concepts = tuple(
            Concept(
                name=name,
                category=spec["category"],
                indicators=tuple(spec.get("indicators", ())),
                urgency=Urgency(spec["urgency"]),
                pattern=re.compile(
                    r"(?<!\w)(?:" + "|".join(re.escape(t) for t in sorted(spec["terms"], key=len, reverse=True))
                    + r")(?!\w)",
                    re.IGNORECASE,
                ),
            )
            for name, spec in data["concepts"].items()
        )
        return cls(version=data["ruleset"], concepts=concepts)


@dataclass(frozen=True)
class Decision:
    urgency: Urgency
    categories: list[str]
    indicators: list[str]
    language: str
    needs_review: bool
    reasons: list[str]
    evidence: list[Evidence]
    ruleset: str
    summary: str = field(default="")


def classify(text: str, rules: Ruleset, *, language: str | None = None, urgency_hint: Urgency | None = None,
             minor_involved: bool = False) -> Decision:
    urgency = Urgency.low
    categories: dict[str, None] = {}
    indicators: dict[str, None] = {}
    evidence: list[Evidence] = []
    reasons: list[str] = []
    for concept in rules.concepts:
        hits = list(concept.pattern.finditer(text))
        if not hits:
            continue
        evidence.extend(Evidence(term=m.group(0), start=m.start(), end=m.end(), concept=concept.name) for m in hits)
        categories[concept.category] = None
        indicators.update(dict.fromkeys(concept.indicators))
        reasons.append(f"{concept.name}: '{hits[0].group(0)}' → {concept.urgency.value}")
        if concept.urgency.rank > urgency.rank:
            urgency = concept.urgency
    if urgency_hint is not None and urgency_hint.rank > urgency.rank:
        reasons.append(f"partner urgency hint raises {urgency.value} → {urgency_hint.value}")
        urgency = urgency_hint
    if minor_involved and urgency.rank < Urgency.critical.rank:
        reasons.append(f"a minor is involved: {urgency.value} → critical")
        urgency = Urgency.critical
    if not categories:
        categories["other"] = None
    evidence.sort(key=lambda e: e.start)
    summary = f"{urgency.value}: {', '.join(categories)}" + (f" ({', '.join(indicators)})" if indicators else "")
    return Decision(
        urgency=urgency, categories=list(categories), indicators=list(indicators), language=language or "und",
        needs_review=not evidence, reasons=reasons or ["no rule matched"], evidence=evidence,
        ruleset=rules.version, summary=summary,
    )
