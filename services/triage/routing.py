"""Routing: a triaged case → its recipients, each with the reason it was chosen, and who was kept out.

Pure code over data: ordered rules (config/routing.yaml) and the partner directory. The first rule whose
conditions hold and that finds a primary recipient decides. The identity shield's rules (services.common.shield)
apply here: an organisation that is, or acts for, the employer or recruiter named in the complaint never
receives the case; the employer's side (brands, agencies, anyone that `represents` a company) receives only
cases about its declared supply chain, facts only, and a case naming no employer goes to no company. Each
recipient's disclosure is what its role allows; whether contact details go with it is decided by intake at
send time from the worker's consent held then.
A critical case (and any case of a rule with `available_now`) always reaches a partner able to respond at
that hour, or raises `no_available_responder` when the directory has none.
Every route also names its escalation, in order: who receives the case when its holder misses an SLA
deadline (the notifier's clocks). Only partners able to answer the worker that were not chosen, never one
the shield bars: the closest covering ones first, then 24/7 partners serving every country that take cases of this
urgency (never, say, another country's embassy).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import yaml

from schemas.models import Disclosure, Excluded, Recipient, Urgency
from services.common.directory import Directory, Partner
from services.common.names import entity_key
from services.common.shield import conflict, employer_side, role_disclosure


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
    consent_share_contact: bool = False  # at routing time: only explains; intake decides at send time
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
    max_escalation: int = 3

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
                   frozenset(Urgency(u) for u in data.get("alert_on", ["critical"])),
                   int(data.get("max_escalation", 3)))


@dataclass(frozen=True)
class Route:
    rule: str
    recipients: list[Recipient]
    excluded: list[Excluded] = field(default_factory=list)
    alerts: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)
    escalation: list[Recipient] = field(default_factory=list)


Covering = list[tuple[Partner, tuple[int, str]]]  # partners that cover a case, with coverage()'s answer


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
    if employer_side(partner) or partner.supply_chain:
        # A company hears only of its declared suppliers' cases; its own sites are barred by the shield
        # (conflict), and a case naming no employer is linked to no company.
        key = entity_key(facts.employer)
        if not key or key not in {entity_key(n) for n in partner.supply_chain}:
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


@dataclass(frozen=True)
class _View:
    """The directory as one case sees it: whom the shield bars, and who covers the case."""
    facts: CaseFacts
    directory: Directory
    barred: frozenset[str]
    covering: Covering


def route(facts: CaseFacts, directory: Directory, policy: RoutingPolicy) -> Route:
    excluded = [Excluded(partner_id=p.id, reason=why) for p in directory.partners
                if (why := conflict(p, facts.employer, facts.recruiter))]
    barred = frozenset(e.partner_id for e in excluded)
    covering = [(p, c) for p in directory.partners
                if p.id not in barred and (c := coverage(p, facts)) is not None]
    view = _View(facts, directory, barred, covering)
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
        head, (closest, (_, why)) = f"rule {rule.name} ({rule.describe(facts)})", ranked[0]
        recipients, alert = _answered_now(view, closest, f"{closest.kind} that {why}", head, rule.primary_kinds,
                                          rule.available_now)
        chosen = {r.partner_id for r in recipients}
        copies = sorted(((p, c) for p, c in covering if p.kind in rule.copy_kinds
                         and p.id not in chosen and p.id != policy.fallback), key=lambda pc: -pc[1][0])
        # An out-of-hours closest partner kept as a copy is not one of the rule's copies: it takes no slot.
        recipients += [_recipient(p, facts, "copy", head, f"{p.kind} that {why}")
                       for p, (_, why) in copies[:rule.max_copies]]
        return Route(rule.name, recipients, excluded, alerts + alert,
                     _escalation(view, recipients, head, policy.max_escalation))
    fallback = directory.get(policy.fallback)
    if fallback is None:
        raise ValueError(f"fallback partner {policy.fallback!r} is not in the directory")
    why = "the configured fallback"
    if fallback.id in barred:  # the shield holds here too: the nearest partner able to act stands in
        barred_why = conflict(fallback, facts.employer, facts.recruiter)
        fallback = _stand_in(view)
        if fallback is None:
            raise ValueError(f"no rule found a partner, the fallback partner {policy.fallback} {barred_why},"
                             " and no other partner can take the case")
        why = f"standing in for the configured fallback {policy.fallback}, which {barred_why}"
        alerts.append(("fallback_barred", f"no rule found a partner and the fallback {policy.fallback} {barred_why};"
                                          f" {fallback.id} received the case"))
    recipients, alert = _answered_now(view, fallback, why, "no rule found a partner", (), False)
    return Route("fallback", recipients, excluded, alerts + alert,
                 _escalation(view, recipients, "no rule found a partner", policy.max_escalation))


def _escalation(view: _View, chosen: list[Recipient], head: str, limit: int) -> list[Recipient]:
    """Who takes the case, in order, when its holder misses a deadline (see the module's docstring)."""
    taken = {r.partner_id for r in chosen}
    covering = sorted(((p, c) for p, c in view.covering if not employer_side(p) and p.id not in taken),
                      key=lambda pc: (-pc[1][0], not pc[0].available_24_7, pc[0].id))
    found = [(p, f"{p.kind} that {why}") for p, (_, why) in covering]
    facts, seen = view.facts, {p.id for p, _ in found} | taken
    found += [(p, f"{p.kind} that takes {facts.urgency.value} cases from every country at any hour")
              for p in sorted(view.directory.partners, key=lambda p: p.id)
              if p.available_24_7 and p.receives_cases and facts.urgency in p.urgencies and p.id not in view.barred
              and not employer_side(p) and p.id not in seen and not (p.countries_of_work or p.countries_of_origin)]
    return [_recipient(p, facts, "escalation", head, f"escalation {i}: {why}")
            for i, (p, why) in enumerate(found[:limit], 1)]


def _stand_in(view: _View) -> Partner | None:
    """Who takes a case no rule placed when the fallback may not: the closest covering partner that can
    answer the worker, else a partner that takes cases of this urgency anywhere (24/7 first)."""
    covering = sorted(((p, c) for p, c in view.covering if not employer_side(p)), key=lambda pc: -pc[1][0])
    if covering:
        return covering[0][0]
    anyone = sorted((p for p in view.directory.partners if p.receives_cases and view.facts.urgency in p.urgencies
                     and p.id not in view.barred and not employer_side(p)),
                    key=lambda p: (not p.available_24_7, bool(p.countries_of_work or p.countries_of_origin), p.id))
    return anyone[0] if anyone else None


def _answered_now(view: _View, closest: Partner, why: str, head: str, kinds: tuple[str, ...],
                  available_now: bool) -> tuple[list[Recipient], list[tuple[str, str]]]:
    """The primary, and whether someone able to respond now had to take its place.

    A critical case, or a rule asking for it, must reach someone who can act at this hour. When the closest
    partner cannot, the best available one becomes primary and the closest keeps a copy; when nobody can,
    the closest stays primary and an operator is alerted."""
    facts = view.facts
    if facts.at is None or not (available_now or facts.urgency == Urgency.critical) or closest.available_at(facts.at):
        return [_recipient(closest, facts, "primary", head, why)], []
    found = _responder(view, kinds, closest.id)
    if found is None:
        return [_recipient(closest, facts, "primary", head, why)], [
            ("no_available_responder", f"no partner able to respond now; {closest.id} notified")]
    responder, how = found
    return [_recipient(responder, facts, "primary", head, f"{responder.kind} that {how}"),
            _recipient(closest, facts, "copy", head, f"{why}; outside its hours")], []


def _responder(view: _View, kinds: tuple[str, ...], closest: str) -> tuple[Partner, str] | None:
    """Who can respond at `facts.at`, and why: the closest covering partner open now (the rule's primary
    kinds first on a tie), else a 24/7 partner taking cases of this urgency beyond what it covers (the
    hotline); never one the shield bars. The employer's side of a supply chain (brands, agencies) gets
    facts only and cannot answer the worker, so it is never the one."""
    facts = view.facts
    now = sorted(((p, c) for p, c in view.covering if not employer_side(p) and p.available_at(facts.at)),
                 key=lambda pc: (-pc[1][0], pc[0].kind not in kinds))
    if now:
        partner, (_, why) = now[0]
        hours = "24/7" if partner.available_24_7 else "in working hours"
        return partner, f"{why}; able to respond now ({hours}), {closest} is not"
    anyone = sorted((p for p in view.directory.partners if p.available_24_7 and p.receives_cases
                     and facts.urgency in p.urgencies and p.id not in view.barred
                     and not employer_side(p)),
                    # unrestricted by country first: the nearest thing to covering the case
                    key=lambda p: (bool(p.countries_of_work or p.countries_of_origin), p.kind not in kinds, p.id))
    if anyone:
        return anyone[0], (f"takes {facts.urgency.value} cases at any hour; able to respond now (24/7), "
                           f"{closest} is not and no partner covering the case is")
    return None


def _recipient(partner: Partner, facts: CaseFacts, role: str, head: str, why: str) -> Recipient:
    """The level the recipient's role allows; contact details go with `full` only while the worker consents."""
    level, note = role_disclosure(partner)
    if level == Disclosure.full and not facts.consent_share_contact:
        note = "contact details only once the worker consents"
    reason = f"{head}: {why}" + (f"; {note}" if note else "")
    return Recipient(partner_id=partner.id, kind=partner.kind, role=role, disclosure=level, reason=reason)
