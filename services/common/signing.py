"""Webhook signatures in the Standard Webhooks form: HMAC-SHA256 over "{id}.{timestamp}.{body}".

Headers: webhook-id (stable per delivery, so receivers can drop repeats), webhook-timestamp (Unix
seconds), webhook-signature ("v1,<base64>"; several space-separated while a secret is being rotated).
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
