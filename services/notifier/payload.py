"""What each recipient is sent: the routed case cut to the recipient's disclosure level. Pure."""

from __future__ import annotations

from typing import Any

from schemas.models import CaseRouted, Recipient
from services.common.shield import project


def webhook_body(event: CaseRouted, recipient: Recipient, delivery_id: str) -> dict[str, Any]:
    """Stored with the delivery. `disclosure` is what the recipient's role allows (routing never lowers it
    for want of consent). Contact details are never part of it: for `full` recipients intake is asked at
    every send and answers from the consent held then, so consent given after routing reaches the next
    attempt or redelivery, and consent withdrawn before a retry or a replay is honoured."""
    return {
        "type": "case.routed",
        "delivery_id": delivery_id,
        "case_ref": event.case_ref,
        "role": recipient.role,
        "disclosure": recipient.disclosure.value,
        "reason": recipient.reason,
        "rule": event.rule,
        "case": project(event.case.model_dump(mode="json"), recipient.disclosure),
    }


def with_contact(body: dict[str, Any], contact: dict[str, Any] | None, refusal: str | None) -> dict[str, Any]:
    """The body as sent: contact details added when released, or the disclosure lowered to what was
    actually sent (`pseudonymous`) with intake's reason when refused (no consent now, contact_back false)."""
    if body["disclosure"] != "full":
        return body
    if contact is not None:
        return {**body, "case": {**body["case"], "contact": contact}}
    return {**body, "disclosure": "pseudonymous", "disclosure_note": refusal or "contact details not released"}
