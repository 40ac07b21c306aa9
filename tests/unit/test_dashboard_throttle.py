"""The sign-in limit's decision (pure): refused from the limit-th failure in the window on, per account and per
address, for as long as it takes enough failures to leave the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.dashboard.throttle import Limits, account_key, retry_after

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LIMITS = Limits(per_account=3, per_client=5, window=timedelta(minutes=10))


def ago(*minutes: float) -> list[datetime]:
    return [NOW - timedelta(minutes=m) for m in minutes]


def test_under_the_limits_a_sign_in_may_be_tried():
    assert retry_after(ago(1, 2), ago(1, 2, 3, 4), NOW, LIMITS) is None
    assert retry_after(ago(1, 2, 11, 12), [], NOW, LIMITS) is None  # two of them out of the window


def test_at_the_account_limit_the_wait_is_until_the_oldest_that_counts_leaves_the_window():
    assert retry_after(ago(1, 2, 4), [], NOW, LIMITS) == 6 * 60
    # more failures than the limit: the limit-th most recent decides
    assert retry_after(ago(9, 1, 2, 3), [], NOW, LIMITS) == 7 * 60


def test_the_address_limit_counts_failures_on_every_account_and_the_longer_wait_wins():
    assert retry_after([], ago(0.5, 1, 2, 3, 5), NOW, LIMITS) == 5 * 60
    assert retry_after(ago(1, 2, 8), ago(0.5, 1, 2, 3, 5), NOW, LIMITS) == 5 * 60
    assert retry_after(ago(1, 2, 3), ago(0.5, 1, 2, 3, 9), NOW, LIMITS) == 7 * 60


def test_a_wait_is_never_rounded_down_to_nothing():
    assert retry_after(ago(1, 2, 10 - 0.001), [], NOW, LIMITS) == 1


def test_accounts_are_counted_as_typed_but_folded():
    assert account_key("  Demo-Operator ") == "demo-operator" and len(account_key("x" * 500)) == 100


def test_a_hostile_account_name_is_counted_under_a_storable_key():
    """PostgreSQL text holds no NUL and UTF-8 no unpaired surrogate: either would turn a sign-in into a 500."""
    for typed in ("demo\x00operator", "demo\ud800operator", "\x00" * 500):
        key = account_key(typed)
        assert "\x00" not in key and key.encode("utf-8") and 0 < len(key) <= 100
    assert account_key("demo\x00a") != account_key("demo\x00b")  # still one key per name typed
