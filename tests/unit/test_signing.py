import pytest

from services.common import signing

SECRET = "a-secret-of-enough-length"


def test_signature_verifies_and_binds_body_id_and_time():
    body = b'{"case_ref":"GRV-1"}'
    hdrs = signing.headers(SECRET, "dlv_1", body, timestamp=1_800_000_000)
    signing.verify(SECRET, hdrs, body, now=1_800_000_010)
    with pytest.raises(signing.BadSignature):
        signing.verify(SECRET, hdrs, body + b" ", now=1_800_000_010)
    with pytest.raises(signing.BadSignature):
        signing.verify(SECRET, {**hdrs, "webhook-id": "dlv_2"}, body, now=1_800_000_010)
    with pytest.raises(signing.BadSignature):
        signing.verify("another-secret-entirely", hdrs, body, now=1_800_000_010)


def test_stale_timestamps_and_missing_headers_are_refused():
    body = b"{}"
    hdrs = signing.headers(SECRET, "dlv_1", body, timestamp=1_800_000_000)
    with pytest.raises(signing.BadSignature, match="tolerance"):
        signing.verify(SECRET, hdrs, body, now=1_800_000_000 + signing.TOLERANCE_S + 1)
    with pytest.raises(signing.BadSignature, match="missing"):
        signing.verify(SECRET, {"webhook-id": "x"}, body)


def test_any_of_several_signatures_may_match_during_rotation():
    body = b"{}"
    hdrs = signing.headers(SECRET, "dlv_1", body, timestamp=1_800_000_000)
    hdrs["webhook-signature"] = "v1,b2xkLXNlY3JldA== " + hdrs["webhook-signature"]
    signing.verify(SECRET, hdrs, body, now=1_800_000_000)
