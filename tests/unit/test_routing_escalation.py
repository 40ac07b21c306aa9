"""Each route's escalation list: who gets the case, in order, when its holder misses an SLA deadline."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from schemas.models import Urgency
from services.common.shield import conflict, employer_side
from services.triage.routing import route

from .test_routing import DIRECTORY, POLICY, facts


def test_escalation_names_partners_able_to_act_that_were_not_chosen_closest_first():
    r = route(facts(Urgency.high, ("excessive_hours",)), DIRECTORY, POLICY)
    chosen = {x.partner_id for x in r.recipients}
    order = [x.partner_id for x in r.escalation]
    assert order and not set(order) & chosen
    assert all(x.role == "escalation" for x in r.escalation)
    # ngo-np covers the country of origin; the hotline and the hub cover every country.
    assert order == ["ngo-np", "hotline", "hub"]
    assert "escalation 1:" in r.escalation[0].reason
    assert "app" not in order and "brand" not in order  # does not receive cases / facts only


def test_escalation_never_names_anyone_the_shield_bars_or_the_employers_side():
    r = route(facts(Urgency.critical, ("violence_abuse",), employer="Global Gloves Sdn Bhd"), DIRECTORY, POLICY)
    order = [x.partner_id for x in r.escalation]
    assert "gg-channel" in {e.partner_id for e in r.excluded}
    assert "gg-channel" not in order and "brand" not in order


def test_the_fallback_route_has_an_escalation_too():
    r = route(facts(Urgency.low, ("other",), cow="FR", coo="NP"), DIRECTORY, POLICY)
    assert r.rule == "fallback"
    assert [x.partner_id for x in r.escalation] == ["ngo-np"]  # the hotline takes no low cases


def test_escalation_is_capped_by_the_policy():
    r = route(facts(Urgency.high, ("excessive_hours",)), DIRECTORY, replace(POLICY, max_escalation=1))
    assert len(r.escalation) == 1


EMPLOYERS = st.sampled_from([None, "Global Gloves Sdn Bhd", "Global Gloves Sdn. Bhd.", "Other Co"])


@given(st.sampled_from(list(Urgency)), st.sampled_from([("wage_theft",), ("violence_abuse",), ("other",)]),
       st.sampled_from(["MY", "FR"]), EMPLOYERS)
def test_escalation_property(urgency, categories, cow, employer):
    case = facts(urgency, categories, cow=cow, employer=employer)
    r = route(case, DIRECTORY, POLICY)
    order = [x.partner_id for x in r.escalation]
    assert len(order) == len(set(order)) <= POLICY.max_escalation
    assert not set(order) & {x.partner_id for x in r.recipients}
    for pid in order:
        p = DIRECTORY.get(pid)
        assert p.receives_cases and not employer_side(p) and not conflict(p, employer, None)


def test_in_the_demo_directory_no_other_countrys_partner_is_on_the_list():
    from services.common.directory import load
    from services.common.settings import REPO_ROOT
    from services.triage.routing import RoutingPolicy

    demo, policy = load(REPO_ROOT / "config"), RoutingPolicy.load(REPO_ROOT / "config" / "routing.yaml")
    r = route(facts(Urgency.critical, ("violence_abuse",), cow="MY", coo="NP"), demo, policy)
    for pid in (x.partner_id for x in r.escalation):
        p = demo.get(pid)
        assert (not p.countries_of_work or "MY" in p.countries_of_work) and (
            not p.countries_of_origin or "NP" in p.countries_of_origin), pid
