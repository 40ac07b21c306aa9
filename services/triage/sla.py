"""SLA deadlines from urgency, by the policy in config/sla.yaml."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from schemas.models import Sla, Urgency

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    m = re.fullmatch(r"(\d+)([smhd])", str(text).strip())
    if not m:
        raise ValueError(f"duration {text!r}: expected a number and one of s, m, h, d")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


@dataclass(frozen=True)
class SlaPolicy:
    deliver_within: dict[Urgency, timedelta]
    acknowledge_within: dict[Urgency, timedelta]

    @classmethod
    def load(cls, path: Path) -> SlaPolicy:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(
            deliver_within={Urgency(u): parse_duration(v["deliver_within"]) for u, v in data.items()},
            acknowledge_within={Urgency(u): parse_duration(v["acknowledge_within"]) for u, v in data.items()},
        )

    def deadlines(self, urgency: Urgency, start: datetime) -> Sla:
        return Sla(deliver_by=start + self.deliver_within[urgency],
                   acknowledge_by=start + self.acknowledge_within[urgency])
