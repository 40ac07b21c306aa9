"""Turning partner bytes into a PartnerSubmission, or into field errors a partner can act on. Pure."""

from __future__ import annotations

import hashlib
import json

from pydantic import ValidationError

from schemas.models import FieldError, PartnerSubmission

MAX_BODY_BYTES = 64 * 1024


class NotJson(ValueError):
    """The bytes are not a JSON object at all: nothing to answer field by field (dead letter)."""


class InvalidSubmission(ValueError):
    """Valid JSON that breaks the contract: answered with the failing fields (rejected event / 422)."""

    def __init__(self, errors: list[FieldError], partner_id: str | None, external_id: str | None):
        super().__init__("; ".join(f"{e.loc}: {e.msg}" for e in errors))
        self.errors, self.partner_id, self.external_id = errors, partner_id, external_id


def field_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(loc=".".join(str(p) for p in e["loc"]) or "body", msg=e["msg"], type=e["type"])
        for e in exc.errors(include_url=False)
    ]


def parse_json_object(raw: bytes) -> dict:
    if len(raw) > MAX_BODY_BYTES:
        raise NotJson(f"body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotJson(f"not UTF-8 JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise NotJson(f"expected a JSON object, got {type(body).__name__}")
    return body


def parse_submission(raw: bytes, *, partner_id: str | None = None) -> PartnerSubmission:
    """Validate and normalise. partner_id, when given (HTTP: from the API key), overrides the body's."""
    body = parse_json_object(raw)
    claimed = body.get("partner_id")
    str_or_none = lambda v: v if isinstance(v, str) else None  # noqa: E731
    if partner_id is not None:
        if claimed not in (None, partner_id):
            raise InvalidSubmission(
                [FieldError(loc="partner_id", msg="does not match the API key's partner", type="value_error")],
                partner_id, str_or_none(body.get("external_id")))
        body["partner_id"] = partner_id
    try:
        submission = PartnerSubmission.model_validate(body)
    except ValidationError as exc:
        raise InvalidSubmission(field_errors(exc), str_or_none(claimed) or partner_id,
                                str_or_none(body.get("external_id"))) from exc
    if submission.partner_id is None:
        raise InvalidSubmission([FieldError(loc="partner_id", msg="Field required", type="missing")],
                                None, submission.external_id)
    return submission


def dedupe_key(submission: PartnerSubmission) -> str:
    """The partner's external id, or a digest of the content when the partner has none."""
    if submission.external_id:
        return submission.external_id
    contact = submission.contact.model_dump_json() if submission.contact else ""
    return "sha256:" + hashlib.sha256(f"{submission.text}\x1f{contact}".encode()).hexdigest()
