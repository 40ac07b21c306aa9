"""Partner HTTP API: submit a complaint, read a case's status. Partners authenticate with their API key.

Each key carries scopes (`submit`, `read`, `update`; services.common.directory) checked per route, and is
rate-limited by a token bucket: 401 unknown or expired key, then 429 with Retry-After, then 403 missing scope.

Routes stay thin: what is acceptable is decided in validation.py, how errors look in common/http_errors.py.
A submission is read as raw bytes (so non-JSON gets its 400 and every rejection is kept as sent), at most
MAX_BODY_BYTES of it; the OpenAPI document still describes it as a PartnerSubmission.
"""

import hmac
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import yaml
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from schemas.internal import ContactAnswer, ContactsAnswer, ContactsRequest
from schemas.models import MAX_ID_CHARS, CaseRef, CaseStep, FieldError, PartnerSubmission, StepOutcome, StepType
from services.common import db
from services.common import logging as log
from services.common.directory import ApiKey, Directory, Partner, RateLimit, Scope
from services.common.http_errors import ErrorBody, error_response, responses
from services.common.outbox import enqueue
from services.common.settings import Settings
from services.intake import lifecycle, store
from services.intake.identity import Vault
from services.intake.validation import (
    CASE_REF_PATTERN,
    ID_PATTERN,
    MAX_BODY_BYTES,
    BodyTooLarge,
    InvalidSubmission,
    NotJson,
    parse_submission,
)

MAX_CONSENT_BYTES = 4 * 1024
ROUTING_WAIT_S = 1.0  # how long a contacts request waits for intake to see a routing the notifier saw
MAX_CASE_EVENT_BYTES = 32 * 1024

bearer = HTTPBearer(auto_error=False, scheme_name="PartnerApiKey",
                    description="The partner's API key: `Authorization: Bearer <key>`")
CaseRefPath = Annotated[str, Path(pattern=CASE_REF_PATTERN, description="As answered by POST /v1/grievances")]
ExternalIdQuery = Annotated[str, Query(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN,
                                       description="The partner's own id for the case")]


class Accepted(BaseModel):
    case_ref: CaseRef
    duplicate: bool
    status_url: str


class Delivery(BaseModel):
    recipient: str
    channel: str
    status: Literal["pending", "retrying", "delivered", "failed"]
    attempts: int
    detail: str | None
    updated_at: datetime


class SlaBreach(BaseModel):
    """A deadline a recipient holding the case missed (config/sla.yaml), and whom the case went to then."""

    recipient: str
    clock: Literal["delivery", "acknowledgement", "acceptance", "progress"]
    deadline: datetime
    breached_at: datetime
    escalated_to: str | None = Field(description="None: no partner was left to escalate to; operators were alerted")


class CaseStatus(BaseModel):
    case_ref: CaseRef
    external_id: str
    status: Literal["received", "triaged", "routed", "delivered", "delivery_failed"]
    urgency: str | None
    categories: list[str] | None
    received_at: datetime
    triaged_at: datetime | None
    deliveries: list[Delivery]
    sla_breaches: list[SlaBreach]
    lifecycle: "Lifecycle"


StateName = Literal["routed", "acknowledged", "accepted", "referred_back", "investigating", "remediation_planned",
                    "remediation_done", "closed"]


class Step(BaseModel):
    sequence: int
    partner_id: str = Field(description="The recipient that reported the step")
    type: StepType
    reason: str | None
    outcome: StepOutcome | None
    note: str | None = Field(description="Only for the partner that wrote it")
    at: datetime
    recorded_at: datetime
    previous_state: StateName
    state: StateName = Field(description="The recipient's state after the step")
    case_state: StateName = Field(description="The case's state after the step")


class Lifecycle(BaseModel):
    state: StateName | None = Field(description="The case as a whole; null until it is routed")
    recipients: dict[str, StateName] = Field(description="Each recipient's state")
    steps: list[Step]


class StepAnswer(Step):
    case_ref: CaseRef
    allowed_next: list[StepType] = Field(description="What this recipient may report next")
    duplicate: bool = Field(description="A resend of a step already recorded")


class ConsentBody(BaseModel):
    share_contact: bool = Field(description="The worker agrees that recipients whose role allows it see contact "
                                            "details")
    contact_back: bool | None = Field(None, description="The worker agrees to be contacted about the case; "
                                                        "false: no recipient gets contact details. Unset: unchanged")


class ConsentAnswer(BaseModel):
    case_ref: CaseRef
    share_contact: bool
    contact_back: bool


class TokenBuckets:
    """A token bucket per key, in this process: each intake instance allows the rate on its own, so N
    instances behind a balancer allow up to N times it. Answers how long to wait (0: go ahead)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock, self._lock = clock, threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # key → (tokens, when)

    def take(self, key: tuple[str, str], limit: RateLimit) -> float:
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.get(key, (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - then) * limit.per_second)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / limit.per_second


def default_rate_limit(env: Mapping[str, str] = os.environ) -> RateLimit:
    """Per key unless the partner sets `rate_limit`: PARTNER_RATE_PER_S (20) sustained, PARTNER_RATE_BURST (1000)."""
    return RateLimit(per_second=float(env.get("PARTNER_RATE_PER_S") or 20),
                     burst=int(env.get("PARTNER_RATE_BURST") or 1000))


@dataclass(frozen=True)
class Caller:
    partner: Partner
    key: ApiKey


_RATE_LIMITED = {429: {"model": ErrorBody, "description": "Too many requests with this key: retry after "
                       "`Retry-After` seconds", "headers": {"Retry-After": {"schema": {"type": "integer"},
                                                                            "description": "Seconds to wait"}}}}


_CONFLICT = {409: {"model": ErrorBody, "description": "The step does not follow from the recipient's current "
                   "state (`detail` names it and the allowed next steps), or the Idempotency-Key was used for "
                   "another step"}}


def _auth(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a partner route: its own, and those of authentication, scopes and rate limits."""
    return {**responses(401, 403, *codes), **_RATE_LIMITED}


def load_worker_messages(config_dir: os.PathLike[str] | str) -> dict[str, dict[str, str]]:
    """The worker's status texts (config/worker_messages.yaml): {language: {case state: text}}."""
    with open(os.path.join(config_dir, "worker_messages.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)["messages"]


M = TypeVar("M", bound=BaseModel)


def router(directory: Callable[[], Directory], vault: Vault, pool: db.Pool, on_commit: Callable[[], None],
           internal_token: str, rate_limit: RateLimit | None = None,
           worker_messages: dict[str, dict[str, str]] | None = None) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["grievances"])
    messages = worker_messages or load_worker_messages(Settings.from_env().config_dir)
    buckets, fallback_limit = TokenBuckets(), rate_limit or default_rate_limit()

    def caller(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
        found = directory().authenticate(credentials.credentials) if credentials else None
        if found is None:
            raise HTTPException(401, "a valid partner API key is required: Authorization: Bearer <key>",
                                headers={"WWW-Authenticate": "Bearer"})
        partner, key = found
        wait = buckets.take((partner.id, key.label), partner.rate_limit or fallback_limit)
        if wait:
            raise HTTPException(429, f"too many requests with key {key.label!r} of {partner.id}",
                                headers={"Retry-After": str(max(1, math.ceil(wait)))})
        return Caller(partner, key)

    def scoped(scope: Scope) -> Callable[[Caller], Partner]:
        def check(who: Annotated[Caller, Depends(caller)]) -> Partner:
            if scope not in who.partner.scopes(who.key):
                raise HTTPException(403, f"key {who.key.label!r} of {who.partner.id} lacks the {scope!r} scope")
            return who.partner
        return check

    submitter, reader, updater = scoped("submit"), scoped("read"), scoped("update")

    @api.post("/grievances", status_code=202, response_model=Accepted, openapi_extra=_json_body(PartnerSubmission),
              responses={200: {"model": Accepted, "description": "A resubmit: the existing case"},
                         **_auth(400, 413, 422, 503)})
    async def submit(request: Request, who: Annotated[Partner, Depends(submitter)]) -> JSONResponse:
        try:
            body = await read_body(request, MAX_BODY_BYTES)
        except BodyTooLarge as exc:
            return await run_in_threadpool(_reject, exc.head, who, exc, cut_off=True)
        return await run_in_threadpool(_submit, body, who)

    def _submit(body: bytes, who: Partner) -> JSONResponse:
        try:
            submission = parse_submission(body, partner_id=who.id)
        except (NotJson, InvalidSubmission) as exc:
            return _reject(body, who, exc)
        with pool.transaction() as cur:
            accepted = store.accept(cur, submission, source="http", vault=vault)
            enqueue(cur, "intake", accepted.messages)
        on_commit()
        log.get().info("case_received", case_ref=accepted.case_ref, duplicate=accepted.duplicate, source="http")
        return JSONResponse({"case_ref": accepted.case_ref, "duplicate": accepted.duplicate,
                             "status_url": f"/v1/grievances/{accepted.case_ref}"},
                            status_code=200 if accepted.duplicate else 202)

    def _reject(body: bytes, who: Partner, exc: NotJson | InvalidSubmission | BodyTooLarge, *,
                cut_off: bool = False) -> JSONResponse:
        """Keep what was sent (bounded) under a reference the partner gets back, then answer."""
        if isinstance(exc, InvalidSubmission):
            status, errors = 422, exc.errors
        elif isinstance(exc, BodyTooLarge):
            status, errors = 413, [FieldError(loc="body", msg=str(exc), type="body_too_large")]
        else:
            status, errors = 400, [FieldError(loc="body", msg=str(exc), type="json_invalid")]
        ref = "http/" + str(uuid.uuid4())
        with pool.transaction() as cur:
            store.keep_rejected(cur, source="http", source_ref=ref, body=body, errors=errors, partner_id=who.id,
                                external_id=getattr(exc, "external_id", None), vault=vault,
                                declared_size=getattr(exc, "declared", None), cut_off=cut_off)
        return error_response(status, "invalid submission", errors=errors, rejection_ref=ref,
                              headers={"Connection": "close"} if cut_off else None)

    @api.get("/grievances", response_model=CaseStatus, responses=_auth(404, 422, 503))
    def find(external_id: ExternalIdQuery, who: Annotated[Partner, Depends(reader)]) -> JSONResponse:
        """Look a case up by the partner's own id: how a partner that submitted on Kafka finds its case."""
        with pool.transaction() as cur:
            case_ref = store.case_ref_for(cur, who.id, external_id)
            found = store.case_status(cur, case_ref, who.id) if case_ref else None
            if found is not None:
                found["lifecycle"] = store.case_lifecycle(cur, found["case_ref"], who.id, vault)
        if found is None:
            raise HTTPException(404, f"no case with external_id {external_id!r} submitted by {who.id}")
        return JSONResponse(_jsonable(found))

    @api.get("/grievances/{case_ref}", response_model=CaseStatus, responses=_auth(404, 422, 503))
    def status(case_ref: CaseRefPath, who: Annotated[Partner, Depends(reader)]) -> JSONResponse:
        with pool.transaction() as cur:
            found = store.case_status(cur, case_ref, who.id)
            if found is not None:
                found["lifecycle"] = store.case_lifecycle(cur, case_ref, who.id, vault)
        if found is None:  # another partner's case looks exactly like a missing one
            raise HTTPException(404, store.no_case(case_ref, who.id))
        return JSONResponse(_jsonable(found))

    @api.post("/grievances/{case_ref}/consent", response_model=ConsentAnswer,
              openapi_extra=_json_body(ConsentBody), responses=_auth(404, 413, 422, 503))
    async def consent(case_ref: CaseRefPath, request: Request,
                      who: Annotated[Partner, Depends(updater)]) -> JSONResponse:
        """The worker gave or withdrew consent to share contact details (and to be contacted back): it
        governs every later disclosure, including retries and replays of earlier deliveries. Only the
        submitting partner, with a key holding the `update` scope; any other case is a 404."""
        body = await read_model(request, ConsentBody, MAX_CONSENT_BYTES)
        return await run_in_threadpool(_consent, case_ref, body, who)

    def _consent(case_ref: str, body: ConsentBody, who: Partner) -> JSONResponse:
        try:
            with pool.transaction() as cur:
                now = store.set_consent(cur, case_ref, who.id, body.share_contact, f"partner:{who.id}",
                                        contact_back=body.contact_back)
                enqueue(cur, "intake", [now.message])
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        on_commit()
        return JSONResponse({"case_ref": case_ref, "share_contact": now.share_contact,
                             "contact_back": now.contact_back})

    @api.post("/cases/{case_ref}/events", status_code=201, response_model=StepAnswer,
              openapi_extra=_json_body(CaseStep),
              responses={200: {"model": StepAnswer, "description": "A resend: the step already recorded"},
                         **_auth(404, 413, 422, 503), **_CONFLICT}, tags=["cases"])
    async def case_event(case_ref: CaseRefPath, request: Request, who: Annotated[Partner, Depends(updater)],
                         idempotency_key: Annotated[str | None, Header(
                             min_length=1, max_length=200, pattern=ID_PATTERN,
                             description="Makes a resend the same step")] = None) -> JSONResponse:
        """A recipient acknowledges or updates a case routed to it (key with the `update` scope): the step is
        checked against its current state (409 naming the state and the allowed next steps), stored, and
        published on case.updated with a status message for the worker. Any other case is a 404."""
        body = await read_model(request, CaseStep, MAX_CASE_EVENT_BYTES)
        return await run_in_threadpool(_case_event, case_ref, body, idempotency_key, who)

    def _case_event(case_ref: str, body: CaseStep, idempotency_key: str | None, who: Partner) -> JSONResponse:
        try:
            with pool.transaction() as cur:
                done = store.record_step(cur, case_ref, who.id, body.type, reason=body.reason, outcome=body.outcome,
                                         note=body.note, at=body.at, idempotency_key=idempotency_key, vault=vault,
                                         templates=messages)
                if done.message is not None:
                    enqueue(cur, "intake", [done.message])
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except store.StepConflict as exc:
            return error_response(409, str(exc), errors=[FieldError(loc="header.idempotency-key", msg=str(exc),
                                                                    type="idempotency_key_reused")])
        except lifecycle.Refused as exc:
            allowed = [s.value for s in exc.allowed]
            return error_response(409, str(exc), errors=[FieldError(loc="type", msg=str(exc),
                                                                    type="transition_refused")],
                                  detail={"current_state": exc.current.value, "allowed_next": allowed})
        if done.message is not None:
            on_commit()
            log.get().info("case_updated", case_ref=case_ref, partner=who.id, step=body.type,
                           state=done.step["state"])
        return JSONResponse(_jsonable(done.step | {"duplicate": done.duplicate}),
                            status_code=200 if done.duplicate else 201)

    @api.post("/internal/contacts", include_in_schema=False)
    def contacts(body: ContactsRequest, authorization: Annotated[str | None, Header()] = None) -> ContactsAnswer:
        """For the notifier only: workers' contact details for a batch of (case, recipient), each released
        only if the shield, the recipient's role and the consent held now allow it, each audited. A routing
        intake has not projected yet (the notifier read case.routed first) is waited for up to
        ROUTING_WAIT_S, outside any transaction, then answered `not_routed`: ask again shortly."""
        if not internal_token or not hmac.compare_digest(authorization or "", f"Bearer {internal_token}"):
            raise HTTPException(401, "internal token required")
        asked = list(dict.fromkeys((r.case_ref, r.recipient) for r in body.requests))
        answers: dict[tuple[str, str], ContactAnswer] = {}
        deadline = time.monotonic() + ROUTING_WAIT_S
        while True:
            waiting = [pair for pair in asked if pair not in answers]
            with pool.transaction() as cur:
                seen = store.routed_pairs(cur, waiting)
                for case_ref, recipient in (pair for pair in waiting if pair in seen):
                    found, reason = store.release_contact(cur, case_ref, directory().get(recipient), vault)
                    answers[case_ref, recipient] = ContactAnswer(
                        case_ref=case_ref, recipient=recipient, status="refused" if found is None else "released",
                        contact=found, reason=reason)
            if len(answers) == len(asked) or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        for case_ref, recipient in asked:
            answers.setdefault((case_ref, recipient), ContactAnswer(
                case_ref=case_ref, recipient=recipient, status="not_routed",
                reason="routing of this case to the recipient not seen yet"))
        return ContactsAnswer(answers=[answers[pair] for pair in asked])

    return api


async def read_model(request: Request, model: type[M], limit: int) -> M:
    """A small JSON body as `model`: 413 past `limit` (the connection closed, the rest unread), 422 naming
    the fields, never echoing the input."""
    try:
        return model.model_validate_json(await read_body(request, limit))
    except BodyTooLarge as exc:
        raise HTTPException(413, str(exc), headers={"Connection": "close"}) from exc
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from exc


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk and never past `limit`: a declared Content-Length over it is refused
    before anything is read, a chunked body as soon as it runs over (with what was read, for keeping)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(b"", int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        if size + len(chunk) > limit:
            chunks.append(chunk[:limit - size])
            raise BodyTooLarge(b"".join(chunks), None)
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """An OpenAPI request body for a route that reads raw bytes: the model's schema, $defs inlined."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items()}
        return [inline(v) for v in node] if isinstance(node, list) else node

    return {"requestBody": {"required": True, "content": {"application/json": {"schema": inline(schema)}}}}


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value.isoformat() if hasattr(value, "isoformat") else value
