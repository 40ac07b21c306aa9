"""Webhook signatures in the Standard Webhooks form: HMAC-SHA256 over "{id}.{timestamp}.{body}".

Headers: webhook-id (stable per delivery, so receivers can drop repeats), webhook-timestamp (Unix
seconds), webhook-signature ("v1,<base64>"; several space-separated while a secret is being rotated).

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


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(secret, msg_id, ts, body),
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


def verify(secret: str, hdrs: dict[str, str], body: bytes, now: float | None = None) -> None:
    """Raise BadSignature unless a v1 signature over this body and a fresh timestamp matches."""
    try:
        msg_id, ts = hdrs["webhook-id"], int(hdrs["webhook-timestamp"])
        given = hdrs["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise BadSignature(f"missing or malformed webhook headers: {exc}") from exc
    if abs((time.time() if now is None else now) - ts) > TOLERANCE_S:
        raise BadSignature("timestamp outside the tolerance window")
    expected = sign(secret, msg_id, ts, body)
    if not any(hmac.compare_digest(expected, g) for g in given):
        raise BadSignature("no signature matches")
