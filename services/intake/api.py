"""Partner HTTP API: submit a complaint, read a case's status. Partners authenticate with their API key."""

import hmac
import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from schemas.models import FieldError
from services.common import db
from services.common import logging as log
from services.common.directory import Directory, Partner
from services.common.outbox import enqueue
from services.intake import store
from services.intake.identity import Vault
from services.intake.validation import InvalidSubmission, NotJson, parse_submission


def router(directory: Callable[[], Directory], vault: Vault, pool: db.Pool, on_commit: Callable[[], None],
           internal_token: str) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["grievances"])

    def partner(authorization: Annotated[str | None, Header()] = None) -> Partner:
        scheme, _, key = (authorization or "").partition(" ")
        found = directory().by_api_key(key.strip()) if scheme.lower() == "bearer" and key.strip() else None
        if found is None:
            raise HTTPException(401, "a valid partner API key is required: Authorization: Bearer <key>",
                                headers={"WWW-Authenticate": "Bearer"})
        return found

    @api.post("/grievances", status_code=202, responses={
        200: {"description": "A resubmit: the existing case"}, 400: {"description": "Not a JSON object"},
        422: {"description": "Field errors"}})
    async def submit(request: Request, who: Annotated[Partner, Depends(partner)]) -> JSONResponse:
        return await run_in_threadpool(_submit, await request.body(), who)

    def _submit(body: bytes, who: Partner) -> JSONResponse:
        try:
            submission = parse_submission(body, partner_id=who.id)
        except (NotJson, InvalidSubmission) as exc:
            errors = exc.errors if isinstance(exc, InvalidSubmission) else [
                FieldError(loc="body", msg=str(exc), type="json_invalid")]
            ref = "http/" + str(uuid.uuid4())
            with pool.transaction() as cur:
                store.keep_rejected(cur, source="http", source_ref=ref, body=body, errors=errors,
                                    partner_id=who.id, external_id=getattr(exc, "external_id", None))
            status = 422 if isinstance(exc, InvalidSubmission) else 400
            return JSONResponse({"error": "invalid submission", "rejection_ref": ref,
                                 "errors": [e.model_dump() for e in errors]}, status_code=status)
        with pool.transaction() as cur:
            accepted = store.accept(cur, submission, source="http", vault=vault)
            enqueue(cur, "intake", accepted.messages)
        on_commit()
        log.get().info("case_received", case_ref=accepted.case_ref, duplicate=accepted.duplicate, source="http")
        return JSONResponse({"case_ref": accepted.case_ref, "duplicate": accepted.duplicate,
                             "status_url": f"/v1/grievances/{accepted.case_ref}"},
                            status_code=200 if accepted.duplicate else 202)

    @api.get("/grievances")
    def find(external_id: str, who: Annotated[Partner, Depends(partner)]) -> JSONResponse:
        """Look a case up by the partner's own id: how a partner that submitted on Kafka finds its case."""
        with pool.transaction() as cur:
            case_ref = store.case_ref_for(cur, who.id, external_id)
            found = store.case_status(cur, case_ref, who.id) if case_ref else None
        if found is None:
            raise HTTPException(404, f"no case with external_id {external_id!r} submitted by {who.id}")
        return JSONResponse(_jsonable(found))

    @api.get("/grievances/{case_ref}")
    def status(case_ref: str, who: Annotated[Partner, Depends(partner)]) -> JSONResponse:
        with pool.transaction() as cur:
            found = store.case_status(cur, case_ref, who.id)
        if found is None:  # another partner's case looks exactly like a missing one
            raise HTTPException(404, f"no case {case_ref} submitted by {who.id}")
        return JSONResponse(_jsonable(found))

    @api.post("/grievances/{case_ref}/consent")
    def consent(case_ref: str, body: ConsentBody, who: Annotated[Partner, Depends(partner)]) -> JSONResponse:
        """The worker gave or withdrew consent to share contact details: it governs every later
        disclosure, including retries and replays of earlier deliveries."""
        try:
            with pool.transaction() as cur:
                message = store.set_consent(cur, case_ref, who.id, body.share_contact, f"partner:{who.id}")
                enqueue(cur, "intake", [message])
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        on_commit()
        return JSONResponse({"case_ref": case_ref, "share_contact": body.share_contact})

    @api.get("/internal/contacts/{case_ref}", include_in_schema=False)
    def contact(case_ref: str, recipient: str, authorization: Annotated[str | None, Header()] = None):
        """For the notifier only: a worker's contact details for one recipient, if the shield allows."""
        if not internal_token or not hmac.compare_digest(authorization or "", f"Bearer {internal_token}"):
            raise HTTPException(401, "internal token required")
        with pool.transaction() as cur:
            found, reason = store.release_contact(cur, case_ref, directory().get(recipient), vault)
        if found is None:
            raise HTTPException(403, reason)
        return {"contact": found.model_dump(exclude_none=True), "reason": reason}

    return api


class ConsentBody(BaseModel):
    share_contact: bool


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value
