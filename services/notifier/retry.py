"""When to try a delivery, and in what order. Pure.

Backoff is exponential with full jitter (a uniform draw between zero and the ceiling, so retries of many
deliveries that failed together spread out instead of arriving together), per urgency, over a horizon:
a retry that would fall after the horizon is not scheduled and the delivery is dead-lettered. The policy
comes from config/delivery.yaml; DELIVERY_BACKOFF_S and DELIVERY_MAX_ATTEMPTS override every urgency's
base and add an attempt limit (the test suites use them to give up in seconds)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

URGENCIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Backoff:
    base_s: float
    cap_s: float
    horizon_s: float


@dataclass(frozen=True)
class Policy:
    backoff: dict[str, Backoff]
    max_attempts: int | None = None  # per drive (creation, then each redelivery); None: the horizon decides
    per_partner: int = 4  # sends in flight per partner and notifier process
    breaker_failures: int = 5  # consecutive failed sends that open a partner's circuit
    breaker_cooldown_s: float = 5.0  # first pause before a probe; doubles after each failed probe
    breaker_max_cooldown_s: float = 300.0
    lease_s: float = 60.0  # a claimed delivery whose result is not recorded by then is claimable again
    defer_max_s: float = 30.0  # longest pause when intake cannot give contact details yet
    extra: dict[str, Any] = field(default_factory=dict)

    def for_urgency(self, urgency: str | None) -> Backoff:
        return self.backoff.get(urgency or "high") or self.backoff["high"]

    def give_up_at(self, urgency: str | None, start: datetime) -> datetime:
        return start + timedelta(seconds=self.for_urgency(urgency).horizon_s)


DEFAULT_BACKOFF = {
    "critical": Backoff(10, 900, 7 * 86400),
    "high": Backoff(30, 3600, 5 * 86400),
    "medium": Backoff(60, 3 * 3600, 3 * 86400),
    "low": Backoff(60, 6 * 3600, 2 * 86400),
}


def parse(doc: dict[str, Any], *, backoff_s: float = 0, max_attempts: int = 0) -> Policy:
    """The policy from config/delivery.yaml's mapping; a positive backoff_s / max_attempts overrides."""
    per = dict(DEFAULT_BACKOFF)
    for urgency, spec in (doc.get("backoff") or {}).items():
        if urgency not in URGENCIES:
            raise ValueError(f"delivery policy: unknown urgency {urgency!r} (one of {', '.join(URGENCIES)})")
        b = Backoff(float(spec["base_s"]), float(spec["cap_s"]), float(spec["horizon_s"]))
        if not 0 < b.base_s <= b.cap_s or b.horizon_s <= 0:
            raise ValueError(f"delivery policy for {urgency}: need 0 < base_s <= cap_s and horizon_s > 0")
        per[urgency] = b
    if backoff_s > 0:
        per = {u: Backoff(backoff_s, max(b.cap_s, backoff_s), b.horizon_s) for u, b in per.items()}
    breaker = doc.get("breaker") or {}
    policy = Policy(
        backoff=per, max_attempts=max_attempts if max_attempts > 0 else doc.get("max_attempts"),
        per_partner=int(doc.get("per_partner_concurrency", 4)),
        breaker_failures=int(breaker.get("failures", 5)),
        breaker_cooldown_s=float(breaker.get("cooldown_s", 5.0)),
        breaker_max_cooldown_s=float(breaker.get("max_cooldown_s", 300.0)),
        lease_s=float(doc.get("lease_s", 60.0)), defer_max_s=float(doc.get("defer_max_s", 30.0)))
    if policy.per_partner < 1 or policy.breaker_failures < 1 or policy.lease_s <= 0:
        raise ValueError("delivery policy: per_partner_concurrency and breaker.failures >= 1, lease_s > 0")
    return policy


def load(path: Path, *, backoff_s: float = 0, max_attempts: int = 0) -> Policy:
    import yaml

    doc = yaml.safe_load(path.read_text()) if path.exists() else {}
    return parse(doc or {}, backoff_s=backoff_s, max_attempts=max_attempts)


def ceiling_s(attempt: int, base_s: float, cap_s: float) -> float:
    """The largest pause after the attempt-th failure: base, 2 × base, 4 × base… up to the cap."""
    return min(cap_s, base_s * 2 ** min(max(attempt - 1, 0), 60))


def next_attempt(attempts: int, now: datetime, *, base_s: float, max_attempts: int | None = None,
                 cap_s: float = 3600.0, give_up_at: datetime | None = None,
                 rng: random.Random | None = None) -> datetime | None:
    """When to try again after `attempts` failed attempts: uniform(0, ceiling) from now (full jitter);
    None once the attempts are exhausted or the retry would fall after the horizon."""
    if max_attempts is not None and attempts >= max_attempts:
        return None
    at = now + timedelta(seconds=(rng or random).uniform(0, ceiling_s(attempts, base_s, cap_s)))
    if give_up_at is not None and at > give_up_at:
        return None
    return at


def spread(ceiling_s: float, rng: random.Random | None = None) -> float:
    """A pause between half the ceiling and the ceiling: for waits that are not retries of a failure."""
    return (rng or random).uniform(ceiling_s / 2, ceiling_s)


def priority(urgency: str | None) -> int:
    """0 for critical … 3 for low: the claim takes the smallest first."""
    return URGENCIES.index(urgency) if urgency in URGENCIES else URGENCIES.index("high")


def order_key(urgency: str | None, deliver_by: datetime | None, due_at: datetime, id: int) -> tuple:
    """Most urgent first, then nearest delivery deadline, then longest due: the order the claim's
    ORDER BY (priority, deliver_by NULLS LAST, next_attempt_at, id) implements in SQL."""
    return (priority(urgency), deliver_by is None, deliver_by or due_at, due_at, id)


def pick(candidates: list[tuple[int, str]], room: dict[str, int], limit: int) -> list[int]:
    """From candidates in claim order (id, partner), the ids to claim: at most `limit`, and per partner at
    most its room (a partner missing from `room` has none)."""
    left, chosen = dict(room), []
    for id, partner in candidates:
        if len(chosen) >= limit:
            break
        if left.get(partner, 0) > 0:
            left[partner] -= 1
            chosen.append(id)
    return chosen
