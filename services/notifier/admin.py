"""The notifier's admin API: list dead-lettered deliveries and drive one again. Operators authenticate as
on the triage admin API (services/common/admin_auth.py, config/admins.yaml)."""


from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException

from services.common import db
from services.common import logging as log
from services.common.admin_auth import load_admins, require_admin
from services.common.settings import Settings
from services.notifier import retry, store


def redeliver(cur: db.Cursor, policy: retry.Policy, **match: Any) -> list[tuple[int, str, str, str]]:
    """Dead-lettered deliveries matched driven again, with a fresh horizon from now; see store.redeliver."""
    now = datetime.now(UTC)
    return store.redeliver(cur, horizon_for=lambda urgency: policy.give_up_at(urgency, now), **match)


def router(settings: Settings, pool: db.Pool, policy: retry.Policy, wake: Callable[[], None]) -> APIRouter:
    api = APIRouter(prefix="/v1/admin", tags=["admin"])
    admin = require_admin(load_admins(settings.config_dir))

    @api.get("/deliveries")
    def dead_letters(actor: Annotated[str, Depends(admin)]) -> dict[str, Any]:
        """Deliveries given up after their retry horizon (status failed), newest first."""
        with pool.transaction() as cur:
            return {"deliveries": store.dead(cur)}

    @api.post("/deliveries/{delivery_id}/redeliver")
    def redeliver_one(delivery_id: int, actor: Annotated[str, Depends(admin)]) -> dict[str, Any]:
        """Drive a dead-lettered delivery again: pending now, under the same webhook-id, with a fresh retry
        horizon. 409 for a delivery that is delivered or still being retried."""
        with pool.transaction() as cur:
            found = redeliver(cur, policy, delivery_id=delivery_id)
        if not found:
            raise HTTPException(404, f"no delivery {delivery_id}")
        id, case_ref, recipient, was = found[0]
        if was != "failed":
            raise HTTPException(409, f"delivery {delivery_id} is {was}, not dead-lettered: nothing to redeliver")
        log.get().info("redelivery_requested", case_ref=case_ref, recipient=recipient, actor=f"admin:{actor}")
        wake()
        return {"id": id, "case_ref": case_ref, "recipient": recipient, "status": "pending"}

    return api
