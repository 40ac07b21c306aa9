"""What SLA clocks a case's holder runs, and where a breach sends the case. Pure: no SQL, Kafka or HTTP.

A holder is the primary recipient of a routed case, or a partner the case was escalated to. It runs a
delivery clock (routing to the webhook's 2xx) and, at each lifecycle state it reports (the states of
services/intake/lifecycle.py, told by case.updated), the one clock that state waits on:

    routed ──acknowledgement──▶ acknowledged ──acceptance──▶ accepted ──progress──▶ investigating ──progress──▶ …
    referred_back, closed: no clock

Any step stops the holder's running clocks (a step also proves delivery). A clock that runs out is a
breach: the case goes to the next partner on its escalation list that does not already have it, once per
holder; when nobody is left, operators are alerted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.common.sla import Clock

_WAITS_ON: dict[str, Clock | None] = {
    "routed": "acknowledgement", "acknowledged": "acceptance", "accepted": "progress", "investigating": "progress",
    "remediation_planned": "progress", "remediation_done": "progress", "referred_back": None, "closed": None,
}


def waits_on(state: str) -> Clock | None:
    """The clock a holder runs in a lifecycle state (an unknown state runs none: it cannot be judged)."""
    return _WAITS_ON.get(state)


def first_clocks(state: str | None) -> list[Clock]:
    """The clocks a new holder starts with: delivery and acknowledgement, unless it already reported a step
    (heard before the routing itself), which proves delivery and decides the clock."""
    if state is None or state == "routed":
        return ["delivery", "acknowledgement"]
    clock = waits_on(state)
    return [clock] if clock else []


@dataclass(frozen=True)
class Escalation:
    to: dict[str, Any] | None  # the escalation list's entry (a Recipient as JSON) that now gets the case
    escalated: int  # how far down the list the case has gone
    alert: bool  # nobody left: operators must act


def escalate(escalation: list[dict[str, Any]], escalated: int, holding: set[str], holder_escalated: bool) -> Escalation:
    """Where a breach by a holder sends the case. `holding`: partners that already have it (skipped);
    `holder_escalated`: this holder's case was escalated before (a second breach of the same holder, e.g.
    acknowledgement after delivery, does not send it further)."""
    if holder_escalated:
        return Escalation(None, escalated, False)
    for i in range(escalated, len(escalation)):
        if escalation[i]["partner_id"] not in holding:
            return Escalation(escalation[i], i + 1, False)
    return Escalation(None, len(escalation), True)
