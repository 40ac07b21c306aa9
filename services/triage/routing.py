"""Routing: a triaged case → its recipients, each with the reason it was chosen. Pure code."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from schemas.models import Recipient, Urgency
from services.common.directory import Directory, Partner


@dataclass(frozen=True)
class CaseFacts:
    urgency: Urgency
    categories: tuple[str, ...]
    country_of_work: str | None
    country_of_origin: str | None


@dataclass(frozen=True)
class RoutingRule:
    name: str
    urgencies: frozenset[Urgency]
    categories: frozenset[str]
    primary_kinds: tuple[str, ...]
    copy_kinds: tuple[str, ...]

    def applies(self, facts: CaseFacts) -> bool:
        return ((not self.urgencies or facts.urgency in self.urgencies)
                and (not self.categories or bool(self.categories & set(facts.categories))))


@dataclass(frozen=True)
class RoutingPolicy:
    fallback: str
    rules: tuple[RoutingRule, ...]

    @classmethod
    def load(cls, path: Path) -> RoutingPolicy:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(
            fallback=data["fallback"],
            rules=tuple(
                RoutingRule(
                    name=r["name"],
                    urgencies=frozenset(Urgency(u) for u in r.get("when", {}).get("urgency", [])),
                    categories=frozenset(r.get("when", {}).get("categories", [])),
                    primary_kinds=tuple(r.get("primary", [])),
                    copy_kinds=tuple(r.get("copy", [])),
                )
                for r in data["rules"]
            ),
        )


@dataclass(frozen=True)
class Route:
    rule: str
    recipients: list[Recipient]


def coverage(partner: Partner, facts: CaseFacts) -> tuple[int, str] | None:
    """How specifically a partner covers a case (higher is closer), and why; None if it does not."""
    if not partner.receives_cases or facts.urgency not in partner.urgencies:
        return None
    if partner.categories and not set(partner.categories) & set(facts.categories):
        return None
    why, score = [], 0
    if partner.countries_of_work:
        if facts.country_of_work not in partner.countries_of_work:
            return None
        why.append(f"covers country of work {facts.country_of_work}")
        score += 2
    if partner.countries_of_origin:
        if facts.country_of_origin not in partner.countries_of_origin:
            return None
        why.append(f"covers country of origin {facts.country_of_origin}")
        score += 1
    if not why:
        why.append("covers every country")
    return score, f"{partner.kind} that {' and '.join(why)} and accepts {facts.urgency.value} cases"


def route(facts: CaseFacts, directory: Directory, policy: RoutingPolicy) -> Route:
    for rule in policy.rules:
        if not rule.applies(facts):
            continue
        covering = [(p, c) for p in directory.partners if (c := coverage(p, facts)) is not None]
        primaries = sorted(((p, c) for p, c in covering if p.kind in rule.primary_kinds),
                           key=lambda pc: (-pc[1][0], rule.primary_kinds.index(pc[0].kind)))
        if not primaries:
            continue
        primary, (_, why) = primaries[0]
        recipients = [Recipient(partner_id=primary.id, role="primary", disclosure=primary.disclosure,
                                reason=f"rule {rule.name}: {why}")]
        recipients += [
            Recipient(partner_id=p.id, role="copy", disclosure=p.disclosure, reason=f"rule {rule.name}: {c[1]}")
            for p, c in covering
            if p.kind in rule.copy_kinds and p.id not in (primary.id, policy.fallback)
        ]
        return Route(rule.name, recipients)
    fallback = directory.get(policy.fallback)
    if fallback is None:
        raise ValueError(f"fallback partner {policy.fallback!r} is not in the directory")
    return Route("fallback", [Recipient(partner_id=fallback.id, role="primary", disclosure=fallback.disclosure,
                                        reason="no rule matched a partner: configured fallback")])
