"""The one service-to-service HTTP contract: the notifier asks intake for workers' contact details, a batch
of (case, recipient) at a time, at send time. Intake answers each from the consent held then, audits each,
and never puts contact details on the bus."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.models import CaseRef, Contact, PartnerId

MAX_CONTACT_REQUESTS = 64


class ContactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_ref: CaseRef
    recipient: PartnerId


class ContactsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests: list[ContactRequest] = Field(min_length=1, max_length=MAX_CONTACT_REQUESTS)


class ContactAnswer(BaseModel):
    case_ref: str
    recipient: str
    # released: `contact` is given; refused: send without it, `reason` says why (recorded in
    # intake.disclosures); not_routed: intake has not seen this routing yet: ask again shortly.
    status: Literal["released", "refused", "not_routed"]
    contact: Contact | None = None
    reason: str


class ContactsAnswer(BaseModel):
    answers: list[ContactAnswer]
