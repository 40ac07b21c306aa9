"""`grievance what-if`: replay stored triage inputs through a candidate ruleset and directory, emit
nothing, and report what would change, so a rule change is reviewed before it ships."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from schemas.models import GrievanceReceived, Urgency
from services.common import db
from services.common.directory import Directory, load_yaml
from services.triage import directory_store
from services.triage.assess import weigh_all
from services.triage.classify import Classifier, Ruleset
from services.triage.routing import CaseFacts, RoutingPolicy, route
from services.triage.second_opinion import SecondOpinion


@dataclass(frozen=True)
class Change:
    case_ref: str
    urgency_before: str
    urgency_after: str
    added: list[str]
    removed: list[str]
    rule_before: str
    rule_after: str

    @property
    def direction(self) -> str:
        before, after = Urgency(self.urgency_before).rank, Urgency(self.urgency_after).rank
        return "up" if after > before else "down" if after < before else "same"


def compare(case_ref: str, before: dict, after_urgency: str, after_rule: str, after_recipients: list[str]) -> Change:
    was = [r["partner_id"] for r in before["routing"]["recipients"]]
    return Change(case_ref, before["urgency"], after_urgency, sorted(set(after_recipients) - set(was)),
                  sorted(set(was) - set(after_recipients)), before["routing"]["rule"], after_rule)


def what_if(conn: db.Connection, classifier: Classifier, policy: RoutingPolicy, directory: Directory | None,
            since: datetime | None, second_opinion: SecondOpinion | None = None) -> tuple[int, list[Change]]:
    """As the service decides: the rules, then the second opinion over the batch (else a case the model raised
    would show as a change down)."""
    with db.transaction(conn) as cur:
        directory = directory or directory_store.load(cur)
        cur.execute("SELECT case_ref, input, urgency, routing, triaged_at FROM triage.decisions"
                    " WHERE %s::timestamptz IS NULL OR triaged_at >= %s ORDER BY triaged_at", (since, since))
        rows = cur.fetchall()
    cases = [GrievanceReceived.model_validate(row[1]) for row in rows]
    decisions = weigh_all([classifier.classify(c.text, language=c.language, urgency_hint=c.urgency_hint,
                                               minor_involved=c.minor_involved) for c in cases],
                          [c.text for c in cases], second_opinion)
    changes = []
    for (case_ref, _, urgency, routing, triaged_at), case, d in zip(rows, cases, decisions, strict=True):
        facts = CaseFacts(d.urgency, tuple(d.categories), case.country_of_work, case.country_of_origin, case.sector,
                          d.language, case.employer, case.recruiter, case.consent_share_contact, triaged_at)
        r = route(facts, directory, policy)
        change = compare(case_ref, {"urgency": urgency, "routing": routing}, d.urgency.value, r.rule,
                         [x.partner_id for x in r.recipients])
        if change.direction != "same" or change.added or change.removed:
            changes.append(change)
    return len(rows), changes


def report(total: int, changes: list[Change]) -> dict:
    return {
        "cases": total, "changed": len(changes),
        "urgency_up": sum(c.direction == "up" for c in changes),
        "urgency_down": sum(c.direction == "down" for c in changes),
        "recipients_added": sum(len(c.added) for c in changes),
        "recipients_removed": sum(len(c.removed) for c in changes),
        "changes": [{**asdict(c), "direction": c.direction} for c in changes],
    }


def table(summary: dict) -> str:
    lines = [f"{summary['cases']} cases re-run, {summary['changed']} would change: urgency up "
             f"{summary['urgency_up']}, down {summary['urgency_down']}; recipients added "
             f"{summary['recipients_added']}, removed {summary['recipients_removed']}"]
    if summary["changes"]:
        lines.append(f"{'case':<18} {'urgency':<20} {'rule':<46} recipients")
    for c in summary["changes"]:
        urgency = c["urgency_before"] if c["direction"] == "same" else f"{c['urgency_before']} → {c['urgency_after']}"
        rule = c["rule_before"] if c["rule_before"] == c["rule_after"] else f"{c['rule_before']} → {c['rule_after']}"
        delta = " ".join([f"+{p}" for p in c["added"]] + [f"-{p}" for p in c["removed"]])
        lines.append(f"{c['case_ref']:<18} {urgency:<20} {rule:<46} {delta}")
    return "\n".join(lines)


def run(database_url: str, config_dir: Path, rules: Path | None, directory_file: Path | None,
        triage_rules: Path | None, since: str | None, as_json: bool) -> int:
    classifier = Classifier(Ruleset.load(triage_rules or config_dir / "triage"))
    policy = RoutingPolicy.load(rules or config_dir / "routing.yaml")
    directory = Directory.model_validate(load_yaml(directory_file)) if directory_file else None
    conn = db.connect(database_url)
    try:
        # The candidate rules' own model if they carry one, else the deployed one.
        model = SecondOpinion.load_if_present(triage_rules) if triage_rules else None
        model = model or SecondOpinion.load_if_present(config_dir / "triage")
        total, changes = what_if(conn, classifier, policy, directory,
                                 datetime.fromisoformat(since) if since else None, model)
    finally:
        conn.close()
    summary = report(total, changes)
    print(json.dumps(summary, indent=2, ensure_ascii=False) if as_json else table(summary))
    return 0
