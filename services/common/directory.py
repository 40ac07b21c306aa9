"""The partner directory: who the partner organisations are, what they cover, how to reach them.

Loaded from config/partners.yaml into PostgreSQL (`grievance directory load`), changed through the
triage service's admin API, and read by every service from the database. String values may reference
environment variables as ${NAME} or ${NAME:-default}, so secrets and URLs stay out of the file.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from schemas.models import Disclosure, Urgency
from services.common import signing
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
    secret: str = Field(min_length=16,
                        description="Standard Webhooks form, whsec_<base64 of 24–64 bytes>; plain text is converted")
    previous_secret: str | None = Field(None, min_length=16,
                                        description="While rotating: still signed with, until the partner switched")

    @field_validator("secret", "previous_secret")
    @classmethod
    def _standard_form(cls, secret: str | None) -> str | None:
        """Plain-text secrets (directories from before) become their whsec_ form, which signs the same."""
        if secret is None or secret.startswith("fernet:"):  # sealed at rest: opened before use
            return secret
        try:
            key = signing.key_bytes(secret)
        except ValueError:
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
        # The specification asks for 24–64 bytes; 16 is the least a secret could be before, and such a
        # secret converted to its whsec_ form must still load.
        if secret.startswith(signing.PREFIX) and not 16 <= len(key) <= 64:
            raise ValueError(f"a whsec_ secret must hold 16 to 64 bytes (24 or more advised), not {len(key)}")
        return signing.as_whsec(secret)

    @property
    def secrets(self) -> list[str]:
        """What to sign with: the secret, and the previous one while a rotation is under way."""
        return [self.secret] + ([self.previous_secret] if self.previous_secret else [])

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


Scope = Literal["submit", "read", "update", "admin"]
# Kinds on the employer's side (brands, agencies) do not file complaints unless a key says so.
_NO_SUBMIT_KINDS = frozenset({"brand", "recruitment_agency"})
LEGACY_KEY_LABEL = "default"


def default_scopes(kind: str) -> tuple[Scope, ...]:
    """Scopes of a key that names none: submit (not for brands and agencies), read its own cases, update
    (consent on cases it submitted; acknowledgements of cases routed to it). Never admin."""
    return ("read", "update") if kind in _NO_SUBMIT_KINDS else ("submit", "read", "update")


class ApiKey(BaseModel):
    """One partner API key: only its SHA-256 digest is stored. Several may be valid at once (rotation)."""

    model_config = ConfigDict(extra="forbid")
    label: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Unique per partner; names it to revoke")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the key")
    scopes: list[Scope] | None = Field(None, description="None: the defaults for the partner's kind")
    expires_at: datetime | None = None
    issued_by: str | None = Field(None, description="Set when issued by the admin API: such keys survive "
                                                    "`grievance directory load` and are revoked through the API")

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, at: datetime | None) -> datetime | None:
        if at is not None and at.tzinfo is None:
            raise ValueError("give a time zone, e.g. 2027-01-31T00:00:00Z")
        return at

    def valid_at(self, moment: datetime) -> bool:
        return self.expires_at is None or moment < self.expires_at


class RateLimit(BaseModel):
    """A token bucket per key: `per_second` sustained, bursts of up to `burst` requests."""

    model_config = ConfigDict(extra="forbid")
    per_second: float = Field(gt=0, le=10_000)
    burst: int = Field(ge=1, le=100_000)


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
    api_keys: list[ApiKey] = Field(default_factory=list)
    api_key_sha256: str | None = Field(None, description="Legacy single key: label `default`, the kind's scopes")
    rate_limit: RateLimit | None = Field(None, description="Per key; unset: the intake instance's default")
    webhook: Webhook | None = None
    email: str | None = Field(None, max_length=200)

    @field_validator("email")
    @classmethod
    def _plausible_email(cls, email: str | None) -> str | None:
        if email is not None and not _EMAIL.match(email):
            raise ValueError(f"{email!r} is not an email address, e.g. cases@partner.example")
        return email

    @model_validator(mode="after")
    def _unique_labels(self) -> Partner:
        labels = [k.label for k in self.every_key()]
        if dupes := sorted({x for x in labels if labels.count(x) > 1}):
            raise ValueError(f"api key labels must be unique: {', '.join(dupes)} (`{LEGACY_KEY_LABEL}` is "
                             "api_key_sha256's)")
        return self

    def every_key(self) -> list[ApiKey]:
        """Every key, the legacy `api_key_sha256` included."""
        legacy = [ApiKey.model_construct(label=LEGACY_KEY_LABEL, sha256=self.api_key_sha256, scopes=None,
                                         expires_at=None, issued_by=None)] if self.api_key_sha256 else []
        return [*self.api_keys, *legacy]

    def scopes(self, key: ApiKey) -> frozenset[Scope]:
        return frozenset(default_scopes(self.kind) if key.scopes is None else key.scopes)

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
        if data["webhook"].get("previous_secret"):
            data["webhook"]["previous_secret"] = "***"  # noqa: S105 - the redaction mark, not a secret
        else:
            data["webhook"].pop("previous_secret", None)  # no rotation under way: nothing to mention
    # Key digests stay out of answers and events: a guessable key could be found from its digest.
    if data.get("api_key_sha256"):
        data["api_key_sha256"] = "***"
    if isinstance(data.get("api_keys"), list):
        data["api_keys"] = [{**k, "sha256": "***"} if isinstance(k, dict) else k for k in data["api_keys"]]
    return data


class Directory(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partners: list[Partner]

    def get(self, partner_id: str) -> Partner | None:
        return next((p for p in self.partners if p.id == partner_id), None)

    def by_api_key(self, api_key: str) -> Partner | None:
        found = self.authenticate(api_key)
        return found[0] if found else None

    def authenticate(self, api_key: str, at: datetime | None = None) -> tuple[Partner, ApiKey] | None:
        """The partner and key an API key is, unless unknown or expired."""
        digest, at = hash_api_key(api_key), at or datetime.now(UTC)
        return next(((p, k) for p in self.partners for k in p.every_key() if k.sha256 == digest and k.valid_at(at)),
                    None)


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
