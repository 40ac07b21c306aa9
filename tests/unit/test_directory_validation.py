"""The partner directory refuses bad data where it enters (the file loader and the admin API both validate
with these models), with an error naming the field; and working hours mean what they say, overnight and
across daylight-saving changes."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.common.directory import Directory, Partner, WorkingHours, load, load_yaml
from services.common.settings import REPO_ROOT
from services.triage import directory_store

BASE = {"id": "ngo-x", "name": "NGO X", "kind": "ngo"}
KL = ZoneInfo("Asia/Kuala_Lumpur")


def refused(**fields) -> tuple[tuple, str]:
    """The location and message of the one error a partner record with these fields raises."""
    with pytest.raises(ValidationError) as info:
        Partner.model_validate({**BASE, **fields})
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return errors[0]["loc"], errors[0]["msg"]


def hours(**fields) -> WorkingHours:
    return WorkingHours.model_validate({"timezone": "Asia/Kuala_Lumpur", **fields})


def test_the_demo_directory_is_valid():
    directory = load(REPO_ROOT / "config")
    assert directory.get("iris-body").working_hours.timezone == "Europe/Zurich"


@pytest.mark.parametrize("zone", ["Europe/Geneva", "asia/kuala_lumpur", "GMT+8", "localtime", "", "Europe/"])
def test_a_time_zone_must_be_an_iana_name(zone):
    loc, msg = refused(working_hours={"timezone": zone})
    assert loc == ("working_hours", "timezone")
    assert "not an IANA time zone name" in msg and repr(zone) in msg


@pytest.mark.parametrize("zone", ["Europe/Zurich", "America/New_York", "Asia/Kathmandu", "UTC"])
def test_iana_names_are_accepted(zone):
    assert hours(timezone=zone).timezone == zone


@pytest.mark.parametrize(("field", "value"), [("start", "9:00"), ("start", "24:00"), ("start", "12:60"),
                                              ("end", "25:00"), ("end", "noon"), ("end", "17:00:00")])
def test_times_must_be_hh_mm(field, value):
    loc, msg = refused(working_hours={"timezone": "Asia/Kuala_Lumpur", field: value})
    assert loc == ("working_hours", field) and repr(value) in msg and "HH:MM" in msg


def test_an_unquoted_yaml_time_is_refused_with_a_hint(tmp_path):
    (tmp_path / "partners.yaml").write_text(
        "partners:\n- id: ngo-x\n  name: X\n  kind: ngo\n"
        "  working_hours: {timezone: Asia/Kuala_Lumpur, start: '09:00', end: 17:00}\n")
    with pytest.raises(ValidationError) as info:
        load(tmp_path)
    assert info.value.errors()[0]["loc"] == ("partners", 0, "working_hours", "end")
    assert "quote the time, e.g. '17:00'" in str(info.value)


def test_start_equal_to_end_is_refused():
    loc, msg = refused(working_hours={"timezone": "Asia/Kuala_Lumpur", "start": "08:00", "end": "08:00"})
    assert loc == ("working_hours",) and "start and end are both 08:00" in msg and "available_24_7" in msg


def test_days_must_be_days_and_not_none():
    assert refused(working_hours={"timezone": "Asia/Kuala_Lumpur", "days": ["mon", "monday"]})[0] == (
        "working_hours", "days", 1)
    assert refused(working_hours={"timezone": "Asia/Kuala_Lumpur", "days": []})[0] == ("working_hours", "days")


def test_the_file_loader_names_the_partner_and_field(tmp_path):
    (tmp_path / "partners.yaml").write_text(
        "partners:\n- {id: ngo-a, name: A, kind: ngo}\n"
        "- {id: ngo-b, name: B, kind: ngo, working_hours: {timezone: Europe/Geneva}}\n")
    with pytest.raises(ValidationError) as info:
        Directory.model_validate(load_yaml(tmp_path / "partners.yaml"))  # as `grievance directory load` does
    assert "partners.1.working_hours.timezone" in str(info.value) and "'Europe/Geneva'" in str(info.value)


@pytest.mark.parametrize("url", ["/webhooks/x", "${DEMO_INBOX_URL}/webhooks/x", "ftp://inbox.example/x",
                                 "http:///x", "https://", "http://inbox.example:99999/x", "http://in box.example/x",
                                 "inbox.example/webhooks/x"])
def test_a_webhook_url_must_be_absolute_http_with_a_host(url):
    loc, msg = refused(webhook={"url": url, "secret": "s" * 20})
    assert loc == ("webhook", "url") and repr(url) in msg


def test_webhook_urls_from_the_environment_are_checked_once_expanded(tmp_path, monkeypatch):
    (tmp_path / "partners.yaml").write_text(
        "partners:\n- id: ngo-x\n  name: X\n  kind: ngo\n"
        "  webhook: {url: '${DEMO_INBOX_URL:-http://127.0.0.1:8090}/webhooks/ngo-x', secret: '0123456789abcdef'}\n")
    monkeypatch.delenv("DEMO_INBOX_URL", raising=False)
    assert load(tmp_path).partners[0].webhook.url == "http://127.0.0.1:8090/webhooks/ngo-x"
    monkeypatch.setenv("DEMO_INBOX_URL", "https://inbox.example")
    assert load(tmp_path).partners[0].webhook.url == "https://inbox.example/webhooks/ngo-x"
    monkeypatch.setenv("DEMO_INBOX_URL", "inbox.example")  # no scheme: refused after expansion
    with pytest.raises(ValidationError, match=r"partners\.0\.webhook\.url"):
        load(tmp_path)


@pytest.mark.parametrize("email", ["cases", "cases@", "@ngo.example", "cases@ngo", "ca ses@ngo.example"])
def test_an_email_must_be_plausible(email):
    loc, msg = refused(email=email)
    assert loc == ("email",) and "not an email address" in msg
    assert Partner.model_validate({**BASE, "email": "cases@ngo.example"}).email == "cases@ngo.example"


def test_availability_never_raises_even_for_an_unvalidated_record():
    bad = WorkingHours.model_construct(timezone="Europe/Geneva", days=["mon"], start="09:00", end="17:00")
    partner = Partner.model_construct(**BASE, working_hours=bad)
    assert partner.available_at(datetime(2026, 11, 30, 9, 0, tzinfo=UTC)) is False


def test_a_day_window():
    h = hours(days=["mon"], start="09:00", end="17:00")
    assert h.open_at(datetime(2026, 11, 30, 9, 0, tzinfo=KL))  # Monday
    assert not h.open_at(datetime(2026, 11, 30, 17, 0, tzinfo=KL))
    assert not h.open_at(datetime(2026, 12, 1, 10, 0, tzinfo=KL))  # Tuesday


def test_an_overnight_window_belongs_to_the_day_it_opens():
    h = hours(days=["fri"], start="22:00", end="06:00")
    assert not h.open_at(datetime(2026, 12, 4, 21, 59, tzinfo=KL))  # Friday evening, not yet
    assert h.open_at(datetime(2026, 12, 4, 22, 0, tzinfo=KL))
    assert h.open_at(datetime(2026, 12, 4, 23, 59, tzinfo=KL))
    assert h.open_at(datetime(2026, 12, 5, 0, 0, tzinfo=KL))  # Saturday small hours: Friday's window
    assert h.open_at(datetime(2026, 12, 5, 5, 59, tzinfo=KL))
    assert not h.open_at(datetime(2026, 12, 5, 6, 0, tzinfo=KL))
    assert not h.open_at(datetime(2026, 12, 5, 23, 0, tzinfo=KL))  # Saturday opens no window
    assert not h.open_at(datetime(2026, 12, 4, 3, 0, tzinfo=KL))  # Friday small hours: Thursday's, closed
    sunday_night = hours(days=["sun"], start="20:00", end="04:00")  # past midnight into Monday, across the week
    assert sunday_night.open_at(datetime(2026, 11, 30, 3, 0, tzinfo=KL))


def test_end_may_be_midnight_either_way():
    for end in ("24:00", "00:00"):
        h = hours(days=["mon"], start="18:00", end=end)
        assert h.open_at(datetime(2026, 11, 30, 23, 59, tzinfo=KL))
        assert not h.open_at(datetime(2026, 12, 1, 0, 0, tzinfo=KL))
    assert hours(days=["mon"], start="00:00", end="24:00").open_at(datetime(2026, 11, 30, 0, 0, tzinfo=KL))


def test_local_midnight_moves_with_daylight_saving_in_zurich():
    monday = WorkingHours(timezone="Europe/Zurich", days=["mon"], start="00:00", end="24:00")
    # Summer (CEST, UTC+2): Sunday 22:30 UTC is Monday 00:30 in Zurich.
    assert monday.open_at(datetime(2026, 7, 5, 22, 30, tzinfo=UTC))
    assert not monday.open_at(datetime(2026, 7, 6, 22, 0, tzinfo=UTC))  # Tuesday 00:00 local
    # Winter (CET, UTC+1): the same UTC time is still Sunday 23:30.
    assert not monday.open_at(datetime(2026, 1, 4, 22, 30, tzinfo=UTC))
    assert monday.open_at(datetime(2026, 1, 4, 23, 0, tzinfo=UTC))
    # The night the clocks go forward (Sunday 29 March 2026, 02:00 → 03:00): a Saturday overnight window.
    saturday_night = WorkingHours(timezone="Europe/Zurich", days=["sat"], start="22:00", end="06:00")
    assert saturday_night.open_at(datetime(2026, 3, 28, 21, 0, tzinfo=UTC))  # 22:00 CET
    assert not saturday_night.open_at(datetime(2026, 3, 28, 20, 59, tzinfo=UTC))
    assert saturday_night.open_at(datetime(2026, 3, 29, 3, 59, tzinfo=UTC))  # 05:59 CEST
    assert not saturday_night.open_at(datetime(2026, 3, 29, 4, 0, tzinfo=UTC))  # 06:00 CEST


def test_local_hours_follow_daylight_saving_in_new_york():
    office = WorkingHours(timezone="America/New_York", start="09:00", end="17:00")
    assert office.open_at(datetime(2026, 7, 6, 13, 0, tzinfo=UTC))  # Monday 09:00 EDT
    assert not office.open_at(datetime(2026, 1, 5, 13, 0, tzinfo=UTC))  # Monday 08:00 EST
    assert office.open_at(datetime(2026, 1, 5, 14, 0, tzinfo=UTC))
    # Friday 17:00 local is Friday 21:00 UTC in summer, 22:00 in winter; after that, closed until Monday.
    assert not office.open_at(datetime(2026, 7, 10, 21, 0, tzinfo=UTC))
    assert office.open_at(datetime(2026, 1, 9, 21, 30, tzinfo=UTC))
    # The night the clocks go back (Sunday 1 November 2026, 02:00 EDT → 01:00 EST): 01:30 happens twice.
    saturday_night = WorkingHours(timezone="America/New_York", days=["sat"], start="22:00", end="06:00")
    assert saturday_night.open_at(datetime(2026, 11, 1, 5, 30, tzinfo=UTC))  # 01:30 EDT
    assert saturday_night.open_at(datetime(2026, 11, 1, 6, 30, tzinfo=UTC))  # 01:30 EST
    assert saturday_night.open_at(datetime(2026, 11, 1, 10, 59, tzinfo=UTC))  # 05:59 EST
    assert not saturday_night.open_at(datetime(2026, 11, 1, 11, 0, tzinfo=UTC))  # 06:00 EST


class _Cursor:
    """Just enough of a cursor for directory_store: one stored row, and the statements it was given."""

    def __init__(self, row):
        self.row, self.statements = row, []

    def execute(self, sql, params=None):
        self.statements.append(sql.split()[0])

    def fetchone(self):
        return self.row


def test_a_record_stored_before_validation_can_still_be_fixed_or_deleted():
    stored = {**BASE, "working_hours": {"timezone": "Europe/Geneva", "days": ["mon"], "start": "09:00",
                                        "end": "17:00"}, "webhook": {"url": "http://x.example", "secret": "s" * 20}}
    fixed = Partner.model_validate({**stored, "working_hours": {"timezone": "Europe/Zurich"}})
    cur = _Cursor((stored, 3))
    assert directory_store.upsert(cur, fixed, "admin:test") is not None
    assert cur.statements == ["SELECT", "INSERT", "INSERT"]
    assert directory_store.delete(_Cursor((stored, 4)), "ngo-x", "admin:test") is not None
