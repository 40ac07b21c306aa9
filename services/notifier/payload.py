"""What each recipient is sent: the routed case cut down to the recipient's disclosure level. Pure."""

from __future__ import annotations

from typing import Any

from schemas.models import CaseRouted, Disclosure, Recipient

# Fields that could identify the worker or be used to find them.
_IDENTIFYING = ("subject_ref", "submitted_by")


def webhook_body(event: CaseRouted, recipient: Recipient, delivery_id: str) -> dict[str, Any]:
    case = event.case.model_dump(mode="json")
    if recipient.disclosure == Disclosure.anonymised:
        for name in _IDENTIFYING:
            case.pop(name, None)
    return {
        "type": "case.routed",
        "delivery_id": delivery_id,
        "case_ref": event.case_ref,
        "role": recipient.role,
        "disclosure": recipient.disclosure.value,
        "reason": recipient.reason,
        "rule": event.rule,
        "case": case,
    }
