"""A critical case reaches someone able to respond at every hour of the week, in every corridor the demo
directory covers, under the real routing rules.

The clock is UTC in 30-minute steps, so each partner's working hours are read in its own time zone; the
week chosen holds the European and Lebanese switch to summer time (Sunday 29 March 2026)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from schemas.models import Urgency
from services.common.directory import Directory, load
from services.common.settings import REPO_ROOT
from services.triage.routing import CaseFacts, Route, RoutingPolicy, route

DIRECTORY = load(REPO_ROOT / "config")
POLICY = RoutingPolicy.load(REPO_ROOT / "config" / "routing.yaml")
WEEK = [datetime(2026, 3, 23, tzinfo=UTC) + timedelta(minutes=30 * i) for i in range(7 * 48)]
CORRIDORS = sorted(product({c for p in DIRECTORY.partners for c in p.countries_of_origin},
                           {c for p in DIRECTORY.partners for c in p.countries_of_work}))
# Physical violence (config/triage/policy.yaml: critical): no partner lists the category, so no specialist
# widens coverage; the case rests on the geographic partners and the 24/7 ones.
VIOLENCE = ("violence_abuse",)
EMPLOYER = "Night Shift Manpower Sdn Bhd"


def critical(origin: str, work: str, at: datetime, employer: str | None = None) -> CaseFacts:
    return CaseFacts(Urgency.critical, VIOLENCE, work, origin, employer=employer, at=at)


def answered(r: Route, directory: Directory, at: datetime) -> bool:
    return any(directory.get(x.partner_id).available_at(at) for x in r.recipients)


def test_the_demo_directory_has_corridors_and_a_24_7_partner():
    assert len(CORRIDORS) >= 9 * 9
    assert [p.id for p in DIRECTORY.partners if p.kind == "hotline" and p.available_24_7] == ["hotline-247"]


def test_every_critical_case_reaches_someone_able_to_respond_at_every_hour():
    missed = [(origin, work, at.isoformat()) for at in WEEK for origin, work in CORRIDORS
              if not answered(route(critical(origin, work, at), DIRECTORY, POLICY), DIRECTORY, at)]
    assert not missed, f"{len(missed)} unanswered, e.g. {missed[:5]}"


def shielded_from(ids: set[str]) -> Directory:
    """The demo directory with these partners acting for EMPLOYER."""
    return Directory(partners=[p.model_copy(update={"represents": [*p.represents, EMPLOYER]}) if p.id in ids else p
                               for p in DIRECTORY.partners])


@pytest.mark.parametrize("acting_for_employer", [{"hotline-247"}, {p.id for p in DIRECTORY.partners
                                                                   if p.available_24_7}],
                         ids=["the-hotline", "every-24-7-partner"])
def test_the_shield_holds_and_a_critical_case_is_still_answered_or_alerted(acting_for_employer):
    directory = shielded_from(acting_for_employer)
    unanswered = 0
    for at, (origin, work) in product(WEEK, [("NP", "MY"), ("PH", "SA"), ("BD", "LB"), ("ID", "HK")]):
        r = route(critical(origin, work, at, employer=EMPLOYER.upper()), directory, POLICY)
        assert not acting_for_employer & {x.partner_id for x in r.recipients}
        assert acting_for_employer <= {e.partner_id for e in r.excluded}
        if not answered(r, directory, at):
            assert any(kind == "no_available_responder" for kind, _ in r.alerts), (origin, work, at, r)
            unanswered += 1
    if acting_for_employer == {"hotline-247"}:
        assert unanswered == 0  # the IOM hub, 24/7 too, answers instead
    else:
        assert unanswered > 0  # nights and weekends with nobody left: the operator hears of every one


def test_at_3am_in_kuala_lumpur_the_hotline_keeps_its_copy_beside_the_out_of_hours_ngo():
    at = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)  # Sunday 03:00 in Kuala Lumpur
    r = route(critical("NP", "MY", at), DIRECTORY, POLICY)
    assert r.recipients[0].role == "primary" and DIRECTORY.get(r.recipients[0].partner_id).available_at(at)
    assert {("ngo-my", "copy"), ("hotline-247", "copy")} <= {(x.partner_id, x.role) for x in r.recipients}
