import random
from datetime import UTC, datetime, timedelta

from services.notifier.retry import next_attempt

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_backoff_grows_and_stays_within_jittered_bounds():
    rng = random.Random(7)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (6, 64)]:
        delay = next_attempt(attempt, NOW, base_s=2, max_attempts=8, rng=rng) - NOW
        assert timedelta(seconds=ceiling / 2) <= delay <= timedelta(seconds=ceiling)


def test_backoff_is_capped_and_stops_after_the_last_attempt():
    assert next_attempt(20, NOW, base_s=2, max_attempts=30, cap_s=60) - NOW <= timedelta(seconds=60)
    assert next_attempt(8, NOW, base_s=2, max_attempts=8) is None
