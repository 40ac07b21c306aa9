"""Intake's use of its own schema: accept a submission, keep rejected input, project case status."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg2.extras
from psycopg2.extras import Json

from schemas import envelope, topics
from schemas.models import (
    MAX_ID_CHARS,
    CaseRouted,
    CaseSlaBreached,
    CaseUpdated,
    ConsentChanged,
    Contact,
    Disclosure,
    FieldError,
    GrievanceReceived,
    GrievanceTriaged,
    NotificationDelivered,
    NotificationFailed,
    PartnerSubmission,
    WorkerMessage,
)
from services.common import db
from services.common.directory import Partner
from services.common.shield import conflict, disclosure_for, role_disclosure
from services.common.vault import DataVault
from services.intake import lifecycle
from services.intake.identity import Vault
from services.intake.validation import (
    MAX_ERRORS,
    InvalidSubmission,
    dedupe_key,
    kept_body,
    parse_submission,
    printable,
)

SOURCE = "intake"
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U to misread


def new_case_ref() -> str:
    return "GRV-" + "".join(secrets.choice(_ALPHABET) for _ in range(12))


@dataclass(frozen=True)
class Accepted:
    case_ref: str
    duplicate: bool
    messages: list[envelope.Message]


def accept(cur: db.Cursor, submission: PartnerSubmission, *, source: str, vault: Vault) -> Accepted:
    """Store a valid submission once per (partner, external id); emit grievance.received the first time."""
    partner_id = submission.partner_id
    if partner_id is None:  # kept under python -O, unlike an assert: who submitted decides everything
        raise ValueError("a submission is accepted only with the partner that sent it")
    external_id = dedupe_key(submission)
    subject_ref = vault.subject_ref(partner_id, external_id, submission.contact)
    case_ref = new_case_ref()
    cur.execute(
        "INSERT INTO intake.cases (case_ref, partner_id, external_id, subject_ref, source, employer, recruiter)"
        " VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (partner_id, external_id) DO NOTHING RETURNING case_ref",
        (case_ref, partner_id, external_id, subject_ref, source, submission.employer, submission.recruiter),
    )
    if cur.fetchone() is None:
        return Accepted(case_ref_for(cur, partner_id, external_id) or "", True, [])
    if submission.contact:
        cur.execute("INSERT INTO intake.contacts (case_ref, ciphertext, consent_share, consent_contact_back)"
                    " VALUES (%s,%s,%s,%s)", (case_ref, vault.encrypt(submission.contact),
                                              submission.consent.share_contact, submission.consent.contact_back))
    event = GrievanceReceived(
        case_ref=case_ref, partner_id=partner_id, external_id=external_id, subject_ref=subject_ref,
        text=submission.text, language=submission.language, country_of_work=submission.country_of_work,
        country_of_origin=submission.country_of_origin, sector=submission.sector, employer=submission.employer,
        recruiter=submission.recruiter, channel=submission.channel, urgency_hint=submission.urgency_hint,
        minor_involved=submission.minor_involved, consent_share_contact=submission.consent.share_contact,
        has_contact=submission.contact is not None, received_at=datetime.now(UTC),
    )
    message = envelope.encode(topics.RECEIVED, event, id=envelope.event_id("received", case_ref), source=SOURCE)
    return Accepted(case_ref, False, [message])


def keep_rejected(cur: db.Cursor, *, source: str, source_ref: str, body: bytes, errors: list[FieldError],
                  partner_id: str | None, external_id: str | None, vault: DataVault,
                  declared_size: int | None = None, cut_off: bool = False) -> None:
    """Keep a rejection whatever it holds: at most 64 KiB of the body (with its size and digest), and
    every text made storable, since failing here would lose the rejection and answer 500. The body may
    hold contact details and the complaint, so it is sealed; what an operator sorts rejections by (the
    partner, its id, the errors, size and digest) stays in clear."""
    kept = kept_body(body, declared=declared_size, cut_off=cut_off)
    cur.execute(
        "INSERT INTO intake.rejected_submissions (source, source_ref, partner_id, external_id, body, body_sealed,"
        " errors, body_size, body_sha256, body_truncated) VALUES (%s,%s,%s,%s,%s,true,%s,%s,%s,%s)"
        " ON CONFLICT (source_ref) DO NOTHING",
        (source, printable(source_ref, 300), partner_id and printable(partner_id, 64),
         external_id and printable(external_id, MAX_ID_CHARS), vault.encrypt_bytes(kept.head),
         Json([{k: printable(v, 500) for k, v in e.model_dump().items()} for e in errors[:MAX_ERRORS]]),
         kept.size, kept.sha256, kept.truncated),
    )


@dataclass(frozen=True)
class Rejected:
    source: str
    source_ref: str
    partner_id: str | None
    external_id: str | None
    body: bytes  # opened: for the operator who asked, never logged
    errors: list[dict[str, str]]
    body_size: int | None
    body_sha256: str | None
    body_truncated: bool
    created_at: datetime


def read_rejected(cur: db.Cursor, source_ref: str, vault: DataVault) -> Rejected | None:
    """A kept rejection with its body opened (a row kept before sealing existed is read as it is)."""
    cur.execute("SELECT source, source_ref, partner_id, external_id, body, body_sealed, errors, body_size,"
                " body_sha256, body_truncated, created_at FROM intake.rejected_submissions WHERE source_ref = %s",
                (source_ref,))
    row = cur.fetchone()
    if row is None:
        return None
    body = vault.decrypt_bytes(bytes(row[4])) if row[5] else bytes(row[4])
    return Rejected(row[0], row[1], row[2], row[3], body, row[6], row[7], row[8], row[9], row[10])


def refile_rejected(cur: db.Cursor, rejected: Rejected, vault: Vault, body: bytes | None = None) -> Accepted:
    """An operator's second try at a kept rejection, as the partner it was kept under, with its body or
    a repaired one: validated again exactly as a submission is. Raises NotJson or InvalidSubmission."""
    if not rejected.partner_id:
        raise InvalidSubmission([FieldError(loc="partner_id", msg="the rejection names no partner",
                                            type="missing")], None, rejected.external_id)
    submission = parse_submission(rejected.body if body is None else body, partner_id=rejected.partner_id)
    return accept(cur, submission, source=rejected.source, vault=vault)


def case_identity(cur: db.Cursor, case_ref: str) -> tuple[str, str] | None:
    """(partner id, external id) of a case: what its submission and its rejections are filed under."""
    cur.execute("SELECT partner_id, external_id FROM intake.cases WHERE case_ref = %s", (case_ref,))
    row = cur.fetchone()
    return (row[0], row[1]) if row else None


def erase_case(cur: db.Cursor, case_ref: str) -> dict[str, int]:
    """Intake's own part of erasing a case: the rejections of its submission (by the partner's external id),
    then the case itself with what hangs on it (contact details, delivery status: ON DELETE CASCADE).
    Rows elsewhere that name the case are the erasure command's (services/devtools/erase.py)."""
    identity = case_identity(cur, case_ref)
    if identity is None:
        return {}
    cur.execute("DELETE FROM intake.rejected_submissions WHERE partner_id = %s AND external_id = %s", identity)
    removed = {"intake.rejected_submissions": cur.rowcount}
    cur.execute("DELETE FROM intake.cases WHERE case_ref = %s", (case_ref,))
    removed["intake.cases"] = cur.rowcount
    return removed


# ------------------------------------------------------------------ status projection


def project_triaged(cur: db.Cursor, events: list[GrievanceTriaged]) -> None:
    psycopg2.extras.execute_values(
        cur, "UPDATE intake.cases c SET urgency = v.urgency, categories = v.categories::jsonb,"
        " triaged_at = v.triaged_at::timestamptz FROM (VALUES %s) AS v(case_ref, urgency, categories, triaged_at)"
        " WHERE c.case_ref = v.case_ref",
        [(e.case_ref, e.urgency.value, Json(e.categories), e.triaged_at) for e in events])
    project_language(cur, events)


def project_routed(cur: db.Cursor, events: list[CaseRouted]) -> None:
    psycopg2.extras.execute_values(
        cur, "INSERT INTO intake.case_deliveries (case_ref, recipient, channel, status, attempts, updated_at,"
        " routed_disclosure) VALUES %s ON CONFLICT (case_ref, recipient) DO UPDATE"
        " SET routed_disclosure = EXCLUDED.routed_disclosure WHERE intake.case_deliveries.routed_disclosure IS NULL",
        [(e.case_ref, r.partner_id, "webhook", "pending", 0, e.routed_at, r.disclosure.value)
         for e in events for r in e.recipients])
    psycopg2.extras.execute_values(
        cur, "INSERT INTO intake.case_escalation (case_ref, partner_id, disclosure) SELECT v.* FROM (VALUES %s)"
        " AS v(case_ref, partner_id, disclosure) WHERE EXISTS (SELECT 1 FROM intake.cases c"
        " WHERE c.case_ref = v.case_ref) ON CONFLICT DO NOTHING",
        [(e.case_ref, r.partner_id, r.disclosure.value) for e in events for r in e.escalation])


def project_notifications(cur: db.Cursor, events: list[NotificationDelivered | NotificationFailed]) -> None:
    latest: dict[tuple[str, str], NotificationDelivered | NotificationFailed] = {}
    for e in events:  # one row per delivery and statement: delivered wins, then the latest attempt
        key = (e.case_ref, e.recipient)
        if key not in latest or _progress(e) > _progress(latest[key]):
            latest[key] = e
    rows = []
    for e in latest.values():
        if isinstance(e, NotificationDelivered):
            rows.append((e.case_ref, e.recipient, e.channel, "delivered", e.attempts, None, e.delivered_at))
        else:
            rows.append((e.case_ref, e.recipient, e.channel, "failed" if e.final else "retrying", e.attempts,
                         e.error, e.failed_at))
    # A late "retrying" must never overwrite "delivered".
    psycopg2.extras.execute_values(
        cur, "INSERT INTO intake.case_deliveries (case_ref, recipient, channel, status, attempts, detail, updated_at)"
        " VALUES %s ON CONFLICT (case_ref, recipient) DO UPDATE SET status = EXCLUDED.status,"
        " attempts = EXCLUDED.attempts, detail = EXCLUDED.detail, updated_at = EXCLUDED.updated_at,"
        " channel = EXCLUDED.channel WHERE intake.case_deliveries.status <> 'delivered'", rows)


def project_breaches(cur: db.Cursor, events: list[CaseSlaBreached]) -> None:
    """Keep each breach once (a replay is the same breach); one of an erased case is dropped."""
    psycopg2.extras.execute_values(
        cur, "INSERT INTO intake.sla_breaches (case_ref, recipient, clock, deadline, breached_at, escalated_to)"
        " SELECT v.* FROM (VALUES %s) AS v(case_ref, recipient, clock, deadline, breached_at, escalated_to)"
        " WHERE EXISTS (SELECT 1 FROM intake.cases c WHERE c.case_ref = v.case_ref) ON CONFLICT DO NOTHING",
        [(e.case_ref, e.recipient, e.clock, e.deadline, e.breached_at, e.escalated_to) for e in events],
        template="(%s, %s, %s, %s::timestamptz, %s::timestamptz, %s)")
    # The partner the case went to becomes a recipient, at the level triage's signed escalation list gave
    # it: only a partner on that list, so a breach event can never widen who sees the case.
    psycopg2.extras.execute_values(
        cur, "INSERT INTO intake.case_deliveries (case_ref, recipient, channel, status, attempts, updated_at,"
        " routed_disclosure) SELECT x.case_ref, x.partner_id, 'webhook', 'pending', 0, v.at::timestamptz,"
        " x.disclosure FROM (VALUES %s) AS v(case_ref, partner_id, at) JOIN intake.case_escalation x"
        " USING (case_ref, partner_id) ON CONFLICT (case_ref, recipient) DO UPDATE"
        " SET routed_disclosure = EXCLUDED.routed_disclosure WHERE intake.case_deliveries.routed_disclosure IS NULL",
        [(e.case_ref, e.escalated_to, e.breached_at) for e in events if e.escalated_to])


def _progress(e: NotificationDelivered | NotificationFailed) -> tuple[bool, int]:
    return isinstance(e, NotificationDelivered), e.attempts


def case_ref_for(cur: db.Cursor, partner_id: str, external_id: str) -> str | None:
    cur.execute("SELECT case_ref FROM intake.cases WHERE partner_id = %s AND external_id = %s",
                (partner_id, external_id))
    row = cur.fetchone()
    return row[0] if row else None


def case_status(cur: db.Cursor, case_ref: str, partner_id: str) -> dict[str, Any] | None:
    cur.execute(
        "SELECT case_ref, external_id, urgency, categories, received_at, triaged_at FROM intake.cases"
        " WHERE case_ref = %s AND partner_id = %s", (case_ref, partner_id))
    row = cur.fetchone()
    if row is None:
        return None
    cur.execute("SELECT recipient, channel, status, attempts, detail, updated_at FROM intake.case_deliveries"
                " WHERE case_ref = %s ORDER BY recipient", (case_ref,))
    deliveries = [dict(zip(("recipient", "channel", "status", "attempts", "detail", "updated_at"), d, strict=True))
                  for d in cur.fetchall()]
    cur.execute("SELECT recipient, clock, deadline, breached_at, escalated_to FROM intake.sla_breaches"
                " WHERE case_ref = %s ORDER BY breached_at, recipient, clock", (case_ref,))
    breaches = [dict(zip(("recipient", "clock", "deadline", "breached_at", "escalated_to"), b, strict=True))
                for b in cur.fetchall()]
    return {
        "case_ref": row[0], "external_id": row[1], "status": derive_status(row[5] is not None, deliveries),
        "urgency": row[2], "categories": row[3], "received_at": row[4], "triaged_at": row[5],
        "deliveries": deliveries, "sla_breaches": breaches,
    }


def derive_status(triaged: bool, deliveries: list[dict[str, Any]]) -> str:
    states = {d["status"] for d in deliveries}
    if states and states == {"delivered"}:
        return "delivered"
    if "failed" in states:
        return "delivery_failed"
    if states:
        return "routed"
    return "triaged" if triaged else "received"


# ------------------------------------------------------------------ consent and disclosure


@dataclass(frozen=True)
class ConsentNow:
    share_contact: bool
    contact_back: bool
    message: envelope.Message


def set_consent(cur: db.Cursor, case_ref: str, partner_id: str, share_contact: bool, actor: str,
                contact_back: bool | None = None) -> ConsentNow:
    """Record the worker's consent as relayed by the submitting partner (`contact_back` None: unchanged).
    Raises LookupError: for another partner's case exactly as for a missing one."""
    cur.execute("SELECT k.case_ref IS NOT NULL FROM intake.cases c LEFT JOIN intake.contacts k USING (case_ref)"
                " WHERE c.case_ref = %s AND c.partner_id = %s", (case_ref, partner_id))
    row = cur.fetchone()
    if row is None:
        raise LookupError(no_case(case_ref, partner_id))
    if not row[0]:
        raise LookupError(f"case {case_ref} holds no contact details: there is no consent to record")
    cur.execute("UPDATE intake.contacts SET consent_share = %s,"
                " consent_contact_back = COALESCE(%s, consent_contact_back), consent_changed_at = now()"
                " WHERE case_ref = %s RETURNING consent_contact_back", (share_contact, contact_back, case_ref))
    back = cur.fetchone()[0]
    now = datetime.now(UTC)
    event = ConsentChanged(case_ref=case_ref, partner_id=partner_id, share_contact=share_contact, contact_back=back,
                           actor=actor, changed_at=now)
    return ConsentNow(share_contact, back, envelope.encode(topics.CONSENT, event, source=SOURCE,
                                                           id=envelope.event_id("consent", case_ref, now.isoformat())))


def no_case(case_ref: str, partner_id: str) -> str:
    """The one answer for a case that is missing or another partner's: nobody learns which."""
    return f"no case {case_ref} submitted by {partner_id}"


def release_contact(cur: db.Cursor, case_ref: str, recipient: Partner | None,
                    vault: Vault) -> tuple[Contact | None, str]:
    """The worker's contact details for a recipient, if the shield's rules, the recipient's role and the
    worker's consent held now allow it. Every request is recorded in intake.disclosures with its
    justification: the recipient's role and level, and the consent (share, contact back, since when)."""
    cur.execute("SELECT k.ciphertext, k.consent_share, k.consent_contact_back, k.consent_changed_at, c.employer,"
                " c.recruiter FROM intake.contacts k JOIN intake.cases c USING (case_ref) WHERE case_ref = %s",
                (case_ref,))
    row = cur.fetchone()
    contact, verdict, basis = None, "refused: unknown recipient", ""
    if recipient is not None and row is None:
        verdict = "refused: no contact details held"
    elif recipient is not None:
        _, share, back, changed_at, employer, recruiter = row
        role_level, role_note = role_disclosure(recipient)
        basis = (f"; role: {recipient.id} ({recipient.kind}) {role_level.value}"
                 + (f" ({role_note})" if role_note else "")
                 + f"; consent: share_contact {_yes(share)}, contact_back {_yes(back)}, "
                 + (f"changed {changed_at.astimezone(UTC).isoformat(timespec='seconds')}" if changed_at
                    else "as submitted"))
        now_level, why_not = disclosure_for(recipient, bool(share), bool(back))
        routed = routed_disclosure(cur, case_ref, recipient.id)
        if routed != Disclosure.full.value:  # only whom triage chose, at the level triage recorded
            verdict = ("refused: triage did not route this case to the recipient" if routed is None
                       else f"refused: triage routed the case to the recipient at {routed}")
        elif (barred := conflict(recipient, employer, recruiter)) is not None:
            verdict = f"refused: recipient {barred}"
        elif now_level != Disclosure.full:
            verdict = "refused: " + (why_not if role_level == Disclosure.full
                                     else f"the recipient's role allows {role_level.value}, not contact details")
        else:
            verdict = "released"
            contact = vault.decrypt(bytes(row[0]))
    reason = verdict + basis
    cur.execute("INSERT INTO intake.disclosures (case_ref, recipient, granted, reason) VALUES (%s,%s,%s,%s)",
                (case_ref, recipient.id if recipient else "?", contact is not None, reason))
    return contact, reason


def routed_pairs(cur: db.Cursor, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (case, recipient) pairs intake has seen routed (projected from case.routed)."""
    cur.execute("SELECT d.case_ref, d.recipient FROM intake.case_deliveries d JOIN unnest(%s::text[], %s::text[])"
                " AS v(case_ref, recipient) USING (case_ref, recipient) WHERE d.routed_disclosure IS NOT NULL",
                ([c for c, _ in pairs], [r for _, r in pairs]))
    return {(c, r) for c, r in cur.fetchall()}


def routed_disclosure(cur: db.Cursor, case_ref: str, recipient: str) -> str | None:
    """The level triage recorded for this recipient of this case (from its signed case.routed), if any."""
    cur.execute("SELECT routed_disclosure FROM intake.case_deliveries WHERE case_ref = %s AND recipient = %s",
                (case_ref, recipient))
    row = cur.fetchone()
    return row[0] if row else None


def _yes(value: bool) -> str:
    return "yes" if value else "no"


# ------------------------------------------------------------------ lifecycle (partner feedback)


class StepConflict(ValueError):
    """An idempotency key already used for a different step."""


@dataclass(frozen=True)
class StepRecorded:
    step: dict[str, Any]  # as answered to the recipient that reported it (its own note included)
    duplicate: bool
    message: envelope.Message | None  # case.updated, None for a repeat


_STEP_COLUMNS = ("sequence", "recipient", "type", "previous_state", "state", "case_state", "reason", "outcome",
                 "note_sealed", "at", "recorded_at", "idempotency_key")


def project_language(cur: db.Cursor, events: list[GrievanceTriaged]) -> None:
    """The worker's language as triage read it: status messages back to the worker are written in it."""
    psycopg2.extras.execute_values(
        cur, "UPDATE intake.cases c SET language = v.language FROM (VALUES %s) AS v(case_ref, language)"
        " WHERE c.case_ref = v.case_ref", [(e.case_ref, e.language) for e in events])


def not_routed(case_ref: str, partner_id: str) -> str:
    """The one answer for a case that is missing or not routed to this partner: nobody learns which."""
    return f"no case {case_ref} routed to {partner_id}"


def recipient_states(cur: db.Cursor, case_ref: str) -> dict[str, lifecycle.State]:
    """Each recipient triage routed the case to (signed case.routed), at its latest step (none: routed)."""
    cur.execute("SELECT d.recipient, e.state FROM intake.case_deliveries d LEFT JOIN LATERAL ("
                " SELECT state FROM intake.case_events e WHERE e.case_ref = d.case_ref AND e.recipient = d.recipient"
                " ORDER BY sequence DESC LIMIT 1) e ON true"
                " WHERE d.case_ref = %s AND d.routed_disclosure IS NOT NULL ORDER BY d.recipient", (case_ref,))
    return {r: lifecycle.State(s or lifecycle.State.routed) for r, s in cur.fetchall()}


def record_step(cur: db.Cursor, case_ref: str, recipient: str, step: str, *, reason: str | None,
                outcome: str | None, note: str | None, at: datetime | None, idempotency_key: str | None,
                vault: DataVault, templates: dict[str, dict[str, str]]) -> StepRecorded:
    """A recipient's step in the case's lifecycle: checked against its current state (lifecycle.Refused),
    stored, and announced on case.updated with the worker's status message. A repeat (the same
    Idempotency-Key, else the same type and `at`, else, without `at`, the recipient's latest step again)
    answers that step. Raises LookupError for a case not routed to the recipient (or missing), StepConflict
    for a key reused for a different step."""
    cur.execute("SELECT c.language FROM intake.cases c JOIN intake.case_deliveries d USING (case_ref)"
                " WHERE c.case_ref = %s AND d.recipient = %s AND d.routed_disclosure IS NOT NULL FOR UPDATE OF c",
                (case_ref, recipient))  # the case row's lock orders the steps of all its recipients
    row = cur.fetchone()
    if row is None:
        raise LookupError(not_routed(case_ref, recipient))
    language = row[0]
    at_utc = at.astimezone(UTC) if at and at.tzinfo else at.replace(tzinfo=UTC) if at else None
    key = (f"key:{idempotency_key}" if idempotency_key
           else f"at:{step}|{at_utc.isoformat()}" if at_utc else None)
    cur.execute(f"SELECT {', '.join(_STEP_COLUMNS)} FROM intake.case_events"  # noqa: S608 (fixed column names)
                " WHERE case_ref = %s AND recipient = %s AND (idempotency_key = %s OR %s IS NULL)"
                " ORDER BY sequence DESC LIMIT 1", (case_ref, recipient, key, key))
    found = cur.fetchone()
    if found is not None:
        previous = dict(zip(_STEP_COLUMNS, found, strict=True))
        same = (previous["type"], previous["reason"], previous["outcome"]) == (step, reason, outcome)
        if same:
            return StepRecorded(_step_view(previous, case_ref, recipient, vault), True, None)
        if key is not None:
            raise StepConflict(f"this idempotency key was used for step {previous['sequence']}"
                               f" ({previous['type']}) of case {case_ref}")
    states = recipient_states(cur, case_ref)
    current = states[recipient]
    target = lifecycle.check_step(current, step, reason=reason, outcome=outcome)
    states[recipient] = target
    whole = lifecycle.case_state(states)
    cur.execute("SELECT coalesce(max(sequence), 0) + 1 FROM intake.case_events WHERE case_ref = %s", (case_ref,))
    sequence = cur.fetchone()[0]
    now = datetime.now(UTC)
    cur.execute("INSERT INTO intake.case_events (case_ref, sequence, recipient, type, previous_state, state,"
                " case_state, reason, outcome, note_sealed, at, recorded_at, idempotency_key)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (case_ref, sequence, recipient, step, current.value, target.value, whole.value, reason, outcome,
                 vault.encrypt_bytes(note.encode()) if note else None, at_utc or now, now, key))
    said = lifecycle.worker_message(templates, language, whole, case_ref)
    event = CaseUpdated(case_ref=case_ref, partner_id=recipient, step=step, reason=reason, outcome=outcome,
                        previous_state=current.value, state=target.value, case_state=whole.value, sequence=sequence,
                        at=at_utc or now, recorded_at=now,
                        worker_message=WorkerMessage(language=said.language, text=said.text))
    message = envelope.encode(topics.CASE_UPDATED, event, source=SOURCE,
                              id=envelope.event_id("case.updated", case_ref, str(sequence)))
    stored = {"sequence": sequence, "recipient": recipient, "type": step, "previous_state": current.value,
              "state": target.value, "case_state": whole.value, "reason": reason, "outcome": outcome,
              "note_sealed": None, "at": at_utc or now, "recorded_at": now, "idempotency_key": key}
    view = _step_view(stored, case_ref, recipient, vault) | {"note": note}
    return StepRecorded(view, False, message)


def _step_view(row: dict[str, Any], case_ref: str, viewer: str, vault: DataVault) -> dict[str, Any]:
    """A step as a partner sees it: the free-text note only for the recipient that wrote it."""
    note = None
    if row["note_sealed"] is not None and row["recipient"] == viewer:
        note = vault.decrypt_bytes(bytes(row["note_sealed"])).decode()
    return {"case_ref": case_ref, "sequence": row["sequence"], "partner_id": row["recipient"], "type": row["type"],
            "reason": row["reason"], "outcome": row["outcome"], "note": note, "at": row["at"],
            "recorded_at": row["recorded_at"], "previous_state": row["previous_state"], "state": row["state"],
            "case_state": row["case_state"],
            "allowed_next": [s.value for s in lifecycle.allowed_next(lifecycle.State(row["state"]))]}


def case_lifecycle(cur: db.Cursor, case_ref: str, viewer: str, vault: DataVault) -> dict[str, Any]:
    """The lifecycle part of a case's status: the case's state (None before it is routed), each recipient's,
    and every step with who and when (notes only for the recipient that wrote them)."""
    states = recipient_states(cur, case_ref)
    cur.execute(f"SELECT {', '.join(_STEP_COLUMNS)} FROM intake.case_events"  # noqa: S608 (fixed column names)
                " WHERE case_ref = %s ORDER BY sequence", (case_ref,))
    steps = [_step_view(dict(zip(_STEP_COLUMNS, r, strict=True)), case_ref, viewer, vault) for r in cur.fetchall()]
    for step in steps:
        del step["case_ref"], step["allowed_next"]
    return {"state": lifecycle.case_state(states).value if states else None,
            "recipients": {r: s.value for r, s in states.items()}, "steps": steps}
