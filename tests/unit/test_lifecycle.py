"""The case lifecycle as a state machine (services/intake/lifecycle.py) and the worker's status texts
(config/worker_messages.yaml)."""

from __future__ import annotations

import pytest
import yaml

from services.common.settings import REPO_ROOT
from services.intake import lifecycle
from services.intake.lifecycle import OUTCOMES, TRANSITIONS, Refused, State, case_state, check_step

CONFIG = yaml.safe_load((REPO_ROOT / "config" / "worker_messages.yaml").read_text(encoding="utf-8"))
TEMPLATES, LANGUAGES = CONFIG["messages"], CONFIG["languages"]
REQUIRED_LANGUAGES = {"en", "fr", "ar", "id", "ms", "ne", "bn", "tl", "vi", "th", "my", "km", "hi"}


def walk(*steps: str, start: State = State.routed) -> State:
    state = start
    for step in steps:
        outcome = step.split(":")[1] if step.startswith("closed:") else None
        state = check_step(state, step.split(":")[0], reason="outside our mandate", outcome=outcome)
    return state


def test_the_whole_remediation_path_is_allowed():
    assert walk("acknowledged", "accepted", "investigating", "remediation_planned", "remediation_done",
                "closed:remedied") is State.closed


def test_monitoring_can_send_a_case_back_to_a_new_plan_and_a_plan_back_to_investigation():
    assert walk("accepted", "investigating", "remediation_planned", "remediation_done", "remediation_planned",
                "investigating", "closed:not_substantiated") is State.closed


def test_acceptance_may_come_without_acknowledgement_and_referral_back_before_investigation():
    assert walk("accepted") is State.accepted
    for before in ((), ("acknowledged",), ("acknowledged", "accepted")):
        assert walk(*before, "referred_back") is State.referred_back


@pytest.mark.parametrize("state", list(State))
def test_every_state_refuses_what_it_does_not_allow_naming_the_state_and_the_next_steps(state):
    for step in lifecycle.STEP_TYPES:
        if State(step) in TRANSITIONS[state]:
            continue
        with pytest.raises(Refused) as caught:
            check_step(state, step, reason="r", outcome="withdrawn")
        assert caught.value.current is state and set(caught.value.allowed) == TRANSITIONS[state]
        message = str(caught.value)
        assert state.value in message and step in message
        for allowed in TRANSITIONS[state]:
            assert allowed.value in message


def test_final_states_allow_nothing():
    assert {State.closed, State.referred_back} == lifecycle.FINAL
    with pytest.raises(Refused, match="closed"):
        check_step(State.closed, "investigating")
    assert lifecycle.allowed_next(State.closed) == []


def test_every_state_is_reachable_from_routed():
    seen, frontier = {State.routed}, [State.routed]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    assert seen == set(State)


def test_referred_back_needs_a_reason_and_closed_an_outcome_remedied_only_after_remediation():
    with pytest.raises(Refused, match="reason"):
        check_step(State.routed, "referred_back", reason=" ")
    with pytest.raises(Refused, match="outcome"):
        check_step(State.accepted, "closed")
    with pytest.raises(Refused, match="outcome"):
        check_step(State.accepted, "closed", outcome="fixed")
    with pytest.raises(Refused, match="remedied only after remediation_done"):
        check_step(State.investigating, "closed", outcome="remedied")
    for outcome in OUTCOMES:
        if outcome != "remedied":
            assert check_step(State.investigating, "closed", outcome=outcome) is State.closed


def test_the_case_state_is_the_furthest_recipient_still_holding_it_closed_only_when_all_have_closed():
    assert case_state({}) is State.routed
    assert case_state({"a": State.routed, "b": State.routed}) is State.routed
    assert case_state({"a": State.acknowledged, "b": State.investigating}) is State.investigating
    assert case_state({"a": State.referred_back, "b": State.acknowledged}) is State.acknowledged
    assert case_state({"a": State.closed, "b": State.accepted}) is State.accepted
    assert case_state({"a": State.closed, "b": State.referred_back}) is State.closed
    assert case_state({"a": State.referred_back, "b": State.referred_back}) is State.referred_back


# ------------------------------------------------------------------ status back to the worker


def test_every_state_has_a_text_in_every_supported_language():
    assert set(LANGUAGES) >= REQUIRED_LANGUAGES
    assert set(TEMPLATES) == set(LANGUAGES)
    assert lifecycle.template_problems(TEMPLATES, LANGUAGES) == []
    for language in LANGUAGES:
        assert set(TEMPLATES[language]) == {s.value for s in State}, language


def test_no_text_has_a_placeholder_for_another_party_nor_names_one():
    for language, texts in TEMPLATES.items():
        for state, text in texts.items():
            assert set(lifecycle.PLACEHOLDER.findall(text)) <= lifecycle.ALLOWED_PLACEHOLDERS, (language, state)
            text.format_map({"case_ref": "GRV-000000000000"})  # no stray braces
            for word in ("partner", "employer", "ngo-", "recruit", "note"):
                assert word not in text.lower(), (language, state, word)
    # and the check itself catches one
    bad = {"en": dict(TEMPLATES["en"], closed="Closed by {partner_name} ({note})")}
    assert len(lifecycle.template_problems(bad, ["en"])) == 2


def test_texts_are_distinct_per_state_and_not_english_in_other_languages():
    for language, texts in TEMPLATES.items():
        assert len(set(texts.values())) == len(texts), language
        if language != "en":
            assert not set(texts.values()) & set(TEMPLATES["en"].values()), language


def test_the_message_is_in_the_cases_language_else_english():
    ref = "GRV-000000000000"
    assert lifecycle.worker_message(TEMPLATES, "ne", State.investigating, ref).language == "ne"
    assert lifecycle.worker_message(TEMPLATES, "fr-CA", State.closed, ref) == lifecycle.WorkerMessage(
        "fr", TEMPLATES["fr"]["closed"])
    for unknown in (None, "", "xx", "zh-Hant"):
        said = lifecycle.worker_message(TEMPLATES, unknown, State.accepted, ref)
        assert said == lifecycle.WorkerMessage("en", TEMPLATES["en"]["accepted"])
