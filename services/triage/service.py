"""The triage service: grievance.received → classify → route → grievance.triaged + case.routed
(+ operator.alerts), with the partner directory's admin API and the entity counts."""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2.extras
from psycopg2.extras import Json

from schemas import envelope, topics
from schemas.models import (
    CaseRouted,
    CaseView,
    GrievanceReceived,
    GrievanceTriaged,
    OperatorAlert,
    Recipient,
    TriageDecision,
    Urgency,
)
from services.common import db
from services.common import logging as log
from services.common.consumer import Incoming
from services.common.directory import Directory
from services.common.directory_cache import DirectoryCache
from services.common.errors import is_record_fault, safe_text
from services.common.names import entity_key
from services.common.runtime import ConsumerSpec, Service
from services.common.settings import Settings
from services.common.shield import conflict, disclosure_for
from services.triage import admin
from services.triage.assess import unweighed, weigh
from services.triage.classify import Classifier, Ruleset
from services.triage.routing import CaseFacts, Route, RoutingPolicy, route
from services.triage.second_opinion import SecondOpinion
from services.triage.sla import SlaPolicy

GROUP = "triage"
SOURCE = "triage"


@dataclass(frozen=True)
class TriageConfig:
    classifier: Classifier
    sla: SlaPolicy
    routing: RoutingPolicy
    directory: Callable[[], Directory]
    second_opinion: SecondOpinion | None = None  # the service always loads one; without it, the rules alone

    @classmethod
    def load(cls, settings: Settings, directory: Callable[[], Directory]) -> TriageConfig:
        cfg = settings.config_dir
        return cls(Classifier(Ruleset.load(cfg / "triage")), SlaPolicy.load(cfg / "sla.yaml"),
                   RoutingPolicy.load(cfg / "routing.yaml"), directory, SecondOpinion.load(cfg / "triage"))


@dataclass(frozen=True)
class Outcome:
    triaged: GrievanceTriaged
    routed: CaseRouted
    alerts: list[OperatorAlert]


def facts_of(case: GrievanceReceived, decision: TriageDecision, at: datetime) -> CaseFacts:
    return CaseFacts(decision.urgency, tuple(decision.categories), case.country_of_work, case.country_of_origin,
                     case.sector, decision.language, case.employer, case.recruiter, case.consent_share_contact, at)


def triage(case: GrievanceReceived, config: TriageConfig, now: datetime,
           critical_probability: float | None = None) -> Outcome:
    """The whole decision for one case, as the events it produces. Pure but for the directory's reads.

    The rules decide, then the second opinion weighs in (assess.weigh); `critical_probability` is its score
    for this text when the batch was scored at once, else it is scored here.
    Never stops a case: if classification raises, the case is `high` (or the partner's hint, if higher)
    and needs review; if the second opinion raises, the rules' decision stands, reviewed; if routing raises,
    the configured fallback partner receives it. Either way an operator alert names what went wrong. Only a
    dependency outage propagates (the batch is retried)."""
    failures: list[str] = []
    try:
        decision = config.classifier.classify(case.text, language=case.language, urgency_hint=case.urgency_hint,
                                              minor_involved=case.minor_involved)
    except Exception as exc:
        if not is_record_fault(exc):
            raise
        failures.append(f"classification failed ({type(exc).__name__}: {safe_text(exc, 200)})")
        decision = unread_decision(case, config, failures[-1])
    if (model := config.second_opinion) is not None:
        try:
            if critical_probability is None:
                critical_probability = model.critical_probabilities([case.text])[0]
            decision = weigh(decision, critical_probability, model)
        except Exception as exc:  # the rules' decision stands, for a person to look at
            if not is_record_fault(exc):
                raise
            failures.append(f"second opinion failed ({type(exc).__name__}: {safe_text(exc, 200)})")
            decision = unweighed(decision, failures[-1])
    directory = config.directory()
    try:
        chosen: Route = route(facts_of(case, decision, now), directory, config.routing)
    except Exception as exc:
        if not is_record_fault(exc):
            raise
        failures.append(f"routing failed ({type(exc).__name__}: {safe_text(exc, 200)})")
        chosen = fallback_route(case, directory, config.routing, failures[-1])
    # Business-time deadlines run in the primary recipient's working hours.
    sla = config.sla.deadlines(decision.urgency, case.received_at, directory.get(chosen.recipients[0].partner_id))
    triaged = GrievanceTriaged(**dict(decision), case_ref=case.case_ref, partner_id=case.partner_id, sla=sla,
                               triaged_at=now)
    view = CaseView(
        case_ref=case.case_ref, subject_ref=case.subject_ref, submitted_by=case.partner_id, text=case.text,
        language=decision.language, urgency=decision.urgency, categories=decision.categories,
        indicators=decision.indicators, summary=decision.summary, country_of_work=case.country_of_work,
        country_of_origin=case.country_of_origin, sector=case.sector, employer=case.employer,
        recruiter=case.recruiter, sla=sla,
    )
    routed = CaseRouted(case_ref=case.case_ref, rule=chosen.rule, recipients=chosen.recipients,
                        excluded=chosen.excluded, escalation=chosen.escalation, case=view, routed_at=now)
    raised = chosen.alerts + [("triage_failed", f"{f}; sent to {chosen.recipients[0].partner_id}")
                              for f in failures]
    alerts = [OperatorAlert(case_ref=case.case_ref, kind=kind, urgency=decision.urgency, message=message,
                            raised_at=now, service=SOURCE) for kind, message in raised]
    return Outcome(triaged, routed, alerts)


def unread_decision(case: GrievanceReceived, config: TriageConfig, why: str) -> TriageDecision:
    """What a case the classifier could not read is: high at least, and a person must look at it."""
    hint = case.urgency_hint if case.urgency_hint and case.urgency_hint.rank > Urgency.high.rank else Urgency.high
    return TriageDecision(
        urgency=hint, categories=[], indicators=[], iris_principles=[], language=case.language or "und",
        needs_review=True, reasons=[why + ": high until a person reads it"], evidence=[],
        ruleset=config.classifier.rules.version, summary="Not triaged automatically: needs review")


def fallback_route(case: GrievanceReceived, directory: Directory, policy: RoutingPolicy, why: str) -> Route:
    """The configured fallback partner, shield and consent applied; raises if it cannot take the case
    (the record is then dead-lettered, which alerts too)."""
    partner = directory.get(policy.fallback)
    if partner is None:
        raise LookupError(f"{why}, and the fallback partner {policy.fallback!r} is not in the directory")
    if barred := conflict(partner, case.employer, case.recruiter):
        raise LookupError(f"{why}, and the fallback partner {partner.id} {barred}")
    level, note = disclosure_for(partner, case.consent_share_contact)
    reason = f"{why}: the configured fallback" + (f" ({note})" if note else "")
    return Route("fallback", [Recipient(partner_id=partner.id, kind=partner.kind, role="primary",
                                        disclosure=level, reason=reason)])


def entity_rows(case: GrievanceReceived, urgency: str) -> list[tuple]:
    return [(case.case_ref, role, key, name, case.partner_id, case.country_of_work, urgency)
            for role, name in (("employer", case.employer), ("recruiter", case.recruiter))
            if name and (key := entity_key(name))]


def make_handler(config: TriageConfig):
    logger = log.get().bind(component="triage")

    def handle(cur: db.Cursor, records: list[Incoming]) -> list[envelope.Message]:
        now = datetime.now(UTC)
        cases: dict[str, tuple[str, GrievanceReceived]] = {}
        for rec in records:
            case = envelope.decode(topics.RECEIVED, rec.value or b"")
            cases.setdefault(case.case_ref, (rec.event_id, case))
        # The second opinion scores the whole batch at once: a fraction of the cost of one text at a time.
        model = config.second_opinion
        try:
            scores = model.critical_probabilities([case.text for _, case in cases.values()]) if model else None
        except Exception as exc:  # each case is then scored alone in triage(), where a failure is its own
            if not is_record_fault(exc):
                raise
            scores = None
        decided: dict[str, tuple[str, GrievanceReceived, Outcome]] = {
            ref: (event_id, case, triage(case, config, now, scores[i] if scores else None))
            for i, (ref, (event_id, case)) in enumerate(cases.items())}
        inserted = psycopg2.extras.execute_values(
            cur, "INSERT INTO triage.decisions (case_ref, input, urgency, categories, indicators, decision,"
            " routing, ruleset) VALUES %s ON CONFLICT (case_ref) DO NOTHING RETURNING case_ref",
            [(ref, Json(case.model_dump(mode="json")), o.triaged.urgency.value, Json(o.triaged.categories),
              Json(o.triaged.indicators), Json(o.triaged.model_dump(mode="json")),
              Json(o.routed.model_dump(mode="json", exclude={"case"})), o.triaged.ruleset)
             for ref, (_, case, o) in decided.items()],
            fetch=True)
        fresh = [decided[ref] for (ref,) in inserted]  # a case triaged before (a replay) says nothing new
        for ref in decided.keys() - {ref for (ref,) in inserted}:
            logger.info("duplicate_dropped", reason="case already triaged", case_ref=ref, event_id=decided[ref][0])
        psycopg2.extras.execute_values(
            cur, "INSERT INTO triage.case_entities (case_ref, role, entity_key, name, partner_id, country, urgency)"
            " VALUES %s ON CONFLICT DO NOTHING",
            [row for _, case, o in fresh for row in entity_rows(case, o.triaged.urgency.value)])
        out = []
        for event_id, case, o in fresh:
            logger.info("case_triaged", case_ref=case.case_ref, event_id=event_id, urgency=o.triaged.urgency.value,
                        rule=o.routed.rule, recipients=[r.partner_id for r in o.routed.recipients])
            out.append(envelope.encode(topics.TRIAGED, o.triaged, id=envelope.event_id("triaged", event_id),
                                       source=SOURCE))
            out.append(envelope.encode(topics.ROUTED, o.routed, id=envelope.event_id("routed", event_id),
                                       source=SOURCE))
            out += [envelope.encode(topics.ALERTS, a, id=envelope.event_id("alert", event_id, a.kind), source=SOURCE)
                    for a in o.alerts]
        return out

    return handle


def build(settings: Settings) -> Service:
    cache = DirectoryCache(settings.database_url)
    config = TriageConfig.load(settings, cache.get)
    # The ruleset (some 35,000 terms and the automaton's values) lives as long as the process: kept out of the
    # collector's generations, each collection stops walking it (about 5% of triage time).
    gc.freeze()
    service = Service("triage", settings, consumers=[ConsumerSpec(GROUP, [topics.RECEIVED.name], make_handler(config))])
    def on_directory_change() -> None:
        cache.invalidate()
        service.relay.wake.set()

    service.routers.append(admin.router(settings, db.Pool(settings.database_url), on_directory_change))
    return service
