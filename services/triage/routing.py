"""Routing: a triaged case → its recipients, each with the reason it was chosen, and who was kept out.

Pure code over data: ordered rules (config/routing.yaml) and the partner directory. The first rule whose
conditions hold and that finds a primary recipient decides. The identity shield's rules (services.common.shield)
apply here: an organisation that is, or acts for, the employer or recruiter named in the complaint never
receives the case, and each recipient's disclosure level is capped by its kind and the worker's consent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from schemas.models import Excluded, Recipient, Urgency
from services.common.directory import Directory, Partner
from services.common.names import entity_key
from services.common.shield import conflict, disclosure_for


@dataclass(frozen=True)
class CaseFacts:
    urgency: Urgency
    categories: tuple[str, ...]
    country_of_work: str | None
    country_of_origin: str | None
    sector: str | None = None
    language: str | None = None
    employer: str | None = None
    recruiter: str | None = None
    consent_share_contact: bool = False
    at: datetime | None = None  # when the routing happens (for working hours)

    def value(self, key: str):
        if key == "employer_named":
            return self.employer is not None
        if key == "recruiter_named":
            return self.recruiter is not None
        return getattr(self, key)


CONDITIONS = ("urgency", "categories", "country_of_work", "country_of_origin", "sector", "language",
              "employer_named", "recruiter_named")


@dataclass(frozen=True)
class RoutingRule:
    name: str
    when: dict[str, tuple]
    primary_kinds: tuple[str, ...]
    copy_kinds: tuple[str, ...] = ()
    max_copies: int = 3
    available_now: bool = False  # the primary must be able to respond now

    def applies(self, facts: CaseFacts) -> bool:
        for key, allowed in self.when.items():
            value = facts.value(key)
            if key == "categories":
                if not set(allowed) & set(value):
                    return False
            elif value not in allowed:
                return False
        return True

    def describe(self, facts: CaseFacts) -> str:
        """The facts of the case that made this rule apply, e.g. "urgency high; categories wage_theft"."""
        parts = []
        for key, allowed in self.when.items():
            value = facts.value(key)
            if key == "categories":
                value = "+".join(c for c in value if c in allowed)
            parts.append(f"{key} {getattr(value, 'value', value)}")
        return "; ".join(parts) or "any case"


@dataclass(frozen=True)
class RoutingPolicy:
    fallback: str
    rules: tuple[RoutingRule, ...]
    alert_urgencies: frozenset[Urgency] = frozenset({Urgency.critical})

    @classmethod
    def load(cls, path: Path) -> RoutingPolicy:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        rules = []
        for r in data["rules"]:
            when = {}
            for key, value in (r.get("when") or {}).items():
                if key not in CONDITIONS:
                    raise ValueError(f"rule {r['name']}: unknown condition {key!r}; expected one of {CONDITIONS}")
                values = value if isinstance(value, list) else [value]
                when[key] = tuple(Urgency(v) for v in values) if key == "urgency" else tuple(values)
            primary, copy = r.get("primary") or {}, r.get("copy") or {}
            rules.append(RoutingRule(r["name"], when, tuple(primary.get("kinds", ())), tuple(copy.get("kinds", ())),
                                     int(copy.get("max", 3)), bool(primary.get("available_now", False))))
        return cls(data["fallback"], tuple(rules),
                   frozenset(Urgency(u) for u in data.get("alert_on", ["critical"])))


@dataclass(frozen=True)
class Route:
    rule: str
    recipients: list[Recipient]
    excluded: list[Excluded] = field(default_factory=list)
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)


def coverage(partner: Partner, facts: CaseFacts) -> tuple[int, str] | None:
    """How closely a partner covers a case (higher is closer) and why; None if it does not."""
    if not partner.receives_cases or facts.urgency not in partner.urgencies:
        return None
    if partner.categories and not set(partner.categories) & set(facts.categories):
        return None
    why, score = [], 0
    for attr, label, weight in (("countries_of_work", "country of work", 4), ("countries_of_origin",
                                                                             "country of origin", 2)):
        allowed = getattr(partner, attr)
        value = facts.country_of_work if attr == "countries_of_work" else facts.country_of_origin
        if allowed:
            if value not in allowed:
                return None
            why.append(f"covers {label} {value}")
            score += weight
    if partner.sectors:
        if facts.sector is None or not any(s.lower() in facts.sector.lower() for s in partner.sectors):
            return None
        why.append(f"works in {facts.sector}")
        score += 1
    if partner.supply_chain:
        if entity_key(facts.employer) not in {entity_key(n) for n in partner.supply_chain}:
            return None
        why.append(f"buys from {facts.employer}")
        score += 1
    if partner.languages and facts.language in partner.languages:
        why.append(f"works in {facts.language}")
        score += 1
    if partner.categories:
        why.append(f"handles {', '.join(sorted(set(partner.categories) & set(facts.categories)))}")
        score += 1
    return score, ", ".join(why or ["covers every country"])


def route(facts: CaseFacts, directory: Directory, policy: RoutingPolicy) -> Route:
    excluded = [Excluded(partner_id=p.id, reason=why) for p in directory.partners
                if (why := conflict(p, facts.employer, facts.recruiter))]
    barred = {e.partner_id for e in excluded}
    covering = [(p, c) for p in directory.partners
                if p.id not in barred and (c := coverage(p, facts)) is not None]
    alerts = []
    if facts.urgency in policy.alert_urgencies:
        alerts.append(("critical_case", f"{facts.urgency.value} case: {', '.join(facts.categories)}"))
    for rule in policy.rules:
        if not rule.applies(facts):
            continue
        ranked = sorted(((p, c) for p, c in covering if p.kind in rule.primary_kinds),
                        key=lambda pc: (-pc[1][0], rule.primary_kinds.index(pc[0].kind)))
        if not ranked:
            continue
        recipients: list[Recipient] = []
        primary, why = ranked[0][0], ranked[0][1][1]
        if rule.available_now and facts.at is not None and not primary.available_at(facts.at):
            now = [(p, c) for p, c in covering if p.available_at(facts.at)]
            now.sort(key=lambda pc: (-pc[1][0], pc[0].kind not in rule.primary_kinds))
            if now:
                closest = primary
                primary, why = now[0][0], f"{now[0][1][1]}; able to respond now (" + (
                    "24/7" if now[0][0].available_24_7 else "in working hours") + f"), {closest.id} is not"
                recipients.append(_recipient(closest, facts, "copy", rule, ranked[0][1][1] + "; outside its hours"))
            else:
                alerts.append(("no_available_responder", f"no partner able to respond now; {primary.id} notified"))
        recipients.insert(0, _recipient(primary, facts, "primary", rule, why))
        chosen = {r.partner_id for r in recipients}
        copies = sorted(((p, c) for p, c in covering if p.kind in rule.copy_kinds
                         and p.id not in chosen and p.id != policy.fallback), key=lambda pc: -pc[1][0])
        room = max(0, rule.max_copies - (len(recipients) - 1))
        recipients += [_recipient(p, facts, "copy", rule, c[1]) for p, c in copies[:room]]
        return Route(rule.name, recipients, excluded, alerts)
    fallback = directory.get(policy.fallback)
    if fallback is None:
        raise ValueError(f"fallback partner {policy.fallback!r} is not in the directory")
    level, note = disclosure_for(fallback, facts.consent_share_contact)
    recipients = [Recipient(partner_id=fallback.id, kind=fallback.kind, role="primary", disclosure=level,
                            reason="no rule found a partner: the configured fallback" + (f" ({note})" if note else ""))]
    return Route("fallback", recipients, excluded, alerts)


def _recipient(partner: Partner, facts: CaseFacts, role: str, rule: RoutingRule, why: str) -> Recipient:
    level, note = disclosure_for(partner, facts.consent_share_contact)
    reason = f"rule {rule.name} ({rule.describe(facts)}): {partner.kind} that {why}" + (f"; {note}" if note else "")
    return Recipient(partner_id=partner.id, kind=partner.kind, role=role, disclosure=level, reason=reason)
