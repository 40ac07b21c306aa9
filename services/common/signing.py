"""Webhook signatures in the Standard Webhooks form: HMAC-SHA256 over "{id}.{timestamp}.{body}".

Headers: webhook-id (stable per delivery, so receivers can drop repeats), webhook-timestamp (Unix
seconds), webhook-signature ("v1,<base64>"; several space-separated while a secret is being rotated).

Secrets are in the specification's form, `whsec_<base64>`, and the HMAC key is the decoded bytes, so a
partner verifies with the reference `standardwebhooks` library as it is. A secret written as plain text
(directories from before) is the key as UTF-8; `as_whsec` gives its `whsec_` form, whose signatures are
the same, so those partners' receivers keep working after the switch.

Partners sign their Kafka submissions the same way, with the same secret, over the record key (their
partner id) and the value: "{id}.{timestamp}.{partner_id}.{value}" (`submission_headers`). Partner ids
hold no dot, so the key cannot be shifted into the value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

TOLERANCE_S = 300


PREFIX = "whsec_"


def key_bytes(secret: str) -> bytes:
    """The HMAC key a secret stands for: the decoded base64 of a `whsec_` secret, else the text's bytes."""
    if secret.startswith(PREFIX):
        return base64.b64decode(secret[len(PREFIX):], validate=True)
    return secret.encode()


def as_whsec(secret: str) -> str:
    """The `whsec_` form of a secret (itself if it already is one); it signs exactly as the secret does."""
    return secret if secret.startswith(PREFIX) else PREFIX + base64.b64encode(secret.encode()).decode()


def generate() -> str:
    """A new secret in the specification's form (24 random bytes)."""
    import secrets

    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key_bytes(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str | list[str], msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The webhook headers; with several secrets (a rotation), one signature per secret."""
    ts = int(time.time()) if timestamp is None else timestamp
    signatures = " ".join(sign(s, msg_id, ts, body) for s in ([secret] if isinstance(secret, str) else secret))
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signatures,
            "content-type": "application/json"}


def submission_signature(secret: str, partner_id: str, event_id: str, timestamp: int, body: bytes) -> str:
    return sign(secret, event_id, timestamp, partner_id.encode() + b"." + body)


def submission_headers(secret: str, partner_id: str, event_id: str, body: bytes,
                       timestamp: int | None = None) -> list[tuple[str, bytes]]:
    """Kafka headers that authenticate a submission record keyed by `partner_id` with value `body`.

    `event_id` is the partner's id for the event (a CloudEvents `ce_id`, if the record has one, must be
    the same); sign when sending, since intake refuses a timestamp outside its tolerance window."""
    ts = int(time.time()) if timestamp is None else timestamp
    return [("webhook-id", event_id.encode()), ("webhook-timestamp", str(ts).encode()),
            ("webhook-signature", submission_signature(secret, partner_id, event_id, ts, body).encode())]


class BadSignature(ValueError):
    pass


def verify(secret: str | list[str], hdrs: dict[str, str], body: bytes, now: float | None = None) -> None:
    """Raise BadSignature unless a v1 signature over this body and a fresh timestamp matches (with any of
    the secrets given: a receiver in the middle of a rotation accepts either)."""
    try:
        msg_id, ts = hdrs["webhook-id"], int(hdrs["webhook-timestamp"])
        given = hdrs["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise BadSignature(f"missing or malformed webhook headers: {exc}") from exc
    if abs((time.time() if now is None else now) - ts) > TOLERANCE_S:
        raise BadSignature("timestamp outside the tolerance window")
    expected = [sign(s, msg_id, ts, body) for s in ([secret] if isinstance(secret, str) else secret)]
    if not any(hmac.compare_digest(e, g) for e in expected for g in given):
        raise BadSignature("no signature matches")
