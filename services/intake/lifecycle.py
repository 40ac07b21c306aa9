"""A case's life after delivery: what each recipient says it has done, as a state machine (pure).

Each recipient of a case (a partner triage routed it to) moves through its own states; the case as a
whole has a state derived from its recipients'. The steps follow IOM's remediation steps (receive,
verify, investigate, redress, implement and monitor, close) and Primero's referral states (a referral is
accepted or declined: here `referred_back`, with a reason).

`TRANSITIONS` below is the definition (the README draws it: "Case lifecycle"). `referred_back` and
`closed` are final for that recipient. `closed` carries an outcome; `remedied` only once remediation is
done. The case as a whole (`case_state`): the furthest state among recipients still holding it (every
recipient but those that referred it back), except that it is `closed` only when all of them have
closed it; `referred_back` when every recipient referred it back; `routed` before anyone said anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    routed = "routed"  # delivered or on its way; nothing heard from the recipient yet
    acknowledged = "acknowledged"  # received (IOM: submit / receive)
    accepted = "accepted"  # the recipient takes the case on (Primero: referral accepted)
    referred_back = "referred_back"  # the recipient declines it, with a reason (Primero: referral rejected)
    investigating = "investigating"  # IOM: verify, investigate
    remediation_planned = "remediation_planned"  # IOM: redress agreed
    remediation_done = "remediation_done"  # IOM: implement, monitor
    closed = "closed"  # with an outcome


STEP_TYPES = tuple(s.value for s in State if s is not State.routed)  # what a partner may report
OUTCOMES = ("remedied", "not_substantiated", "withdrawn", "referred_elsewhere", "unresolved")

TRANSITIONS: Mapping[State, frozenset[State]] = {
    State.routed: frozenset({State.acknowledged, State.accepted, State.referred_back}),
    State.acknowledged: frozenset({State.accepted, State.referred_back}),
    State.accepted: frozenset({State.investigating, State.referred_back, State.closed}),
    State.investigating: frozenset({State.remediation_planned, State.closed}),
    State.remediation_planned: frozenset({State.remediation_done, State.investigating, State.closed}),
    State.remediation_done: frozenset({State.closed, State.remediation_planned}),  # monitoring found it short
    State.referred_back: frozenset(),
    State.closed: frozenset(),
}
FINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)
# How far along a case is, for the case-wide state.
_PROGRESS = {s: i for i, s in enumerate((State.routed, State.acknowledged, State.accepted, State.investigating,
                                         State.remediation_planned, State.remediation_done, State.closed))}


class Refused(ValueError):
    """A step the recipient's current state does not allow, or a step missing what it needs."""

    def __init__(self, message: str, current: State, allowed: Iterable[State]):
        super().__init__(message)
        self.current, self.allowed = current, sorted(allowed, key=_order)


def _order(state: State) -> int:
    return list(State).index(state)


def allowed_next(current: State) -> list[State]:
    return sorted(TRANSITIONS[current], key=_order)


def check_step(current: State, step: str, *, reason: str | None = None, outcome: str | None = None) -> State:
    """The recipient's state after `step`, or Refused naming the current state and the allowed next steps."""
    target = State(step)
    allowed = allowed_next(current)
    if target not in TRANSITIONS[current]:
        nexts = ", ".join(allowed) or "none: the case is " + current.value + " for this recipient"
        raise Refused(f"cannot go from {current.value} to {target.value}; allowed next steps: {nexts}", current,
                      allowed)
    if target is State.referred_back and not (reason and reason.strip()):
        raise Refused("referred_back needs a reason", current, allowed)
    if target is State.closed:
        if outcome not in OUTCOMES:
            raise Refused(f"closed needs an outcome, one of {', '.join(OUTCOMES)}", current, allowed)
        if outcome == "remedied" and current is not State.remediation_done:
            raise Refused("closed as remedied only after remediation_done; current state: " + current.value,
                          current, allowed)
    return target


def case_state(recipients: Mapping[str, State]) -> State:
    """The case as a whole, from each recipient's state (see the module's docstring)."""
    holding = [s for s in recipients.values() if s is not State.referred_back]
    if not holding:
        return State.referred_back if recipients else State.routed
    if all(s is State.closed for s in holding):
        return State.closed
    return max((s for s in holding if s is not State.closed), key=_PROGRESS.__getitem__)


# ------------------------------------------------------------------ status back to the worker

DEFAULT_LANGUAGE = "en"
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# The only facts a worker's message may carry: nothing about other parties (partners, employers, notes).
ALLOWED_PLACEHOLDERS = frozenset({"case_ref"})


@dataclass(frozen=True)
class WorkerMessage:
    language: str
    text: str


def worker_message(templates: Mapping[str, Mapping[str, str]], language: str | None, state: State,
                   case_ref: str) -> WorkerMessage:
    """The plain-language status for the worker, in their language (its primary subtag: `pt-BR` → `pt`)
    when there are templates for it, else English. Templates are `{language: {state: text}}`."""
    primary = (language or "").split("-")[0].lower()
    chosen = primary if state.value in templates.get(primary, {}) else DEFAULT_LANGUAGE
    text = templates[chosen][state.value]
    return WorkerMessage(chosen, text.format_map({"case_ref": case_ref}))


def template_problems(templates: Mapping[str, Mapping[str, str]], languages: Iterable[str]) -> list[str]:
    """What is wrong with a set of templates: a state without a text in a language, or a placeholder for
    anything but the case's own reference."""
    problems = []
    for language in languages:
        for state in State:
            text = templates.get(language, {}).get(state.value)
            if not text or not text.strip():
                problems.append(f"{language}: no text for {state.value}")
                continue
            for name in PLACEHOLDER.findall(text):
                if name not in ALLOWED_PLACEHOLDERS:
                    problems.append(f"{language}/{state.value}: placeholder {{{name}}} is not allowed")
    return problems
