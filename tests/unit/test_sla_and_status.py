from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.models import Urgency
from services.intake.store import derive_status
from services.triage.sla import SlaPolicy, parse_duration

POLICY = SlaPolicy.load(Path(__file__).resolve().parents[2] / "config" / "sla.yaml")


def test_sla_deadlines_follow_the_policy():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    critical = POLICY.deadlines(Urgency.critical, start)
    assert critical.deliver_by - start == timedelta(minutes=5)
    assert critical.acknowledge_by - start == timedelta(hours=1)
    # Business days without a recipient's hours: calendar days.
    assert POLICY.deadlines(Urgency.low, start).acknowledge_by - start == timedelta(days=5)


def test_durations_must_be_well_formed():
    assert parse_duration("90s").amount == timedelta(seconds=90)
    assert parse_duration("3bd").unit == "business_days"
    with pytest.raises(ValueError):
        parse_duration("5 minutes")


@pytest.mark.parametrize(("triaged", "states", "expected"), [
    (False, [], "received"), (True, [], "triaged"), (True, ["pending", "delivered"], "routed"),
    (True, ["delivered", "delivered"], "delivered"), (True, ["delivered", "failed"], "delivery_failed"),
    (True, ["retrying"], "routed"),
])
def test_case_status_is_derived_from_delivery_rows(triaged, states, expected):
    assert derive_status(triaged, [{"status": s} for s in states]) == expected
