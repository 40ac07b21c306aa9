"""Partner API keys: scopes by kind, several keys at once, expiry, hashing, redaction, rate limits."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.common.directory import ApiKey, Directory, Partner, RateLimit, hash_api_key, load, redact
from services.common.settings import REPO_ROOT
from services.intake.api import TokenBuckets, default_rate_limit

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def partner(kind="ngo", **extra) -> Partner:
    return Partner.model_validate({"id": "p-1", "name": "P", "kind": kind, **extra})


def key(label: str, secret: str, **extra) -> dict:
    return {"label": label, "sha256": hash_api_key(secret), **extra}


@pytest.mark.parametrize(("kind", "scopes"), [
    ("ngo", {"submit", "read", "update"}), ("iom_mission", {"submit", "read", "update"}),
    ("hotline", {"submit", "read", "update"}), ("brand", {"read", "update"}),
    ("recruitment_agency", {"read", "update"})])
def test_a_key_without_scopes_gets_its_kinds_defaults_and_never_admin(kind, scopes):
    p = partner(kind, api_keys=[key("k1", "s1")])
    assert p.scopes(p.api_keys[0]) == scopes


def test_explicit_scopes_override_the_kind():
    p = partner("brand", api_keys=[key("k1", "s1", scopes=["submit", "read"]), key("k2", "s2", scopes=["admin"])])
    assert p.scopes(p.api_keys[0]) == {"submit", "read"} and p.scopes(p.api_keys[1]) == {"admin"}
    with pytest.raises(ValidationError, match="scopes"):
        partner(api_keys=[key("k1", "s1", scopes=["delete_everything"])])


def test_the_legacy_single_digest_is_the_default_key_with_the_kinds_scopes():
    p = partner("recruitment_agency", api_key_sha256=hash_api_key("old"))
    directory = Directory(partners=[p])
    found, k = directory.authenticate("old")
    assert found.id == "p-1" and k.label == "default" and p.scopes(k) == {"read", "update"}
    with pytest.raises(ValidationError, match="labels must be unique: default"):
        partner(api_key_sha256=hash_api_key("old"), api_keys=[key("default", "new")])


def test_two_keys_are_valid_at_once_and_an_expired_one_is_not():
    p = partner(api_keys=[key("old", "s-old", expires_at="2026-12-01T00:00:00Z"), key("new", "s-new")])
    directory = Directory(partners=[p])
    assert directory.authenticate("s-old", NOW)[1].label == "old"
    assert directory.authenticate("s-new", NOW)[1].label == "new"
    assert directory.authenticate("s-old", NOW + timedelta(days=2)) is None
    assert directory.authenticate("s-other", NOW) is None and directory.by_api_key("s-new").id == "p-1"


def test_keys_are_stored_as_digests_and_checked_where_they_enter():
    with pytest.raises(ValidationError, match="sha256"):
        partner(api_keys=[{"label": "k", "sha256": "demo-key-p-1"}])  # a key in clear is refused
    with pytest.raises(ValidationError, match="label"):
        partner(api_keys=[key("Has Spaces/", "s")])
    with pytest.raises(ValidationError, match="time zone"):
        partner(api_keys=[key("k", "s", expires_at="2027-01-01T00:00:00")])
    with pytest.raises(ValidationError, match="labels must be unique: k"):
        partner(api_keys=[key("k", "s1"), key("k", "s2")])


def test_digests_never_leave_in_answers_or_events():
    p = partner(api_key_sha256=hash_api_key("old"), api_keys=[key("k", "s")],
                webhook={"url": "https://p.example/hook", "secret": "x" * 20})
    shown = p.redacted()
    assert shown["api_key_sha256"] == "***" and shown["api_keys"][0]["sha256"] == "***"
    assert shown["api_keys"][0]["label"] == "k" and hash_api_key("s") not in str(shown)
    assert redact({"api_keys": "not a list"}) == {"api_keys": "not a list"}  # a broken stored record


def test_the_demo_directory_brands_and_agencies_cannot_submit_the_employers_channel_can():
    demo = load(REPO_ROOT / "config")
    def scopes(partner_id: str) -> set[str]:
        found, k = demo.authenticate(f"demo-key-{partner_id}")
        assert found.id == partner_id
        return set(found.scopes(k))
    for pid in ("agency-sunrise", "agency-goldenbridge", "brand-gloves", "brand-apparel"):
        assert "submit" not in scopes(pid), pid
    assert {"submit", "read", "update"} <= scopes("globalgloves-channel")
    assert {"submit", "read", "update"} <= scopes("ngo-np") and "admin" not in scopes("ngo-np")
    assert all(p.api_keys and not p.api_key_sha256 for p in demo.partners)  # migrated to api_keys


def test_a_token_bucket_per_key_allows_the_burst_then_the_rate():
    clock = [0.0]
    buckets, limit = TokenBuckets(lambda: clock[0]), RateLimit(per_second=2, burst=3)
    assert [buckets.take(("p", "k"), limit) for _ in range(3)] == [0, 0, 0]
    assert buckets.take(("p", "k"), limit) == pytest.approx(0.5)  # Retry-After rounds this up to 1
    assert buckets.take(("p", "other"), limit) == 0  # each key has its own bucket
    clock[0] = 0.5
    assert buckets.take(("p", "k"), limit) == 0
    assert buckets.take(("p", "k"), limit) > 0
    clock[0] = 100.0  # refills up to the burst, no more
    assert [buckets.take(("p", "k"), limit) for _ in range(4)][-1] > 0


def test_the_default_rate_limit_comes_from_the_environment():
    assert default_rate_limit({}) == RateLimit(per_second=20, burst=1000)
    assert default_rate_limit({"PARTNER_RATE_PER_S": "0.5", "PARTNER_RATE_BURST": "3"}) == RateLimit(
        per_second=0.5, burst=3)
    with pytest.raises(ValidationError):
        partner(rate_limit={"per_second": 0, "burst": 1})


def test_api_key_model_roundtrips_through_storage():
    p = partner(api_keys=[key("k", "s", scopes=["read"], expires_at="2027-01-01T00:00:00Z", issued_by="admin:x")])
    again = Partner.model_validate(p.model_dump(mode="json"))
    assert again == p and isinstance(again.api_keys[0], ApiKey)
