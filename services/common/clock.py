"""The time a component runs by. Components that follow deadlines (delivery retries, SLA clocks) take a
`clock` callable in their constructor so a test can run them through hours of simulated time."""

from __future__ import annotations

from datetime import UTC, datetime


def real_time() -> datetime:
    return datetime.now(UTC)
