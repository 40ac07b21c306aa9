"""What a partner's Kafka client does to submit: key the record by its partner id and sign it with its secret
(services.common.signing.submission_headers), as the demo directory the stack loaded holds it."""

from __future__ import annotations

import uuid
from functools import cache

from services.common import directory, signing
from services.common.settings import REPO_ROOT


@cache
def secret(partner_id: str) -> str:
    """The partner's secret, ${ENV:-default} expanded in this process as in the stack's."""
    return directory.load(REPO_ROOT / "config").get(partner_id).webhook.secret


def signed(value: bytes, partner_id: str, event_id: str | None = None, *, ce: bool = True,
           timestamp: int | None = None) -> list[tuple[str, bytes]]:
    """Signed headers for a submission record; with `ce`, the CloudEvents attributes too (ce_id = event id)."""
    event_id = event_id or f"evt-{uuid.uuid4().hex}"
    headers = signing.submission_headers(secret(partner_id), partner_id, event_id, value, timestamp)
    if ce:
        headers += [("ce_specversion", b"1.0"), ("ce_id", event_id.encode()), ("ce_source", b"/partner/e2e"),
                    ("ce_type", b"org.grievance.submission.v1")]
    return headers
