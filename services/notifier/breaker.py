"""A circuit breaker per partner, and the per-partner limit on sends in flight. Pure (time is passed in).

closed: sends go; `failures` consecutive failures open the circuit.
open: the partner's deliveries are not claimed until the cool-down has passed, then one probe goes
(half-open). A probe that succeeds closes the circuit; one that fails opens it again with the cool-down
doubled (up to a maximum), so a partner that is down for days costs a probe every few minutes.

The state is kept per notifier process, not in PostgreSQL: it is a cache of what the sends have just
seen, consulted on every claim, and a process that restarts with it empty relearns it after `failures`
sends. Several notifiers each probe on their own, which costs one send per notifier and cool-down. What
must survive a restart (attempts, retry times, the horizon) is in each delivery's row."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Circuit:
    state: str = "closed"  # closed, open, half_open
    failures: int = 0  # consecutive
    opened_at: float = 0.0
    cooldown_s: float = 0.0


class Breakers:
    def __init__(self, *, failures: int, cooldown_s: float, max_cooldown_s: float, per_partner: int):
        self.threshold, self.cooldown_s, self.max_cooldown_s, self.per_partner = (
            failures, cooldown_s, max_cooldown_s, per_partner)
        self.circuits: dict[str, Circuit] = {}
        self.in_flight: dict[str, int] = {}

    def circuit(self, partner: str) -> Circuit:
        return self.circuits.setdefault(partner, Circuit())

    def room(self, partner: str, now: float) -> int:
        """How many more sends to this partner may start now."""
        c = self.circuit(partner)
        busy = self.in_flight.get(partner, 0)
        if c.state == "open":
            if now - c.opened_at < c.cooldown_s:
                return 0
            c.state = "half_open"
        if c.state == "half_open":
            return 0 if busy else 1  # one probe at a time
        return max(0, self.per_partner - busy)

    def blocked(self, now: float) -> list[str]:
        """Partners whose deliveries the next claim must leave alone."""
        return sorted(p for p in set(self.circuits) | set(self.in_flight) if self.room(p, now) == 0)

    def started(self, partner: str) -> None:
        self.in_flight[partner] = self.in_flight.get(partner, 0) + 1

    def finished(self, partner: str, ok: bool, now: float) -> str | None:
        """Record a send's result; returns "opened" or "closed" when the circuit changed."""
        left = self.in_flight.get(partner, 1) - 1
        if left > 0:
            self.in_flight[partner] = left
        else:
            self.in_flight.pop(partner, None)
        c = self.circuit(partner)
        if ok:
            changed = "closed" if c.state != "closed" else None
            self.circuits[partner] = Circuit()
            return changed
        c.failures += 1
        if c.state == "half_open" or (c.state == "open" and now - c.opened_at >= c.cooldown_s):
            c.state, c.opened_at = "open", now
            c.cooldown_s = min(self.max_cooldown_s, max(c.cooldown_s, self.cooldown_s) * 2)
            return "opened"
        if c.state == "closed" and c.failures >= self.threshold:
            c.state, c.opened_at, c.cooldown_s = "open", now, self.cooldown_s
            return "opened"
        return None

    def released(self, partner: str) -> None:
        """A claimed send that never reached the partner (deferred): frees its slot, changes no circuit."""
        left = self.in_flight.get(partner, 1) - 1
        if left > 0:
            self.in_flight[partner] = left
        else:
            self.in_flight.pop(partner, None)
            c = self.circuits.get(partner)
            if c is not None and c.state == "half_open":
                c.state = "open"  # the probe did not happen: probe again at once next time
                c.opened_at -= c.cooldown_s
