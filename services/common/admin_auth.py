"""Operator authentication for the admin APIs (triage's directory admin, the notifier's deliveries):
a Bearer key whose SHA-256 digest is listed in config/admins.yaml."""


from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from fastapi import Header, HTTPException

from services.common.directory import hash_api_key, load_yaml


def load_admins(config_dir: Path) -> dict[str, str]:
    """Key digest → admin id."""
    return {a["api_key_sha256"]: a["id"] for a in load_yaml(config_dir / "admins.yaml")["admins"]}


def require_admin(admins: dict[str, str]) -> Callable[..., str]:
    """A FastAPI dependency answering the admin's id, or 401."""
    def admin(authorization: Annotated[str | None, Header()] = None) -> str:
        scheme, _, key = (authorization or "").partition(" ")
        actor = admins.get(hash_api_key(key.strip())) if scheme.lower() == "bearer" else None
        if actor is None:
            raise HTTPException(401, "an admin API key is required", headers={"WWW-Authenticate": "Bearer"})
        return actor
    return admin
