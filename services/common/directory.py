"""The partner directory: who the partner organisations are, what they cover, how to reach them.

Loaded from config/partners.yaml into PostgreSQL (`grievance directory load`), changed through the
triage service's admin API, and read by every service from the database. String values may reference
environment variables as ${NAME} or ${NAME:-default}, so secrets and URLs stay out of the file.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field

from schemas.models import Disclosure, Urgency
from services.common.names import entity_key

_ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")

PartnerKind = Literal[
    "iom_mission", "ngo", "trade_union", "labour_inspectorate", "embassy", "brand", "recruitment_agency",
    "iris_body", "hotline",
]


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    secret: str = Field(min_length=16)


class WorkingHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str = Field(description="IANA name, e.g. Asia/Kuala_Lumpur")
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    start: str = Field("09:00", pattern=r"^\d{2}:\d{2}$")
    end: str = Field("17:00", pattern=r"^\d{2}:\d{2}$")

    def open_at(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone))
        day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
        return day in self.days and self.start <= local.strftime("%H:%M") < self.end


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
    email: str | None = None

    def available_at(self, moment: datetime) -> bool:
        """Able to respond now: a 24/7 service, or within its working hours."""
        return self.available_24_7 or (self.working_hours is not None and self.working_hours.open_at(moment))

    def entity_keys(self) -> set[str]:
        """Name keys of what this organisation is or acts for (see services.common.names)."""
        return {k for k in (entity_key(n) for n in [self.name, *self.represents]) if k}

    def redacted(self) -> dict:
        """The record without secrets, for APIs, events and logs."""
        data = self.model_dump(mode="json")
        if data.get("webhook"):
            data["webhook"]["secret"] = "***"
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


class DirectoryCache:
    """The directory as stored in PostgreSQL (triage.partners), re-read at most every `ttl_s` seconds, so
    an admin change reaches every service within seconds. If the database is unreachable the last good
    copy stays in use."""

    def __init__(self, database_url: str, ttl_s: float = 5.0):
        self.database_url, self.ttl_s = database_url, ttl_s
        self._lock = threading.Lock()
        self._directory: Directory | None = None
        self._loaded_at = 0.0

    def get(self) -> Directory:
        with self._lock:
            if self._directory is None or time.monotonic() - self._loaded_at > self.ttl_s:
                try:
                    self._directory = self._read()
                    self._loaded_at = time.monotonic()
                except Exception:
                    if self._directory is None:
                        raise
        return self._directory

    def invalidate(self) -> None:
        """Read the database again on next use (the writer calls this after its own changes)."""
        with self._lock:
            self._loaded_at = float("-inf")

    def _read(self) -> Directory:
        from services.common import db

        conn = db.connect(self.database_url, retries=1)
        try:
            with db.transaction(conn) as cur:
                cur.execute("SELECT record FROM triage.partners ORDER BY id")
                return Directory(partners=[Partner.model_validate(r[0]) for r in cur.fetchall()])
        finally:
            conn.close()
