"""The Patterns view over a real PostgreSQL read model: one recruiter however partners spell it, counted
across the partners that named it, with the name key the IRIS status is looked up by."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from schemas import envelope, topics
from schemas.models import GrievanceReceived
from services.common import db, directory
from services.common.consumer import Incoming
from services.dashboard import agencies, projector, queries
from services.dashboard.filters import Filters
from tests.unit.test_dashboard_agencies import CONFIG

NOW = datetime.now(UTC)


def received(partner: str, recruiter: str, employer: str) -> Incoming:
    case_ref = "GRV-" + secrets.token_hex(6).upper()
    event = GrievanceReceived(
        case_ref=case_ref, partner_id=partner, external_id=case_ref, subject_ref="s", text="fees", language="en",
        country_of_work="ZZ", country_of_origin="NP", sector=None, employer=employer, recruiter=recruiter,
        channel="app", urgency_hint=None, minor_involved=False, consent_share_contact=False, has_contact=False,
        received_at=NOW - timedelta(hours=1))
    msg = envelope.encode(topics.RECEIVED, event, source="test", id=case_ref)
    return Incoming(msg.topic, 0, 0, msg.key, msg.value, msg.headers)


@pytest.fixture()
def cur(conn):
    with db.transaction(conn) as c:
        yield c
        c.connection.rollback()


def test_spellings_of_one_recruiter_are_one_row_across_partners_with_its_iris_status(cur):
    projector.handle(cur, [received("ngo-np", "Sunrise Manpower Pvt. Ltd.", "Gulf Build Co"),
                           received("hotline-my", "SUNRISE MANPOWER", "GULF BUILD COMPANY"),
                           received("ngo-np", "Fast Jobs", "Palm Estates")])
    found = queries.patterns(cur, Filters(range="24h", country="ZZ"), NOW)
    top = found["recruiter"][0]
    assert (top["cases"], top["partners"], top["spellings"], top["key"]) == (2, 2, 2, "sunrisemanpower")
    assert sorted(top["partner_ids"]) == ["hotline-my", "ngo-np"]
    assert agencies.status(agencies.by_key(directory.load(CONFIG)), top["name"], top["key"]).iris_certified
    assert [(r["cases"], r["spellings"]) for r in found["employer"]] == [(2, 2), (1, 1)]
