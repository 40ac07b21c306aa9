"""The page's filters, kept in the URL query: parsed strictly (anything else is dropped, never echoed into
SQL or the page) and written back for links, so a filtered view can be bookmarked and shared."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import urlencode

RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
URGENCIES = ("critical", "high", "medium", "low")
_COUNTRY = re.compile(r"[A-Z]{2}")
_PARTNER = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_CATEGORY = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Filters:
    range: str = "7d"
    urgency: str | None = None
    country: str | None = None
    partner: str | None = None
    category: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filters:
        def pick(name: str, ok) -> str | None:
            value = (query.get(name) or "").strip()
            return value if value and ok(value) else None

        return cls(range=pick("range", RANGES.__contains__) or "7d",
                   urgency=pick("urgency", URGENCIES.__contains__),
                   country=pick("country", lambda v: bool(_COUNTRY.fullmatch(v.upper())))
                   and query["country"].strip().upper(),
                   partner=pick("partner", lambda v: bool(_PARTNER.fullmatch(v))),
                   category=pick("category", lambda v: bool(_CATEGORY.fullmatch(v))))

    def since(self, now: datetime) -> datetime:
        return now - RANGES[self.range]

    def query(self, **change: str | None) -> str:
        """The URL query of these filters with some changed; defaults left out."""
        values = vars(replace(self, **change))
        return urlencode({k: v for k, v in values.items() if v and not (k == "range" and v == "7d")})

    def bucket(self) -> str:
        """The chart's time step: hours, or days over a month."""
        return "day" if self.range == "30d" else "hour"
