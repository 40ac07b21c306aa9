"""The partner directory: who the partner organisations are, what they cover, how to reach them.

Loaded from config/partners.yaml. String values may reference environment variables as ${NAME} or
${NAME:-default}, so secrets and URLs stay out of the file in real deployments.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from schemas.models import Disclosure, Urgency

_ENV_REF = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")

PartnerKind = Literal[
    "iom_mission", "ngo", "trade_union", "labour_inspectorate", "embassy", "brand", "recruitment_agency",
    "iris_body", "hotline",
]


class Webhook(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    secret: str = Field(min_length=16)


class Partner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    kind: PartnerKind
    countries_of_work: list[str] = Field(default_factory=list, description="Empty: every country")
    countries_of_origin: list[str] = Field(default_factory=list, description="Empty: every country")
    categories: list[str] = Field(default_factory=list, description="Empty: every category")
    urgencies: list[Urgency] = Field(default_factory=lambda: list(Urgency))
    disclosure: Disclosure = Disclosure.pseudonymous
    available_24_7: bool = False
    receives_cases: bool = True
    api_key_sha256: str | None = None
    webhook: Webhook | None = None


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
