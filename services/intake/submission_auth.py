"""Who sent a record on grievance.submissions: the partner whose secret signed it. Pure: no Kafka, no SQL.

Anyone who reaches the broker can write a record with any key and any body, so neither proves anything.
A submission is taken as a partner's only when it carries a Standard Webhooks signature made with that
partner's secret (the webhook secret in the directory: the one secret we already share with it) over
the record key, the event id, a timestamp and the value bytes:

    key                 the partner id (the claim)
    webhook-id          the event id; a `ce_id`, when the record has one, must be the same
    webhook-timestamp   Unix seconds, within the tolerance window of intake's clock (replay protection)
    webhook-signature   v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{key}.{value}">,
                        several space-separated while a secret is being rotated

`services.common.signing.submission_headers` makes them. A record that fails here is answered on
grievance.rejected (to the partner it claims to be, when that partner exists) and kept, never filed,
and nothing past this point (JSON parsing included) ever sees it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from schemas.envelope import Headers
from schemas.models import FieldError
from services.common.directory import Directory
from services.common.signing import submission_signature

ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "webhook-id", "webhook-timestamp", "webhook-signature"
_SIGNED_HEADERS = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER, "ce_id")
_ID = re.compile(r"^[\x21-\x7e]{1,200}$")  # what an event id is made of everywhere (printable ASCII, no space)
_PARTNER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_MAX_SIGNATURE_CHARS = 1024  # a few v1 signatures while a secret rotates


class Unauthenticated(ValueError):
    """The record does not prove it comes from the partner its key names. `partner_id` is that partner
    when it exists (it is told of the attempt on its own stream of rejections), else None."""

    def __init__(self, errors: list[FieldError], partner_id: str | None):
        super().__init__("; ".join(f"{e.loc}: {e.msg}" for e in errors))
        self.errors, self.partner_id = errors, partner_id


@dataclass(frozen=True)
class Verified:
    partner_id: str
    event_id: str
    timestamp: int


def verify(key: bytes | None, headers: Headers, value: bytes | None, directory: Directory, *, now: float,
           tolerance_s: int) -> Verified:
    """The partner that signed this record; raises Unauthenticated with the failing fields otherwise."""
    partner_id = _partner_id(key)
    partner = directory.get(partner_id) if partner_id else None
    if partner is None:
        msg = "unknown partner" if partner_id else "the record key must be the submitting partner's id"
        raise Unauthenticated([_error("key", msg, "value_error")], None)
    who = partner.id

    found = _headers(headers)
    errors = [_error(_LOC[name], f"{name} given {len(values)} times; once only", "duplicate_header")
              for name, values in found.items() if len(values) > 1]
    event_id, ts, signatures, ce_id = (found.get(name, [None])[0] for name in _SIGNED_HEADERS)
    if event_id is None or not _ID.match(event_id):
        errors.append(_error("event_id", f"{ID_HEADER} is required: the event id, 1–200 printable ASCII"
                                         " characters without spaces", "missing"))
    elif ce_id is not None and ce_id != event_id:
        errors.append(_error("event_id", f"ce_id must equal {ID_HEADER}, the event id the signature covers",
                             "value_error"))
    if ts is None or not _TIMESTAMP.match(ts):
        errors.append(_error("timestamp", f"{TIMESTAMP_HEADER} is required: Unix seconds", "missing"))
    if signatures is None or not signatures.strip() or len(signatures) > _MAX_SIGNATURE_CHARS:
        errors.append(_error("signature", f"{SIGNATURE_HEADER} is required: v1,<base64 HMAC-SHA256>", "missing"))
    if errors or event_id is None or ts is None or signatures is None:
        raise Unauthenticated(errors, who)

    secrets = partner.webhook.secrets if partner.webhook else []  # both while the partner rotates
    if not secrets:
        raise Unauthenticated([_error("signature", "no signing secret on record for this partner: submit over"
                                                   " HTTP, or ask the operator for a webhook secret", "no_secret")],
                              who)
    # The signature before the time: a forged record is told its signature is wrong, not that it is late.
    expected = [submission_signature(secret, who, event_id, int(ts), value or b"") for secret in secrets]
    if not any(hmac.compare_digest(e.encode(), given.encode()) for e in expected for given in signatures.split()):
        raise Unauthenticated([_error("signature", f"{SIGNATURE_HEADER} does not match this record signed with"
                                                   f" {who}'s secret", "signature_mismatch")], who)
    skew = now - int(ts)
    if abs(skew) > tolerance_s:
        raise Unauthenticated([_error("timestamp", f"{TIMESTAMP_HEADER} is {abs(skew):.0f} s "
                                                   f"{'old' if skew > 0 else 'ahead'}; at most {tolerance_s} s"
                                                   " either way: sign each record when sending it",
                                      "timestamp_out_of_window")], who)
    return Verified(who, event_id, int(ts))


def record_ref(key: bytes | None, headers: Headers, value: bytes | None) -> str:
    """A digest of everything the verdict depended on: two records that differ only in their signature
    or timestamp (a forgery and the partner's own resend of the same event) are kept apart."""
    digest = hashlib.sha256()
    for part in (key or b"", value or b"", *(v or b"" for k, v in headers if k in _SIGNED_HEADERS)):
        digest.update(len(part).to_bytes(8, "big") + part)
    return "sha256:" + digest.hexdigest()


_LOC = {ID_HEADER: "event_id", "ce_id": "event_id", TIMESTAMP_HEADER: "timestamp", SIGNATURE_HEADER: "signature"}


def _headers(headers: Headers) -> dict[str, list[str | None]]:
    found: dict[str, list[str | None]] = {}
    for name, raw in headers or ():
        if name in _SIGNED_HEADERS:
            try:
                text = None if raw is None else raw.decode("ascii")
            except UnicodeDecodeError:
                text = ""  # fails the format checks below, with the header named
            found.setdefault(name, []).append(text)
    return found


def _partner_id(key: bytes | None) -> str | None:
    try:
        text = (key or b"").decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if _PARTNER_ID.match(text) else None


def _error(loc: str, msg: str, type_: str) -> FieldError:
    return FieldError(loc=loc, msg=msg, type=type_)
