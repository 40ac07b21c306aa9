import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.notifier import retry
from services.notifier.retry import next_attempt, order_key, pick

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_backoff_is_full_jitter_under_a_doubling_ceiling():
    rng = random.Random(7)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (6, 64)]:
        delays = [(next_attempt(attempt, NOW, base_s=2, rng=rng) - NOW).total_seconds() for _ in range(400)]
        assert all(0 <= d <= ceiling for d in delays)
        assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9  # the whole range, from zero


def test_backoff_is_capped_and_stops_after_the_last_attempt_or_the_horizon():
    assert next_attempt(20, NOW, base_s=2, max_attempts=30, cap_s=60) - NOW <= timedelta(seconds=60)
    assert next_attempt(8, NOW, base_s=2, max_attempts=8) is None
    assert next_attempt(500, NOW, base_s=2, cap_s=60) is not None  # no attempt limit: the horizon decides
    horizon = NOW + timedelta(seconds=30)
    assert next_attempt(1, NOW, base_s=10, give_up_at=horizon) is not None
    assert next_attempt(9, NOW, base_s=10, cap_s=3600, give_up_at=horizon, rng=random.Random(1)) is None


def test_policy_per_urgency_spans_days_for_critical_and_high_and_env_overrides():
    policy = retry.load(Path(__file__).resolve().parents[2] / "config" / "delivery.yaml")
    assert policy.for_urgency("critical").horizon_s >= 86400 and policy.for_urgency("high").horizon_s >= 86400
    assert policy.for_urgency("critical").base_s < policy.for_urgency("low").base_s
    assert policy.max_attempts is None
    assert policy.give_up_at("critical", NOW) == NOW + timedelta(seconds=policy.for_urgency("critical").horizon_s)
    tests = retry.parse({}, backoff_s=0.5, max_attempts=6)
    assert {b.base_s for b in tests.backoff.values()} == {0.5} and tests.max_attempts == 6
    with pytest.raises(ValueError):
        retry.parse({"backoff": {"urgent": {"base_s": 1, "cap_s": 2, "horizon_s": 3}}})
    with pytest.raises(ValueError):
        retry.parse({"backoff": {"low": {"base_s": 5, "cap_s": 2, "horizon_s": 3}}})


def test_claim_order_is_urgency_then_deadline_then_due_time():
    d = [NOW + timedelta(hours=h) for h in range(4)]
    rows = [("low", d[0], NOW, 1), ("critical", d[3], NOW, 2), ("high", None, NOW, 3), ("high", d[1], NOW, 4),
            ("critical", d[2], NOW + timedelta(seconds=1), 5), ("critical", d[2], NOW, 6)]
    assert [r[3] for r in sorted(rows, key=lambda r: order_key(*r))] == [6, 5, 2, 4, 3, 1]
    assert retry.priority("critical") == 0 and retry.priority("low") == 3 and retry.priority(None) == 1


def test_pick_keeps_each_partner_within_its_room_and_the_limit():
    rows = [(1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "c"), (6, "b")]
    assert pick(rows, {"a": 2, "b": 1, "c": 0}, 10) == [1, 2, 4]
    assert pick(rows, {"a": 5, "b": 5, "c": 5}, 3) == [1, 2, 3]
    assert pick(rows, {}, 10) == []
