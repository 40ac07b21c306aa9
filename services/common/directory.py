"""The partner directory: who the partner organisations are, what they cover, how to reach them.

Loaded from config/partners.yaml into PostgreSQL (`grievance directory load`), changed through the
triage service's admin API, and read by every service from the database. String values may reference
environment variables as ${NAME} or ${NAME:-default}, so secrets and URLs stay out of the file.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from schemas.models import Disclosure, Urgency
from services.common.names import entity_key

_ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")

PartnerKind = Literal[
    "iom_mission", "ngo", "trade_union", "labour_inspectorate", "embassy", "brand", "recruitment_agency",
    "iris_body", "hotline",
]


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Names zoneinfo lists that are no place: `localtime` is whatever the host is set to.
_NOT_PLACES = frozenset({"localtime", "Factory"})


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_PLACES


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    secret: str = Field(min_length=16)

    @field_validator("url")
    @classmethod
    def _absolute_http_url(cls, url: str) -> str:
        # Checked after ${ENV} expansion: an unset variable without a default leaves a relative URL, refused here.
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a malformed port
        except ValueError as exc:
            raise ValueError(f"{url!r} is not a URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
            raise ValueError(f"{url!r} is not an absolute http(s) URL with a host, e.g. https://partner.example/hook")
        return url


class WorkingHours(BaseModel):
    """Local opening hours. `start` > `end` is an overnight window (22:00–06:00): it opens on each of `days`
    and runs past midnight into the next day. `end` may be 24:00; `start` == `end` is refused (for
    round-the-clock service set `available_24_7`)."""

    model_config = ConfigDict(extra="forbid")
    timezone: str = Field(description="IANA name, e.g. Asia/Kuala_Lumpur")
    days: list[Day] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], min_length=1,
                            description="The days a window starts on")
    start: str = Field("09:00", description="HH:MM, 00:00–23:59, local time")
    end: str = Field("17:00", description="HH:MM, 00:00–24:00, local time; before start: the next day")

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, name: str) -> str:
        if name not in _zone_names():
            raise ValueError(f"{name!r} is not an IANA time zone name (e.g. Europe/Zurich, Asia/Kuala_Lumpur)")
        ZoneInfo(name)  # the name is listed; loading it must work too
        return name

    @field_validator("start", "end", mode="before")
    @classmethod
    def _hhmm(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 17:00 as the base-60 number 1020.
            raise ValueError(f"got the number {value}: quote the time, e.g. '{value // 60:02d}:{value % 60:02d}'")
        if not isinstance(value, str):
            return value  # pydantic's own type error
        if not (_HHMM.match(value) or (info.field_name == "end" and value == "24:00")):
            allowed = "00:00–24:00" if info.field_name == "end" else "00:00–23:59"
            raise ValueError(f"{value!r} is not a time HH:MM in {allowed}")
        return value

    @model_validator(mode="after")
    def _window(self) -> WorkingHours:
        if self.start == self.end:
            raise ValueError(f"start and end are both {self.start}: an empty or a round-the-clock window? "
                             "For round-the-clock service set available_24_7: true")
        return self

    def open_at(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone))
        now, start, end = local.hour * 60 + local.minute, _minutes(self.start), _minutes(self.end)
        today, yesterday = DAYS[local.weekday()], DAYS[local.weekday() - 1]
        if start < end:
            return today in self.days and start <= now < end
        # Overnight: the evening belongs to today's window, the small hours to the one that opened yesterday.
        return (today in self.days and now >= start) or (yesterday in self.days and now < end)


class Partner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,63}$")
    name: str
    kind: PartnerKind
    mfa_member: bool = Field(False, description="Member of the Migrant Forum in Asia network")
    countries_of_work: list[str] = Field(default_factory=list, description="Empty: every country")
    countries_of_origin: list[str] = Field(default_factory=list, description="Empty: every country")
    sectors: list[str] = Field(default_factory=list, description="Empty: every sector")
    languages: list[str] = Field(default_factory=list, description="Languages it works in; empty: any")
    categories: list[str] = Field(default_factory=list, description="Empty: every category")
    urgencies: list[Urgency] = Field(default_factory=lambda: list(Urgency))
    disclosure: Disclosure = Disclosure.pseudonymous
    available_24_7: bool = False
    working_hours: WorkingHours | None = None
    receives_cases: bool = True
    represents: list[str] = Field(default_factory=list,
                                  description="Employers or recruiters this organisation is, or acts for")
    supply_chain: list[str] = Field(default_factory=list,
                                    description="For brands: suppliers whose workers' cases they receive")
    iris_certified: bool = Field(False, description="For recruitment agencies: IRIS-certified")
    api_key_sha256: str | None = None
    webhook: Webhook | None = None
    email: str | None = Field(None, max_length=200)

    @field_validator("email")
    @classmethod
    def _plausible_email(cls, email: str | None) -> str | None:
        if email is not None and not _EMAIL.match(email):
            raise ValueError(f"{email!r} is not an email address, e.g. cases@partner.example")
        return email

    def available_at(self, moment: datetime) -> bool:
        """Able to respond now: a 24/7 service, or within its working hours. Never raises: hours that cannot
        be read (a record built without validation) make the partner unavailable, so routing looks for
        someone else instead of failing the case."""
        if self.available_24_7:
            return True
        try:
            return self.working_hours is not None and self.working_hours.open_at(moment)
        except Exception:
            return False

    def entity_keys(self) -> set[str]:
        """Name keys of what this organisation is or acts for (see services.common.names)."""
        return {k for k in (entity_key(n) for n in [self.name, *self.represents]) if k}

    def redacted(self) -> dict:
        """The record without secrets, for APIs, events and logs."""
        return redact(self.model_dump(mode="json"))


def redact(record: dict) -> dict:
    """A partner record (as JSON) without secrets; also for a stored record that no longer validates."""
    data = dict(record)
    if isinstance(data.get("webhook"), dict):
        data["webhook"] = {**data["webhook"], "secret": "***"}
    return data


class Directory(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partners: list[Partner]

    def get(self, partner_id: str) -> Partner | None:
        return next((p for p in self.partners if p.id == partner_id), None)

    def by_api_key(self, api_key: str) -> Partner | None:
        digest = hash_api_key(api_key)
        return next((p for p in self.partners if p.api_key_sha256 == digest), None)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def expand_env(value):
    if isinstance(value, str):
        return _ENV_REF.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    return value


def load_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        return expand_env(yaml.safe_load(f))


def load(config_dir: Path) -> Directory:
    return Directory.model_validate(load_yaml(config_dir / "partners.yaml"))
