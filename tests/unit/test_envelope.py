from datetime import UTC, datetime

import pytest

from schemas import envelope, topics
from schemas.models import FieldError, GrievanceRejected


def rejected(partner="ngo-np"):
    return GrievanceRejected(partner_id=partner, external_id="e1", source_event_id="s1",
                             errors=[FieldError(loc="text", msg="empty", type="string_too_short")],
                             rejected_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_binary_mode_headers_key_and_value():
    m = envelope.encode(topics.REJECTED, rejected(), id="id-1", source="intake")
    hdrs = dict(m.headers)
    assert hdrs["ce_specversion"] == b"1.0" and hdrs["ce_id"] == b"id-1"
    assert hdrs["ce_type"] == topics.REJECTED.event_type.encode()
    assert hdrs["ce_source"] == b"/grievance-pipeline/intake"
    assert hdrs["content-type"] == b"application/json"
    assert m.key == b"ngo-np" and m.topic == "grievance.rejected"
    assert envelope.decode(topics.REJECTED, m.value) == rejected()


def test_event_ids_are_deterministic():
    assert envelope.event_id("received", "GRV-1") == envelope.event_id("received", "GRV-1")
    assert envelope.event_id("received", "GRV-1") != envelope.event_id("received", "GRV-2")
    assert envelope.event_id("a", "bc") != envelope.event_id("ab", "c")


def test_a_topic_only_carries_its_own_event_type():
    with pytest.raises(TypeError):
        envelope.encode(topics.TRIAGED, rejected(), id="x", source="intake")
