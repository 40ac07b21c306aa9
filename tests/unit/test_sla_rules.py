"""Which clock a holder runs, and where a breach sends the case (services/notifier/sla_rules.py)."""

from __future__ import annotations

import pytest

from services.notifier.sla_rules import escalate, first_clocks, waits_on

LIST = [{"partner_id": "a"}, {"partner_id": "b"}, {"partner_id": "c"}]


@pytest.mark.parametrize(("state", "clock"), [
    ("routed", "acknowledgement"), ("acknowledged", "acceptance"), ("accepted", "progress"),
    ("investigating", "progress"), ("remediation_planned", "progress"), ("remediation_done", "progress"),
    ("referred_back", None), ("closed", None), ("something_new", None)])
def test_each_state_waits_on_one_clock_and_final_states_on_none(state, clock):
    assert waits_on(state) == clock


def test_a_new_holder_starts_with_delivery_and_acknowledgement_unless_it_already_spoke():
    assert first_clocks(None) == first_clocks("routed") == ["delivery", "acknowledgement"]
    assert first_clocks("accepted") == ["progress"]
    assert first_clocks("closed") == []


def test_a_breach_goes_down_the_list_skipping_partners_that_already_have_the_case():
    first = escalate(LIST, 0, {"primary"}, holder_escalated=False)
    assert (first.to, first.escalated, first.alert) == ({"partner_id": "a"}, 1, False)
    skip = escalate(LIST, 1, {"primary", "a", "b"}, holder_escalated=False)
    assert (skip.to, skip.escalated, skip.alert) == ({"partner_id": "c"}, 3, False)


def test_nobody_left_means_operators_once_per_holder():
    done = escalate(LIST, 3, set(), holder_escalated=False)
    assert (done.to, done.alert) == (None, True)
    assert escalate([], 0, set(), holder_escalated=False).alert
    again = escalate(LIST, 0, set(), holder_escalated=True)
    assert (again.to, again.escalated, again.alert) == (None, 0, False)
