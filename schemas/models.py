"""Pydantic models for everything that crosses a boundary: partner submissions and bus events.

Partners' submissions are tolerant (unknown fields are ignored, so partners can send richer records);
our own events are strict (`extra="forbid"`), so a producer bug fails loudly instead of leaking data.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.countries import ISO_3166_1_ALPHA_2

MAX_TEXT_CHARS = 10_000
MAX_ID_CHARS = 200
_WS = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]")  # not NEL (\x85): whitespace
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# For the published schema: what the validators below enforce. (Unpaired surrogates cannot be expressed
# as a pattern; pydantic refuses them as `string_unicode` before any of this runs.)
NO_NUL = r"^[^\x00]*$"
NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"


def refuse_nul(value: str) -> str:
    """NUL is never part of a complaint: it is refused (not stripped), since it usually means a partner
    sent binary or mis-encoded data, and PostgreSQL text cannot hold it."""
    if "\x00" in value:
        raise PydanticCustomError("string_nul", "must not contain NUL (\\u0000)")
    return value


def refuse_control(value: str) -> str:
    """Ids are keys that partners echo back: a control character in one is refused, never silently
    stripped, or "a\\x01b" and "ab" would quietly become the same case."""
    if found := _ANY_CONTROL.search(value):
        raise PydanticCustomError("string_control", "must not contain control characters (found U+{code})",
                                  {"code": f"{ord(found.group()):04X}"})
    return value


def assigned_country(value: str) -> str:
    if value not in ISO_3166_1_ALPHA_2:
        raise PydanticCustomError("country_code", "{code} is not an assigned ISO 3166-1 alpha-2 country code",
                                  {"code": value})
    return value


def normalise_text(value: str) -> str:
    """NFC, no control characters, runs of spaces folded, at most one blank line, trimmed."""
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n").replace("\r", "\n")
    value = _CONTROL.sub("", value)
    value = "\n".join(_WS.sub(" ", line).strip() for line in value.split("\n"))
    return _BLANK_LINES.sub("\n\n", value).strip()


def normalise_line(value: str) -> str:
    """NFC, one line: control characters dropped, whitespace runs folded to one space."""
    return " ".join(_CONTROL.sub("", unicodedata.normalize("NFC", value)).split())


Text = Annotated[str, AfterValidator(refuse_nul), AfterValidator(normalise_text),
                 Field(min_length=1, max_length=MAX_TEXT_CHARS, json_schema_extra={"pattern": NO_NUL})]
Line = Annotated[str, AfterValidator(refuse_nul), AfterValidator(normalise_line),
                 Field(min_length=1, max_length=200, json_schema_extra={"pattern": NO_NUL})]
Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, json_schema_extra={"pattern": NO_CONTROL}),
               AfterValidator(refuse_control)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, assigned codes only",
                               json_schema_extra={"enum": sorted(ISO_3166_1_ALPHA_2)}),
                    AfterValidator(assigned_country)]
LanguageTag = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", description="BCP 47")]
PartnerId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")]
CaseRef = Annotated[str, Field(pattern=r"^GRV-[0-9A-Z]{12}$")]


class Urgency(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"

    @property
    def rank(self) -> int:
        return _URGENCY_RANK[self]


_URGENCY_RANK = {Urgency.low: 0, Urgency.medium: 1, Urgency.high: 2, Urgency.critical: 3}


class Disclosure(StrEnum):
    full = "full"  # contact details and identifying facts
    pseudonymous = "pseudonymous"  # case facts and a stable pseudonym, no contact details
    anonymised = "anonymised"  # facts only, no names of people, no pseudonym


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- partner submission (tolerant)


class Contact(_Tolerant):
    name: Line | None = None
    phone: Annotated[str, Field(max_length=40, pattern=r"^\+?[0-9 ()./-]{4,40}$")] | None = None
    email: Annotated[str, Field(max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
                     AfterValidator(refuse_control)] | None = None
    messaging_handle: Line | None = None
    passport_number: Annotated[str, Field(max_length=40, json_schema_extra={"pattern": NO_CONTROL}),
                               AfterValidator(refuse_control)] | None = None
    address: Line | None = None


class Consent(_Tolerant):
    share_contact: bool = Field(
        False, description="The worker agrees that organisations handling the case may see contact details"
    )
    contact_back: bool = Field(True, description="The worker agrees to be contacted about the case; false: no "
                               "recipient gets contact details, even with share_contact")


class PartnerSubmission(_Tolerant):
    """A complaint as a partner system sends it, over HTTP or on the submissions topic."""

    partner_id: PartnerId | None = Field(None, description="Required on Kafka; over HTTP the API key decides")
    external_id: Id | None = Field(
        None, description="The partner's own id; resubmits with the same id return the same case"
    )
    text: Text
    language: LanguageTag | None = None
    country_of_work: Country | None = None
    country_of_origin: Country | None = None
    sector: Line | None = None
    employer: Line | None = None
    recruiter: Line | None = None
    channel: Literal["sms", "hotline", "web", "app", "messaging", "in_person", "email", "other"] | None = None
    submitted_at: datetime | None = None
    urgency_hint: Urgency | None = None
    minor_involved: bool = False
    consent: Consent = Field(default_factory=Consent)
    contact: Contact | None = None


class FieldError(_Strict):
    loc: str = Field(description="Dotted path of the failing field, e.g. contact.phone")
    msg: str
    type: str


# ---------------------------------------------------------------- events (strict)


class GrievanceReceived(_Strict):
    case_ref: CaseRef
    partner_id: PartnerId
    external_id: str
    subject_ref: str = Field(description="Pseudonym of the worker, stable per partner and contact")
    text: str
    language: str | None
    country_of_work: str | None
    country_of_origin: str | None
    sector: str | None
    employer: str | None
    recruiter: str | None
    channel: str | None
    urgency_hint: Urgency | None
    minor_involved: bool
    consent_share_contact: bool
    has_contact: bool
    received_at: datetime


class GrievanceRejected(_Strict):
    partner_id: str | None
    external_id: str | None
    source_event_id: str
    errors: list[FieldError]
    rejected_at: datetime


class Evidence(_Strict):
    term: str
    start: int
    end: int
    concept: str


class Sla(_Strict):
    deliver_by: datetime
    acknowledge_by: datetime


class TriageDecision(_Strict):
    """What triage decided about a complaint and why: the event's core and `grievance classify`'s output."""

    urgency: Urgency
    categories: list[str]
    indicators: list[str]
    iris_principles: list[str]
    language: str
    needs_review: bool
    reasons: list[str]
    evidence: list[Evidence]
    ruleset: str
    summary: str


class GrievanceTriaged(TriageDecision):
    case_ref: CaseRef
    partner_id: PartnerId
    sla: Sla
    triaged_at: datetime


class Recipient(_Strict):
    partner_id: PartnerId
    kind: str
    role: Literal["primary", "copy", "escalation"] = Field(
        description="escalation: given the case because an earlier holder missed an SLA deadline")
    disclosure: Disclosure
    reason: str


class CaseView(_Strict):
    """What recipients may learn about a case before any per-recipient disclosure."""

    case_ref: CaseRef
    subject_ref: str
    submitted_by: PartnerId
    text: str
    language: str
    urgency: Urgency
    categories: list[str]
    indicators: list[str]
    summary: str
    country_of_work: str | None
    country_of_origin: str | None
    sector: str | None
    employer: str | None
    recruiter: str | None
    sla: Sla


class Excluded(_Strict):
    partner_id: PartnerId
    reason: str


class CaseRouted(_Strict):
    case_ref: CaseRef
    rule: str
    recipients: list[Recipient] = Field(min_length=1)
    excluded: list[Excluded] = Field(default_factory=list,
                                     description="Organisations kept out, e.g. acting for the named employer")
    escalation: list[Recipient] = Field(
        default_factory=list, description="In order, who receives the case when its holder misses an SLA deadline:"
        " partners able to act that were not chosen, never one kept out")
    case: CaseView
    routed_at: datetime


class DirectoryChanged(_Strict):
    """A partner directory change; the record is redacted (no secrets)."""

    partner_id: PartnerId
    action: Literal["created", "updated", "deleted"]
    actor: str
    version: int
    changed_fields: list[str]
    record: dict | None
    changed_at: datetime


class ConsentChanged(_Strict):
    """The worker gave or withdrew consent; it governs every later disclosure, retries included."""

    case_ref: CaseRef
    partner_id: PartnerId
    share_contact: bool
    contact_back: bool = Field(True, description="false: no recipient gets contact details, share_contact or not")
    actor: str
    changed_at: datetime


AlertKind = Literal[
    "critical_case",  # a case an operator should see now
    "no_available_responder",  # nobody able to respond at this hour
    "fallback_barred",  # no rule placed the case and the fallback is the party complained about
    "triage_failed",  # classification or routing raised: the case went to the fallback partner
    "delivery_failed",  # a delivery gave up
    "dead_letter",  # a record was set aside; it may hold a grievance
    "broker_state_lost",  # the broker lost topics or offsets; what we published was re-driven
    "sla_breached",  # an SLA deadline passed and no partner is left to escalate the case to
]


class OperatorAlert(_Strict):
    case_ref: CaseRef | None = Field(None, description="None when the record at fault names no case")
    kind: AlertKind
    urgency: Urgency
    message: str
    raised_at: datetime
    service: str | None = Field(None, description="The service that raised it")
    topic: str | None = Field(None, description="For dead letters: the record's original topic")
    event_id: str | None = Field(None, description="For dead letters: the record's event id or digest")


class NotificationDelivered(_Strict):
    case_ref: CaseRef
    recipient: PartnerId
    channel: Literal["webhook", "email"]
    attempts: int
    status_code: int | None
    delivered_at: datetime


class NotificationFailed(_Strict):
    case_ref: CaseRef
    recipient: PartnerId
    channel: Literal["webhook", "email"]
    attempts: int
    error: str
    final: bool = Field(description="No more retries will be made")
    next_attempt_at: datetime | None
    failed_at: datetime


class WorkerMessage(_Strict):
    """What a partner may relay to the worker: plain words in their language, nothing about other parties."""

    language: str = Field(description="The language of `text`: the case's, else `en`")
    text: str


# ---------------------------------------------------------------- partner feedback (tolerant)

StepType = Literal["acknowledged", "accepted", "referred_back", "investigating", "remediation_planned",
                   "remediation_done", "closed"]
StepOutcome = Literal["remedied", "not_substantiated", "withdrawn", "referred_elsewhere", "unresolved"]
_EARLIEST_STEP = datetime(2000, 1, 1, tzinfo=UTC)


class CaseStep(_Tolerant):
    """A recipient's step in a case's lifecycle (services/intake/lifecycle.py), as the partner reports it:
    the body of POST /v1/cases/{case_ref}/events."""

    type: StepType
    reason: Text | None = Field(None, description="Why the case is referred back: required for referred_back")
    outcome: StepOutcome | None = Field(None, description="Required for closed; `remedied` only after "
                                                          "remediation_done")
    note: Text | None = Field(None, description="Free text, shown only to the partner that wrote it")
    at: AwareDatetime | None = Field(None, description="When it happened (default: now); a resend with the same "
                                                       "type and `at` is the same step")

    @model_validator(mode="after")
    def _needs(self) -> CaseStep:
        if self.type == "referred_back" and not self.reason:
            raise ValueError("referred_back needs a reason")
        if self.type == "closed" and not self.outcome:
            raise ValueError("closed needs an outcome")
        if self.at is not None:
            try:
                at = self.at.astimezone(UTC)
            except OverflowError:
                at = None
            if at is None or not _EARLIEST_STEP <= at <= datetime.now(UTC) + timedelta(days=1):
                raise ValueError("at must be a time since 2000 and not more than a day ahead")
        return self


class PartnerCaseStep(CaseStep):
    """The same step published on the case.feedback topic: keyed and signed by the partner like a
    submission; the record's event id makes a resend the same step."""

    case_ref: CaseRef
    partner_id: PartnerId | None = Field(None, description="The record key names the partner; if given here, "
                                                           "it must be the same")


class CaseUpdated(_Strict):
    """A recipient's step in a case's lifecycle (services/intake/lifecycle.py), as reported by that partner."""

    case_ref: CaseRef
    partner_id: PartnerId = Field(description="The recipient that reported the step")
    step: StepType
    reason: str | None = Field(None, description="Why the case was referred back")
    outcome: StepOutcome | None = None
    previous_state: str = Field(description="The recipient's state before the step")
    state: str = Field(description="The recipient's state after the step")
    case_state: str = Field(description="The case as a whole after the step")
    sequence: int = Field(description="The step's number within the case, from 1")
    at: datetime = Field(description="When the partner says the step happened")
    recorded_at: datetime
    worker_message: WorkerMessage


SlaClock = Literal["delivery", "acknowledgement", "acceptance", "progress"]


class CaseSlaBreached(_Strict):
    """A recipient holding a case missed an SLA deadline (config/sla.yaml); the case went to the next partner
    on its route (`escalated_to`), or to the operators when nobody was left (None)."""

    case_ref: CaseRef
    recipient: PartnerId = Field(description="The holder that missed the deadline")
    clock: SlaClock = Field(description="delivery: not delivered; acknowledgement, acceptance: no such step;"
                            " progress: no next step after accepted or a later one")
    deadline: datetime
    breached_at: datetime
    escalated_to: PartnerId | None
    urgency: Urgency
