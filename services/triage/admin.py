"""The admin API on the triage service: the partner directory (every change audited and announced as a
directory.changed event carrying who made it), partner key rotation, and the employer/recruiter counts for
the dashboard. Admins authenticate with a Bearer key whose SHA-256 digest is listed in config/admins.yaml;
a partner key with the `admin` scope may also issue and revoke its own partner's keys."""

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common import db
from services.common.admin_auth import load_admins, require_admin
from services.common.directory import ApiKey, Partner, Scope, hash_api_key
from services.common.outbox import enqueue
from services.common.settings import Settings
from services.triage import directory_store


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Default: key-<random>")
    scopes: list[Scope] | None = Field(None, description="Default: those of the partner's kind")
    expires_at: datetime | None = None


def _field_errors(exc: ValidationError) -> list[dict[str, str]]:
    return [{"loc": ".".join(map(str, e["loc"])), "msg": e["msg"]} for e in exc.errors(include_url=False)]


def router(settings: Settings, pool: db.Pool, on_commit: Callable[[], None]) -> APIRouter:
    admins = load_admins(settings.config_dir)
    api = APIRouter(prefix="/v1/admin", tags=["admin"])
    admin = require_admin(admins)

    def key_manager(partner_id: str, authorization: Annotated[str | None, Header()] = None) -> str:
        """An admin, or the partner itself with a key holding the `admin` scope."""
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip() if scheme.lower() == "bearer" else ""
        if actor := admins.get(hash_api_key(key)) if key else None:
            return f"admin:{actor}"
        with pool.transaction() as cur:
            partner = directory_store.get(cur, partner_id) if key else None
        own = next((k for k in partner.every_key() if k.sha256 == hash_api_key(key)
                    and k.valid_at(datetime.now(UTC))), None) if partner else None
        if partner is None or own is None or "admin" not in partner.scopes(own):
            raise HTTPException(401, "an admin API key, or this partner's key with the admin scope, is required",
                                headers={"WWW-Authenticate": "Bearer"})
        return f"partner:{partner.id}/{own.label}"

    @api.post("/partners/{partner_id}/keys", status_code=201)
    def issue_key(partner_id: str, body: NewKey, actor: Annotated[str, Depends(key_manager)]) -> JSONResponse:
        """A new key for the partner, answered once: only its SHA-256 is stored. The partner's other keys
        stay valid until revoked, so it can switch over without downtime."""
        plain = "gpk_" + secrets.token_urlsafe(32)
        try:
            key = ApiKey(label=body.label or f"key-{secrets.token_hex(4)}", sha256=hash_api_key(plain),
                         scopes=body.scopes, expires_at=body.expires_at, issued_by=actor)
        except ValidationError as exc:
            raise HTTPException(422, _field_errors(exc)) from exc
        try:
            with pool.transaction() as cur:
                message = directory_store.add_key(cur, partner_id, key, actor)
                enqueue(cur, "triage", [message])
                partner = directory_store.get(cur, partner_id)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(409, str(exc)) from exc
        on_commit()
        assert partner is not None  # noqa: S101 - written in this transaction
        return JSONResponse({"partner_id": partner_id, "label": key.label, "key": plain,
                             "scopes": sorted(partner.scopes(key)),
                             "expires_at": key.expires_at.isoformat() if key.expires_at else None,
                             "note": "shown once: only its SHA-256 is stored"}, status_code=201,
                            headers={"Cache-Control": "no-store"})

    @api.delete("/partners/{partner_id}/keys/{label}")
    def revoke_key(partner_id: str, label: str, actor: Annotated[str, Depends(key_manager)]) -> dict:
        try:
            with pool.transaction() as cur:
                message = directory_store.revoke_key(cur, partner_id, label, actor)
                enqueue(cur, "triage", [message])
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        on_commit()
        return {"partner_id": partner_id, "label": label, "revoked": True}

    @api.get("/partners")
    def list_partners(actor: Annotated[str, Depends(admin)]) -> list[dict]:
        with pool.transaction() as cur:
            return [p.redacted() for p in directory_store.load(cur).partners]

    @api.get("/partners/{partner_id}")
    def get_partner(partner_id: str, actor: Annotated[str, Depends(admin)]) -> dict:
        with pool.transaction() as cur:
            found = directory_store.load(cur).get(partner_id)
        if found is None:
            raise HTTPException(404, f"no partner {partner_id}")
        return found.redacted()

    @api.put("/partners/{partner_id}")
    def put_partner(partner_id: str, body: dict[str, Any], actor: Annotated[str, Depends(admin)]) -> dict:
        try:
            partner = Partner.model_validate({**body, "id": partner_id})
        except ValidationError as exc:
            raise HTTPException(422, _field_errors(exc)) from exc
        with pool.transaction() as cur:
            message = directory_store.upsert(cur, partner, f"admin:{actor}")
            enqueue(cur, "triage", [message] if message else [])
        on_commit()
        return {"partner_id": partner_id, "changed": message is not None}

    @api.delete("/partners/{partner_id}")
    def delete_partner(partner_id: str, actor: Annotated[str, Depends(admin)]) -> dict:
        with pool.transaction() as cur:
            message = directory_store.delete(cur, partner_id, f"admin:{actor}")
            enqueue(cur, "triage", [message] if message else [])
        if message is None:
            raise HTTPException(404, f"no partner {partner_id}")
        on_commit()
        return {"partner_id": partner_id, "deleted": True}

    @api.get("/partners/{partner_id}/changes")
    def changes(partner_id: str, actor: Annotated[str, Depends(admin)]) -> list[dict]:
        with pool.transaction() as cur:
            cur.execute("SELECT action, actor, before, after, changed_at FROM triage.directory_changes"
                        " WHERE partner_id = %s ORDER BY id", (partner_id,))
            return [{"action": a, "actor": who, "before": b, "after": af, "changed_at": at.isoformat()}
                    for a, who, b, af, at in cur.fetchall()]

    @api.get("/entities")
    def entities(actor: Annotated[str, Depends(admin)], role: str | None = None, min_cases: int = 1) -> list[dict]:
        """Employers and recruiters named in complaints, linked across partners by normalised name."""
        with pool.transaction() as cur:
            directory = directory_store.load(cur)
            cur.execute(
                "SELECT role, entity_key, array_agg(DISTINCT name), count(*), count(DISTINCT partner_id),"
                " array_agg(DISTINCT partner_id), array_agg(DISTINCT country) FILTER (WHERE country IS NOT NULL),"
                " count(*) FILTER (WHERE urgency = 'critical') FROM triage.case_entities"
                " WHERE (%s::text IS NULL OR role = %s) GROUP BY role, entity_key HAVING count(*) >= %s"
                " ORDER BY count(*) DESC, entity_key", (role, role, min_cases))
            rows = cur.fetchall()
        agencies = {k: p for p in directory.partners if p.kind == "recruitment_agency" for k in p.entity_keys()}
        return [{"role": r, "entity_key": key, "names": sorted(names), "cases": cases, "partners": n_partners,
                 "partner_ids": sorted(pids), "countries": sorted(countries or []), "critical_cases": critical,
                 "iris_certified": agencies[key].iris_certified if r == "recruiter" and key in agencies else None}
                for r, key, names, cases, n_partners, pids, countries, critical in rows]

    return api
