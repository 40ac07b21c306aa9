"""The triage service: grievance.received → classify → route → grievance.triaged + case.routed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg2.extras
from psycopg2.extras import Json

from schemas import envelope, topics
from schemas.models import CaseRouted, CaseView, GrievanceReceived, GrievanceTriaged
from services.common import db, directory
from services.common import logging as log
from services.common.consumer import Incoming
from services.common.runtime import ConsumerSpec, Service
from services.common.settings import Settings
from services.triage.classify import Classifier, Ruleset
from services.triage.routing import CaseFacts, RoutingPolicy, route
from services.triage.sla import SlaPolicy

GROUP = "triage"
SOURCE = "triage"


@dataclass(frozen=True)
class TriageConfig:
    classifier: Classifier
    sla: SlaPolicy
    routing: RoutingPolicy
    directory: directory.Directory

    @classmethod
    def load(cls, settings: Settings) -> TriageConfig:
        cfg = settings.config_dir
        return cls(Classifier(Ruleset.load(cfg / "triage")), SlaPolicy.load(cfg / "sla.yaml"),
                   RoutingPolicy.load(cfg / "routing.yaml"), directory.load(cfg))


def triage(case: GrievanceReceived, config: TriageConfig, now: datetime) -> tuple[GrievanceTriaged, CaseRouted]:
    """The whole decision for one case, as the two events it produces. Pure."""
    decision = config.classifier.classify(case.text, language=case.language, urgency_hint=case.urgency_hint,
                                          minor_involved=case.minor_involved)
    sla = config.sla.deadlines(decision.urgency, case.received_at)
    triaged = GrievanceTriaged(
        case_ref=case.case_ref, partner_id=case.partner_id, urgency=decision.urgency,
        categories=decision.categories, indicators=decision.indicators, language=decision.language,
        needs_review=decision.needs_review, reasons=decision.reasons, evidence=decision.evidence,
        iris_principles=decision.iris_principles, ruleset=decision.ruleset, summary=decision.summary, sla=sla,
        triaged_at=now,
    )
    facts = CaseFacts(decision.urgency, tuple(decision.categories), case.country_of_work, case.country_of_origin)
    chosen = route(facts, config.directory, config.routing)
    view = CaseView(
        case_ref=case.case_ref, subject_ref=case.subject_ref, submitted_by=case.partner_id, text=case.text,
        language=decision.language, urgency=decision.urgency, categories=decision.categories,
        indicators=decision.indicators, summary=decision.summary, country_of_work=case.country_of_work,
        country_of_origin=case.country_of_origin, sector=case.sector, employer=case.employer,
        recruiter=case.recruiter, sla=sla,
    )
    routed = CaseRouted(case_ref=case.case_ref, rule=chosen.rule, recipients=chosen.recipients, case=view,
                        routed_at=now)
    return triaged, routed


def make_handler(config: TriageConfig):
    logger = log.get().bind(component="triage")

    def handle(cur: db.Cursor, records: list[Incoming]) -> list[envelope.Message]:
        now = datetime.now(UTC)
        decided = {}
        for rec in records:
            case = envelope.decode(topics.RECEIVED, rec.value or b"")
            decided.setdefault(case.case_ref, (rec.event_id, case, *triage(case, config, now)))
        inserted = psycopg2.extras.execute_values(
            cur, "INSERT INTO triage.decisions (case_ref, input, urgency, categories, indicators, decision,"
            " routing, ruleset) VALUES %s ON CONFLICT (case_ref) DO NOTHING RETURNING case_ref",
            [(ref, Json(case.model_dump(mode="json")), t.urgency.value, Json(t.categories), Json(t.indicators),
              Json(t.model_dump(mode="json")), Json(r.model_dump(mode="json", exclude={"case"})), t.ruleset)
             for ref, (_, case, t, r) in decided.items()],
            fetch=True)
        out = []
        # A case triaged before under another event id (a replay) is not announced again.
        for (ref,) in inserted:
            event_id, _, triaged, routed = decided[ref]
            logger.info("case_triaged", case_ref=ref, event_id=event_id, urgency=triaged.urgency.value,
                        rule=routed.rule, recipients=[r.partner_id for r in routed.recipients])
            out.append(envelope.encode(topics.TRIAGED, triaged, id=envelope.event_id("triaged", event_id),
                                       source=SOURCE))
            out.append(envelope.encode(topics.ROUTED, routed, id=envelope.event_id("routed", event_id),
                                       source=SOURCE))
        return out

    return handle


def build(settings: Settings) -> Service:
    config = TriageConfig.load(settings)
    return Service("triage", settings, consumers=[ConsumerSpec(GROUP, [topics.RECEIVED.name], make_handler(config))])
