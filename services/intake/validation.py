"""Turning partner bytes into a PartnerSubmission, or into field errors a partner can act on. Pure.

HTTP and Kafka submissions go through the same `parse_submission`, so both refuse the same input: more
than MAX_BODY_BYTES, bytes that are not UTF-8 JSON, nesting past the parser's depth, NUL and unpaired
surrogates in any string (PostgreSQL text cannot hold either, and neither is ever part of a complaint),
control characters in ids, unassigned country codes. Everything said about a rejection (field names,
messages, ids) is made safe to store and to echo before it leaves this module.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from pydantic import ValidationError

from schemas.models import MAX_ID_CHARS, FieldError, PartnerSubmission

MAX_BODY_BYTES = 64 * 1024
MAX_ERRORS = 50  # a body with 10,000 bad strings gets the first 50: the answer and the kept row stay small
CASE_REF_PATTERN = r"^GRV-[0-9A-Z]{12}$"
ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"  # what schemas.models.Id accepts: no control characters

_PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class NotJson(ValueError):
    """The bytes are not a JSON object at all: nothing to answer field by field (dead letter)."""


class BodyTooLarge(ValueError):
    """More than MAX_BODY_BYTES: refused before it is read whole. `head` is what was read (at most the
    limit); `declared` the Content-Length when the client sent one."""

    def __init__(self, head: bytes, declared: int | None):
        super().__init__(f"body over the limit of {MAX_BODY_BYTES} bytes"
                         + (f" (Content-Length {declared})" if declared is not None else ""))
        self.head, self.declared = head, declared


class InvalidSubmission(ValueError):
    """Valid JSON that breaks the contract: answered with the failing fields (rejected event / 422)."""

    def __init__(self, errors: list[FieldError], partner_id: str | None, external_id: str | None):
        super().__init__("; ".join(f"{e.loc}: {e.msg}" for e in errors))
        self.errors, self.partner_id, self.external_id = errors, partner_id, external_id


@dataclass(frozen=True)
class KeptBody:
    """What is kept of a rejected body: at most MAX_BODY_BYTES of it, with its full size and digest when
    it was read whole (a body cut off at the limit has neither)."""

    head: bytes
    size: int | None
    sha256: str | None
    truncated: bool


def kept_body(body: bytes, *, declared: int | None = None, cut_off: bool = False) -> KeptBody:
    head = body[:MAX_BODY_BYTES]
    whole = not cut_off and len(head) == len(body)
    return KeptBody(head=head, size=len(body) if not cut_off else declared,
                    sha256=hashlib.sha256(body).hexdigest() if not cut_off else None, truncated=not whole)


def printable(value: object, limit: int = 200) -> str:
    """Text that PostgreSQL, jsonb and a UTF-8 response can all hold: controls and surrogates escaped."""
    text = str(value)
    out = _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text[:limit])
    return out + "…" if len(text) > limit else out


def field_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(loc=printable(".".join(str(p) for p in e["loc"]) or "body"), msg=printable(e["msg"], 500),
                   type=printable(e["type"], 100))
        for e in exc.errors(include_url=False)
    ]


def parse_json_object(raw: bytes) -> dict:
    if len(raw) > MAX_BODY_BYTES:
        raise NotJson(f"body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
    try:
        # RFC 8259: JSON between systems is UTF-8 (json.loads(bytes) would also guess UTF-16 and -32).
        body = json.loads(raw.decode("utf-8-sig"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise NotJson(f"not UTF-8: {printable(exc.reason)} at byte {exc.start}") from exc
    except RecursionError as exc:
        raise NotJson("JSON nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, integers past Python's 4,300 digits
        raise NotJson(f"not JSON: {printable(exc, 300)}") from exc
    if not isinstance(body, dict):
        raise NotJson(f"expected a JSON object, got {type(body).__name__}")
    return body


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def unsafe_strings(body: dict) -> list[FieldError]:
    """Every string (and key) holding NUL or an unpaired surrogate, anywhere in the body, unknown fields
    included: such a body is refused whole, naming each place. Iterative, so depth costs no stack."""
    errors: list[FieldError] = []
    stack: list[tuple[str, object]] = [("", body)]
    while stack and len(errors) < MAX_ERRORS:
        loc, value = stack.pop()
        if isinstance(value, str):
            if problem := _string_problem(value):
                errors.append(FieldError(loc=loc or "body", msg=f"must not contain {problem[0]}", type=problem[1]))
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                path = f"{loc}.{printable(key, 100)}" if loc else printable(key, 100)
                if problem := _string_problem(key):
                    errors.append(FieldError(loc=path, msg=f"field name must not contain {problem[0]}",
                                             type=problem[1]))
                stack.append((path, item))
        elif isinstance(value, list):
            stack.extend((f"{loc}.{i}", item) for i, item in reversed(list(enumerate(value))))
    return errors


def _string_problem(value: str) -> tuple[str, str] | None:
    if "\x00" in value:
        return "NUL (\\u0000)", "string_nul"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "an unpaired surrogate (\\ud800-\\udfff)", "string_unpaired_surrogate"
    return None


def safe_external_id(value: object) -> str | None:
    """The external id to file a rejection under, only when it is one the contract would accept."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if 0 < len(value) <= MAX_ID_CHARS and not _UNSAFE.search(value) else None


def _safe_partner_id(value: object) -> str | None:
    return value if isinstance(value, str) and _PARTNER_ID.match(value) else None


def parse_submission(raw: bytes, *, partner_id: str | None = None) -> PartnerSubmission:
    """Validate and normalise. partner_id, when given (HTTP: from the API key), overrides the body's."""
    body = parse_json_object(raw)
    claimed = body.get("partner_id")
    external_id = safe_external_id(body.get("external_id"))
    if partner_id is not None:
        if claimed not in (None, partner_id):
            raise InvalidSubmission(
                [FieldError(loc="partner_id", msg="does not match the API key's partner", type="value_error")],
                partner_id, external_id)
        body["partner_id"] = partner_id
    unsafe = unsafe_strings(body)
    try:
        submission = PartnerSubmission.model_validate(body)
    except ValidationError as exc:
        seen = {e.loc for e in unsafe}  # our message for a bad string beats pydantic's string_unicode
        errors = unsafe + [e for e in field_errors(exc) if e.loc not in seen]
        raise InvalidSubmission(errors[:MAX_ERRORS], _safe_partner_id(claimed) or partner_id, external_id) from exc
    if unsafe:  # only in fields the model ignores: still refused, a partner bug worth hearing about
        raise InvalidSubmission(unsafe, submission.partner_id, external_id)
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
