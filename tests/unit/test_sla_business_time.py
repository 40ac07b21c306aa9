"""Deadlines in business time: the recipient's time zone, working days, overnight windows and DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.models import Urgency
from services.common.directory import Partner, WorkingHours
from services.common.settings import REPO_ROOT
from services.common.sla import SlaPolicy, add_open_time, deadline, parse_duration, window_length

KL = ZoneInfo("Asia/Kuala_Lumpur")
BERLIN = ZoneInfo("Europe/Berlin")


def partner(**hours) -> Partner:
    return Partner(id="p-test", name="test", kind="ngo", working_hours=WorkingHours(**hours) if hours else None)


OFFICE = partner(timezone="Asia/Kuala_Lumpur")  # mon–fri 09:00–17:00
NIGHT = partner(timezone="Europe/Berlin", days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], start="22:00",
                end="06:00")


def local(zone: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=zone)


def test_a_business_day_started_friday_evening_runs_out_on_monday():
    friday_4pm = local(KL, 2026, 3, 6, 16, 0)
    assert deadline(friday_4pm, parse_duration("1bd"), OFFICE) == local(KL, 2026, 3, 9, 16, 0)
    # Started over the weekend: the whole of Monday's window.
    saturday = local(KL, 2026, 3, 7, 11, 0)
    assert deadline(saturday, parse_duration("1bd"), OFFICE) == local(KL, 2026, 3, 9, 17, 0)
    assert deadline(saturday, parse_duration("3bh"), OFFICE) == local(KL, 2026, 3, 9, 12, 0)


def test_business_days_count_working_windows_and_skip_weekends():
    monday_10am = local(KL, 2026, 3, 2, 10, 0)
    assert deadline(monday_10am, parse_duration("5bd"), OFFICE) == local(KL, 2026, 3, 9, 10, 0)
    assert deadline(monday_10am, parse_duration("8bh"), OFFICE) == local(KL, 2026, 3, 3, 10, 0)


def test_the_recipients_time_zone_decides_not_utc():
    # 02:00 UTC is 10:00 in Kuala Lumpur: inside its window.
    at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert deadline(at, parse_duration("2bh"), OFFICE) == datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def test_an_overnight_window_runs_past_midnight():
    assert window_length(NIGHT.working_hours) == timedelta(hours=8)
    # 03:00 belongs to the window that opened at 22:00 the evening before: 3 hours left in it.
    small_hours = local(BERLIN, 2026, 1, 14, 3, 0)
    assert deadline(small_hours, parse_duration("2bh"), NIGHT) == local(BERLIN, 2026, 1, 14, 5, 0)
    assert deadline(small_hours, parse_duration("4bh"), NIGHT) == local(BERLIN, 2026, 1, 14, 23, 0)
    midday = local(BERLIN, 2026, 1, 14, 12, 0)
    assert deadline(midday, parse_duration("1bd"), NIGHT) == local(BERLIN, 2026, 1, 15, 6, 0)


def test_a_dst_change_makes_that_night_an_hour_shorter_or_longer():
    # Europe/Berlin springs forward on 29 March 2026 (02:00 → 03:00): that night's window is 7 real hours.
    spring_eve = local(BERLIN, 2026, 3, 28, 22, 0)
    assert deadline(spring_eve, parse_duration("7bh"), NIGHT) == local(BERLIN, 2026, 3, 29, 6, 0)
    assert deadline(spring_eve, parse_duration("8bh"), NIGHT) == local(BERLIN, 2026, 3, 29, 23, 0)
    # …and falls back on 25 October 2026: 9 real hours.
    autumn_eve = local(BERLIN, 2026, 10, 24, 22, 0)
    assert deadline(autumn_eve, parse_duration("9bh"), NIGHT) == local(BERLIN, 2026, 10, 25, 6, 0)
    # A day-time office across the change: Friday to Monday is still one business day of open time.
    office = partner(timezone="Europe/Berlin")
    friday = local(BERLIN, 2026, 3, 27, 16, 0)
    assert deadline(friday, parse_duration("1bd"), office) == local(BERLIN, 2026, 3, 30, 16, 0)


def test_a_24_7_partner_or_one_without_hours_counts_calendar_time():
    start = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    round_the_clock = Partner(id="p-247", name="t", kind="hotline", available_24_7=True,
                              working_hours=WorkingHours(timezone="Asia/Kuala_Lumpur"))
    for who in (round_the_clock, partner(), None):
        assert deadline(start, parse_duration("3bd"), who) == start + timedelta(days=3)
        assert deadline(start, parse_duration("5bh"), who) == start + timedelta(hours=5)
    assert deadline(start, parse_duration("5m"), OFFICE) == start + timedelta(minutes=5)


@pytest.mark.parametrize("bad", ["", "5", "0bd", "1.5h", "3 bd", "-1h", "1w", "10x"])
def test_malformed_durations_are_refused(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_the_policy_file_has_every_clock_for_every_urgency():
    policy = SlaPolicy.load(REPO_ROOT / "config" / "sla.yaml")
    assert set(policy.clocks) == set(Urgency)
    with pytest.raises(ValueError, match="missing accept_within"):
        SlaPolicy.parse({u.value: {"deliver_within": "1h", "acknowledge_within": "1h", "progress_within": "1h"}
                         for u in Urgency})
    with pytest.raises(ValueError, match="unknown keys"):
        SlaPolicy.parse({u.value: {"deliver_within": "1h", "acknowledge_within": "1h", "accept_within": "1h",
                                   "progress_within": "1h", "escalate": "yes"} for u in Urgency})


HOURS = st.builds(
    WorkingHours, timezone=st.sampled_from(["Asia/Kuala_Lumpur", "Europe/Berlin", "America/New_York",
                                            "Asia/Kathmandu", "Australia/Lord_Howe"]),
    days=st.lists(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), min_size=1, unique=True),
    start=st.sampled_from(["00:00", "07:30", "09:00", "22:00"]), end=st.sampled_from(["06:00", "17:00", "24:00"]))
MOMENTS = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 1, 1), timezones=st.just(UTC))


def _open(hours: WorkingHours, at: datetime) -> bool:
    return hours.open_at(at - timedelta(seconds=1))  # a deadline at a window's end lies just inside it


@given(HOURS, MOMENTS, st.integers(1, 60 * 40), st.integers(1, 60 * 40))
def test_properties_of_open_time(hours, start, a, b):
    """Never before the start; never further than a longer duration; always inside a window; and
    consecutive durations add up (the clock can be resumed where it stopped)."""
    first = add_open_time(start, timedelta(minutes=a), hours)
    assert first > start
    assert add_open_time(start, timedelta(minutes=a + b), hours) >= first
    assert _open(hours, first)
    assert add_open_time(first, timedelta(minutes=b), hours) == add_open_time(start, timedelta(minutes=a + b), hours)
