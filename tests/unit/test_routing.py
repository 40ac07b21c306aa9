from schemas.models import Urgency
from services.common.directory import Directory
from services.triage.routing import CaseFacts, RoutingPolicy, RoutingRule, route

DIRECTORY = Directory.model_validate({"partners": [
    {"id": "hub", "name": "Hub", "kind": "iom_mission", "available_24_7": True},
    {"id": "ngo-my", "name": "NGO MY", "kind": "ngo", "countries_of_work": ["MY"]},
    {"id": "iom-my", "name": "IOM MY", "kind": "iom_mission", "countries_of_work": ["MY"]},
    {"id": "ngo-np", "name": "NGO NP", "kind": "ngo", "countries_of_origin": ["NP"]},
    {"id": "hotline", "name": "Hotline", "kind": "hotline", "urgencies": ["critical", "high"]},
    {"id": "app", "name": "App", "kind": "ngo", "receives_cases": False},
]})
POLICY = RoutingPolicy(fallback="hub", rules=(
    RoutingRule("critical", frozenset({Urgency.critical}), frozenset(), ("ngo", "iom_mission"), ("hotline",)),
    RoutingRule("rest", frozenset({Urgency.high, Urgency.medium}), frozenset(), ("ngo",), ("iom_mission",)),
))


def facts(urgency, cow="MY", coo="NP"):
    return CaseFacts(urgency, ("wage_theft",), cow, coo)


def test_the_closest_partner_is_primary_and_copies_follow_the_rule():
    r = route(facts(Urgency.high), DIRECTORY, POLICY)
    assert r.rule == "rest"
    assert [(x.partner_id, x.role) for x in r.recipients] == [("ngo-my", "primary"), ("iom-my", "copy")]
    assert "covers country of work MY" in r.recipients[0].reason


def test_critical_cases_copy_the_hotline():
    r = route(facts(Urgency.critical), DIRECTORY, POLICY)
    assert {x.partner_id for x in r.recipients} == {"ngo-my", "hotline"}


def test_origin_partner_is_primary_where_no_one_covers_the_country_of_work():
    r = route(facts(Urgency.medium, cow="QA"), DIRECTORY, POLICY)
    assert r.recipients[0].partner_id == "ngo-np"
    assert "country of origin NP" in r.recipients[0].reason


def test_a_case_no_rule_places_goes_to_the_fallback():
    r = route(facts(Urgency.low), DIRECTORY, POLICY)
    assert r.rule == "fallback" and [x.partner_id for x in r.recipients] == ["hub"]


def test_partners_that_do_not_receive_cases_are_never_chosen():
    for u in Urgency:
        assert "app" not in {x.partner_id for x in route(facts(u, cow=None, coo=None), DIRECTORY, POLICY).recipients}
