"""Routing rules and the identity shield, on a small directory built here."""

from datetime import UTC, datetime

import pytest

from schemas.models import Disclosure, Urgency
from services.common.directory import Directory
from services.common.shield import disclosure_for, project, role_disclosure
from services.triage.routing import CaseFacts, RoutingPolicy, RoutingRule, route

MON_NOON_KL = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # Monday 12:00 in Kuala Lumpur
SUN_3AM_KL = datetime(2026, 11, 28, 19, 0, tzinfo=UTC)  # Sunday 03:00 in Kuala Lumpur
KL_HOURS = {"timezone": "Asia/Kuala_Lumpur", "start": "09:00", "end": "17:00"}

DIRECTORY = Directory.model_validate({"partners": [
    {"id": "hub", "name": "Hub", "kind": "iom_mission", "available_24_7": True},
    {"id": "ngo-my", "name": "NGO MY", "kind": "ngo", "countries_of_work": ["MY"], "disclosure": "full",
     "working_hours": KL_HOURS},
    {"id": "iom-my", "name": "IOM MY", "kind": "iom_mission", "countries_of_work": ["MY"], "working_hours": KL_HOURS},
    {"id": "ngo-np", "name": "NGO NP", "kind": "ngo", "countries_of_origin": ["NP"], "disclosure": "full"},
    {"id": "hotline", "name": "Hotline", "kind": "hotline", "urgencies": ["critical", "high"], "available_24_7": True},
    {"id": "inspect-my", "name": "Inspectorate", "kind": "labour_inspectorate", "countries_of_work": ["MY"],
     "categories": ["wage_theft"], "disclosure": "anonymised"},
    {"id": "brand", "name": "Brand", "kind": "brand", "supply_chain": ["Global Gloves Sdn Bhd"], "disclosure": "full"},
    {"id": "gg-channel", "name": "Global Gloves grievance desk", "kind": "ngo",
     "represents": ["Global Gloves Sdn. Bhd."], "countries_of_work": ["MY"]},
    {"id": "app", "name": "App", "kind": "ngo", "receives_cases": False},
]})
POLICY = RoutingPolicy(fallback="hub", rules=(
    RoutingRule("critical", {"urgency": (Urgency.critical,)}, ("ngo", "iom_mission", "hotline"), ("hotline",),
                available_now=True),
    RoutingRule("labour", {"categories": ("wage_theft",)}, ("ngo",), ("labour_inspectorate", "brand", "ngo")),
    RoutingRule("rest", {"urgency": (Urgency.high, Urgency.medium)}, ("ngo",), ("iom_mission",)),
))


def facts(urgency=Urgency.high, categories=("wage_theft",), cow="MY", coo="NP", at=MON_NOON_KL, **kw):
    return CaseFacts(urgency, tuple(categories), cow, coo, at=at, **kw)


def ids(r):
    return [(x.partner_id, x.role) for x in r.recipients]


def test_closest_partner_is_primary_and_each_recipient_says_why():
    r = route(facts(), DIRECTORY, POLICY)
    assert r.rule == "labour"
    assert ids(r)[0] == ("ngo-my", "primary")
    assert {"inspect-my", "ngo-np"} <= {x.partner_id for x in r.recipients}
    assert all(x.reason.startswith("rule labour") for x in r.recipients)
    assert "covers country of work MY" in r.recipients[0].reason


def test_critical_goes_to_someone_able_to_respond_now_and_raises_an_alert():
    in_hours = route(facts(Urgency.critical, ("violence_abuse",)), DIRECTORY, POLICY)
    assert ids(in_hours)[0] == ("ngo-my", "primary")
    at_night = route(facts(Urgency.critical, ("violence_abuse",), at=SUN_3AM_KL), DIRECTORY, POLICY)
    primary = at_night.recipients[0]
    assert primary.role == "primary" and DIRECTORY.get(primary.partner_id).available_at(SUN_3AM_KL)
    assert ("ngo-my", "copy") in ids(at_night)  # the closest partner still hears of it
    assert "able to respond now" in primary.reason
    assert any(kind == "critical_case" for kind, _ in at_night.alerts)


def test_a_case_no_rule_places_goes_to_the_fallback():
    r = route(facts(Urgency.low, ("information_request",)), DIRECTORY, POLICY)
    assert r.rule == "fallback" and ids(r) == [("hub", "primary")]


def test_partners_acting_for_the_named_employer_never_receive_the_case():
    r = route(facts(employer="GLOBAL GLOVES SDN BHD"), DIRECTORY, POLICY)
    assert "gg-channel" not in {x.partner_id for x in r.recipients}
    assert [e.partner_id for e in r.excluded] == ["gg-channel"]
    assert "employer named in the complaint" in r.excluded[0].reason


def test_brands_get_facts_only_and_only_for_their_suppliers():
    with_supplier = route(facts(employer="Global Gloves"), DIRECTORY, POLICY)
    brand = next(x for x in with_supplier.recipients if x.partner_id == "brand")
    assert brand.disclosure == Disclosure.anonymised
    assert "brand" not in {x.partner_id for x in route(facts(employer="Other Co"), DIRECTORY, POLICY).recipients}


def test_routing_records_what_the_role_allows_and_leaves_consent_to_send_time():
    # Consent may come after routing: the recipient's role decides the level recorded, intake decides at each
    # send from the consent held then (disclosure_for).
    without = route(facts(), DIRECTORY, POLICY).recipients[0]
    assert without.partner_id == "ngo-my" and without.disclosure == Disclosure.full
    assert without.reason.endswith("; contact details only once the worker consents")
    given = route(facts(consent_share_contact=True), DIRECTORY, POLICY).recipients[0]
    assert given.disclosure == Disclosure.full and "consent" not in given.reason
    ngo_my = DIRECTORY.get("ngo-my")
    assert disclosure_for(ngo_my, False) == (Disclosure.pseudonymous, "no consent to share contact details")
    assert disclosure_for(ngo_my, True) == (Disclosure.full, "")
    assert disclosure_for(ngo_my, True, contact_back=False) == (
        Disclosure.pseudonymous, "the worker does not want to be contacted back")
    # The employer's side is capped by its role, whatever the consent.
    assert role_disclosure(DIRECTORY.get("brand")) == (Disclosure.anonymised, "brand: facts only")
    assert disclosure_for(DIRECTORY.get("brand"), True)[0] == Disclosure.anonymised


def test_partners_that_do_not_receive_cases_are_never_chosen():
    for u in Urgency:
        r = route(facts(u, cow=None, coo=None), DIRECTORY, POLICY)
        assert "app" not in {x.partner_id for x in r.recipients}


def test_projection_by_disclosure_level():
    case = {"case_ref": "GRV-1", "subject_ref": "SUBJ-1", "submitted_by": "ngo-np", "text": "t", "urgency": "high"}
    assert project(case, Disclosure.anonymised) == {"case_ref": "GRV-1", "urgency": "high"}
    assert project(case, Disclosure.pseudonymous) == case
    assert project(case, Disclosure.full, {"phone": "+1"})["contact"] == {"phone": "+1"}
    assert "contact" not in project(case, Disclosure.pseudonymous, {"phone": "+1"})


NIGHT_POLICY = RoutingPolicy(fallback="hub", rules=(
    RoutingRule("critical", {"urgency": (Urgency.critical,)}, ("ngo", "iom_mission", "hotline"), ("hotline",),
                max_copies=1, available_now=True),
))


def test_the_out_of_hours_closest_partner_keeps_its_copy_without_taking_a_copy_slot():
    r = route(facts(Urgency.critical, ("violence_abuse",), at=SUN_3AM_KL), DIRECTORY, NIGHT_POLICY)
    assert ids(r) == [("hub", "primary"), ("ngo-my", "copy"), ("hotline", "copy")]
    assert r.recipients[0].reason == ("rule critical (urgency critical): iom_mission that covers every country; "
                                      "able to respond now (24/7), ngo-my is not")
    assert r.recipients[1].reason.endswith("covers country of work MY; outside its hours; contact details only "
                                           "once the worker consents")


def test_a_critical_case_reaches_a_responder_whatever_rule_places_it():
    abuse = RoutingRule("abuse", {"categories": ("violence_abuse",)}, ("ngo",), ())  # no available_now
    policy = RoutingPolicy(fallback="hub", rules=(abuse,))
    at_night = route(facts(Urgency.critical, ("violence_abuse",), at=SUN_3AM_KL), DIRECTORY, policy)
    assert ids(at_night) == [("hub", "primary"), ("ngo-my", "copy")]
    assert "able to respond now (24/7), ngo-my is not" in at_night.recipients[0].reason
    # Below critical, a rule without available_now keeps its closest partner whatever the hour.
    assert ids(route(facts(Urgency.high, ("violence_abuse",), at=SUN_3AM_KL), DIRECTORY, policy)) == [
        ("ngo-my", "primary")]


def test_a_critical_case_left_to_an_out_of_hours_fallback_gets_a_responder_too():
    policy = RoutingPolicy(fallback="iom-my", rules=())
    r = route(facts(Urgency.critical, ("violence_abuse",), at=SUN_3AM_KL), DIRECTORY, policy)
    assert r.rule == "fallback" and ids(r) == [("hub", "primary"), ("iom-my", "copy")]
    assert r.recipients[0].reason.startswith("no rule found a partner: iom_mission that covers every country; able")
    assert r.recipients[1].reason == "no rule found a partner: the configured fallback; outside its hours"
    assert ids(route(facts(Urgency.critical, ("violence_abuse",)), DIRECTORY, policy)) == [("iom-my", "primary")]


def test_with_no_covering_partner_open_a_24_7_partner_beyond_its_coverage_answers():
    partners = [
        {"id": "ngo-my", "name": "NGO MY", "kind": "ngo", "countries_of_work": ["MY"], "working_hours": KL_HOURS},
        {"id": "ngo-sg", "name": "NGO SG", "kind": "ngo", "countries_of_work": ["SG"], "available_24_7": True},
        {"id": "desk", "name": "Wage desk", "kind": "ngo", "categories": ["wage_theft"], "available_24_7": True},
        {"id": "low", "name": "Low only", "kind": "ngo", "urgencies": ["low"], "available_24_7": True},
    ]
    case = facts(Urgency.critical, ("violence_abuse",), at=SUN_3AM_KL)
    r = route(case, Directory.model_validate({"partners": partners}), POLICY)
    assert ids(r) == [("desk", "primary"), ("ngo-my", "copy")]  # no country limits: nearest to covering
    assert r.recipients[0].reason == ("rule critical (urgency critical): ngo that takes critical cases at any hour; "
                                      "able to respond now (24/7), ngo-my is not and no partner covering the case is")
    r = route(case, Directory.model_validate({"partners": partners[:2] + partners[3:]}), POLICY)
    assert ids(r) == [("ngo-sg", "primary"), ("ngo-my", "copy")]
    assert not [kind for kind, _ in r.alerts if kind == "no_available_responder"]


def test_the_responder_is_never_on_the_employers_side_and_nobody_left_means_an_alert():
    partners = [
        {"id": "ngo-my", "name": "NGO MY", "kind": "ngo", "countries_of_work": ["MY"], "working_hours": KL_HOURS},
        {"id": "hotline", "name": "Night Shift Helpline", "kind": "hotline", "available_24_7": True,
         "represents": ["Night Shift Sdn Bhd"]},
        {"id": "brand", "name": "Brand", "kind": "brand", "supply_chain": ["Night Shift Sdn Bhd"],
         "available_24_7": True},
    ]
    case = facts(Urgency.critical, ("violence_abuse",), at=SUN_3AM_KL, employer="NIGHT SHIFT SDN. BHD.")
    r = route(case, Directory.model_validate({"partners": partners}), POLICY)
    assert [e.partner_id for e in r.excluded] == ["hotline"]
    assert ids(r) == [("ngo-my", "primary")]
    assert ("no_available_responder", "no partner able to respond now; ngo-my notified") in r.alerts


def test_a_fallback_acting_for_the_named_employer_is_not_used_and_someone_stands_in():
    policy = RoutingPolicy(fallback="gg-channel", rules=())
    chosen = route(facts(Urgency.low, ("information_request",), employer="Global Gloves"), DIRECTORY, policy)
    assert "gg-channel" not in {r.partner_id for r in chosen.recipients}
    assert "standing in for the configured fallback gg-channel" in chosen.recipients[0].reason
    assert [kind for kind, _ in chosen.alerts] == ["fallback_barred"]


def test_a_barred_fallback_with_nobody_to_stand_in_raises_for_the_caller_to_alert():
    alone = Directory.model_validate({"partners": [{"id": "gg-channel", "name": "Global Gloves grievance channel",
                                                    "kind": "brand", "represents": ["Global Gloves"]}]})
    with pytest.raises(ValueError, match="no other partner can take the case"):
        route(facts(Urgency.low, ("information_request",), employer="Global Gloves"), alone,
              RoutingPolicy(fallback="gg-channel", rules=()))


# ------------------------------------------------------------------ companies get only cases linked to them

COMPANIES = Directory.model_validate({"partners": [
    {"id": "ngo-my", "name": "NGO MY", "kind": "ngo", "countries_of_work": ["MY"], "disclosure": "full",
     "available_24_7": True},
    {"id": "gg-channel", "name": "Global Gloves grievance channel", "kind": "brand", "countries_of_work": ["MY"],
     "represents": ["Global Gloves Sdn Bhd"], "available_24_7": True},
    {"id": "buyer", "name": "Buyer", "kind": "brand", "countries_of_work": ["MY"], "disclosure": "full",
     "supply_chain": ["Global Gloves Sdn Bhd"], "available_24_7": True},
    {"id": "desk", "name": "Employers' association desk", "kind": "ngo", "countries_of_work": ["MY"],
     "represents": ["Palm Growers Association"], "available_24_7": True},
    {"id": "agency", "name": "Agency", "kind": "recruitment_agency", "available_24_7": True},
]})
ALL_COPY = RoutingPolicy(fallback="ngo-my", rules=(
    RoutingRule("all", {}, ("ngo",), ("brand", "recruitment_agency", "ngo"), max_copies=10),))


def test_a_case_naming_no_employer_goes_to_no_company():
    for u in Urgency:
        r = route(facts(u, employer=None, at=SUN_3AM_KL), COMPANIES, ALL_COPY)
        assert ids(r) == [("ngo-my", "primary")], u


def test_a_company_channel_never_receives_another_employers_case_nor_one_about_itself():
    other = route(facts(employer="Other Gloves Sdn Bhd"), COMPANIES, ALL_COPY)
    assert ids(other) == [("ngo-my", "primary")]
    own = route(facts(employer="GLOBAL GLOVES SDN. BHD."), COMPANIES, ALL_COPY)
    assert [e.partner_id for e in own.excluded] == ["gg-channel"]
    assert ids(own) == [("ngo-my", "primary"), ("buyer", "copy")]


def test_a_brand_gets_facts_only_for_its_suppliers_cases():
    buyer = next(x for x in route(facts(employer="Global Gloves"), COMPANIES, ALL_COPY).recipients
                 if x.partner_id == "buyer")
    assert buyer.disclosure == Disclosure.anonymised and "buys from Global Gloves" in buyer.reason


def test_an_organisation_acting_for_a_company_is_on_the_employers_side_whatever_its_kind():
    # `desk` says it is an ngo but acts for an employers' association: no unrelated cases, facts only.
    assert "desk" not in {x.partner_id for x in route(facts(), COMPANIES, ALL_COPY).recipients}
    assert role_disclosure(COMPANIES.get("desk"))[0] == Disclosure.anonymised
    # Nor is it ever the one to answer a critical case at night.
    night = route(facts(Urgency.critical, ("violence_abuse",), at=SUN_3AM_KL), COMPANIES, ALL_COPY)
    assert night.recipients[0].partner_id == "ngo-my"


def test_in_the_demo_directory_the_employers_own_channel_gets_no_case_by_routing():
    from services.common import directory as directory_module
    from services.common.settings import REPO_ROOT

    demo = directory_module.load(REPO_ROOT / "config")
    policy = RoutingPolicy.load(REPO_ROOT / "config" / "routing.yaml")
    for employer in (None, "Other Gloves Sdn Bhd", "Global Gloves Sdn Bhd"):
        for u, cats in ((Urgency.high, ("wage_theft", "excessive_hours")), (Urgency.critical, ("violence_abuse",)),
                        (Urgency.medium, ("living_conditions",))):
            r = route(facts(u, cats, employer=employer, sector="gloves"), demo, policy)
            got = {x.partner_id for x in r.recipients}
            assert "globalgloves-channel" not in got, (employer, u)
            assert ("brand-gloves" in got) <= (employer == "Global Gloves Sdn Bhd"), (employer, u)
