"""SLA policy (config/sla.yaml) and deadline arithmetic, including business time. Pure: no I/O but `load`.

A duration is wall-clock ("90s", "5m", "24h", "3d") or business time ("4bh" business hours, "3bd"
business days). Business time counts only the recipient's open time: the moments its working hours
(time zone, days, overnight windows) are open, measured in real elapsed time, so a clock that starts on a
Friday evening runs on Monday morning and a DST change shortens or lengthens the night it happens in.
One business day is one working window's nominal length (09:00–17:00: 8 hours). A 24/7 partner, or one
with no working hours on record, counts calendar time: 1bh is an hour, 1bd a day.
Triage uses the policy for a case's deadlines (grievance.triaged, case.routed); the notifier for its clocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml

from schemas.models import Sla, Urgency
from services.common.directory import DAYS, Partner, WorkingHours

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_DURATION = re.compile(r"(\d+)(s|m|h|d|bh|bd)")
# What each urgency's policy names: the clock it sets and the key in config/sla.yaml.
Clock = Literal["delivery", "acknowledgement", "acceptance", "progress"]
CLOCK_KEYS: dict[Clock, str] = {"delivery": "deliver_within", "acknowledgement": "acknowledge_within",
                                "acceptance": "accept_within", "progress": "progress_within"}
_MAX_SEARCH_DAYS = 3 * 366  # a deadline further than this in open time is a policy mistake


@dataclass(frozen=True)
class Duration:
    amount: timedelta  # business days are kept as days: their length is the recipient's window
    unit: Literal["wall", "business_hours", "business_days"] = "wall"

    def __str__(self) -> str:
        return f"{self.amount} {self.unit}"


def parse_duration(text: str) -> Duration:
    m = _DURATION.fullmatch(str(text).strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"duration {text!r}: expected a positive number and one of s, m, h, d (wall clock) or"
                         " bh, bd (business hours and days in the recipient's working hours)")
    n, unit = int(m.group(1)), m.group(2)
    if unit == "bh":
        return Duration(timedelta(hours=n), "business_hours")
    if unit == "bd":
        return Duration(timedelta(days=n), "business_days")
    return Duration(timedelta(**{_UNITS[unit]: n}))


def window_length(hours: WorkingHours) -> timedelta:
    """The nominal length of one working window (local clock): one business day."""
    start, end = _clock(hours.start), _clock(hours.end)
    minutes = (end - start) % (24 * 60) or 24 * 60
    return timedelta(minutes=minutes)


def _clock(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _windows(hours: WorkingHours, first: date):
    """Every working window from the one opening on `first`, as (open, close) in UTC, in order."""
    zone, start, end = ZoneInfo(hours.timezone), _clock(hours.start), _clock(hours.end)
    for i in range(_MAX_SEARCH_DAYS):
        day = first + timedelta(days=i)
        if DAYS[day.weekday()] not in hours.days:
            continue
        opens = datetime.combine(day, time(start // 60, start % 60), tzinfo=zone)
        close_day = day + timedelta(days=1) if end <= start or end == 24 * 60 else day
        closes = datetime.combine(close_day, time((end // 60) % 24, end % 60), tzinfo=zone)
        yield opens.astimezone(UTC), closes.astimezone(UTC)


def add_open_time(start: datetime, amount: timedelta, hours: WorkingHours) -> datetime:
    """The moment `amount` of open time has passed since `start` (real elapsed time within windows)."""
    remaining = amount
    first = start.astimezone(ZoneInfo(hours.timezone)).date() - timedelta(days=1)  # last night's window
    for opens, closes in _windows(hours, first):
        begin = max(opens, start)
        if begin >= closes:
            continue
        if closes - begin >= remaining:
            return begin + remaining
        remaining -= closes - begin
    raise ValueError(f"no deadline within {_MAX_SEARCH_DAYS} days of open time from {start.isoformat()}")


def deadline(start: datetime, duration: Duration, partner: Partner | None) -> datetime:
    """When a clock started at `start` for `partner` (None: calendar time) is due."""
    hours = None if partner is None or partner.available_24_7 else partner.working_hours
    if duration.unit == "wall" or hours is None:
        return start + duration.amount
    amount = duration.amount if duration.unit == "business_hours" else window_length(hours) * duration.amount.days
    return add_open_time(start, amount, hours)


@dataclass(frozen=True)
class SlaPolicy:
    """Per urgency, each clock's duration (the keys of CLOCK_KEYS)."""

    clocks: dict[Urgency, dict[Clock, Duration]]

    @classmethod
    def load(cls, path: Path) -> SlaPolicy:
        return cls.parse(yaml.safe_load(path.read_text(encoding="utf-8")))

    @classmethod
    def parse(cls, data: dict) -> SlaPolicy:
        clocks = {}
        for urgency in Urgency:
            entry = (data or {}).get(urgency.value)
            if not isinstance(entry, dict):
                raise ValueError(f"sla policy: no entry for urgency {urgency.value}")
            if unknown := set(entry) - set(CLOCK_KEYS.values()):
                raise ValueError(f"sla policy, {urgency.value}: unknown keys {sorted(unknown)}; expected"
                                 f" {sorted(CLOCK_KEYS.values())}")
            try:
                clocks[urgency] = {c: parse_duration(entry[k]) for c, k in CLOCK_KEYS.items()}
            except KeyError as exc:
                raise ValueError(f"sla policy, {urgency.value}: missing {exc.args[0]}") from None
        return cls(clocks)

    def due(self, urgency: Urgency, clock: Clock, start: datetime, partner: Partner | None) -> datetime:
        return deadline(start, self.clocks[urgency][clock], partner)

    def deadlines(self, urgency: Urgency, start: datetime, partner: Partner | None = None) -> Sla:
        """A case's delivery and acknowledgement deadlines for its primary recipient."""
        return Sla(deliver_by=self.due(urgency, "delivery", start, partner),
                   acknowledge_by=self.due(urgency, "acknowledgement", start, partner))
