"""The dashboard by keyboard, and the sign-in limit, in a real browser against the whole stack (its own, so the
limit's failures from this address do not touch the other browser tests): signing in without a mouse; the focus
and its place on the screen kept while the Now view refreshes live with rows arriving above it; too many failed
sign-ins refused with 429 and Retry-After, per account and per address, counted on /metrics."""

from __future__ import annotations

import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.browser.test_dashboard import submit

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(300)]


def keyboard_sign_in(browser, stack, user: str, password: str, viewport=(1280, 640)):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(stack.url("dashboard") + "/now")
    assert page.evaluate("document.activeElement.name") == "user"  # the form's first field has the focus
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    return context, page


def tab_to(page, element_id: str, presses: int = 400) -> None:
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} not reached with the Tab key")


def test_the_focus_keeps_its_place_while_rows_arrive_above_it(browser, dstack, shot):
    older, old = submit(dstack), submit(dstack)
    context, page = keyboard_sign_in(browser, dstack, "demo-operator", "demo-operator-password")
    page.wait_for_url(re.compile(r".*/now$"))
    for ref in (older, old):
        page.locator(f'#unacked tr[data-case="{ref}"]').wait_for()
    target = f"u-{older}"
    tab_to(page, target)
    page.evaluate("id => document.getElementById(id).scrollIntoView({block: 'center'})", target)
    top = page.evaluate("id => document.getElementById(id).getBoundingClientRect().top", target)
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0  # the page is longer than the window: there is a scroll position to keep

    newer = submit(dstack)  # a critical case: a row and an alert arrive above the focused link
    page.locator(f'#unacked tr[data-case="{newer}"]').wait_for()
    page.wait_for_timeout(500)
    assert page.evaluate("document.activeElement.id") == target
    moved = page.evaluate("id => document.getElementById(id).getBoundingClientRect().top", target) - top
    assert abs(moved) <= 2, f"the focused link moved {moved}px on the screen"
    assert page.evaluate("window.scrollY") > scrolled  # the page scrolled by what arrived above
    assert page.get_by_role("status").inner_text().strip()  # the figures, for screen readers

    page.wait_for_timeout(7000)  # two more refreshes with nothing new, or with deliveries of these cases
    assert page.evaluate("document.activeElement.id") == target
    page.keyboard.press("Enter")  # still the same link under the keyboard
    page.wait_for_url(re.compile(rf".*/cases/{older}$"))
    shot(page, "case-by-keyboard")
    context.close()


def sign_in_form(client: httpx.Client) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)


def attempt(client: httpx.Client, user: str, password: str) -> httpx.Response:
    return client.post("/login", data={"csrf": sign_in_form(client), "user": user, "password": password})


def sign_ins(stack) -> dict[str, float]:
    text = httpx.get(stack.url("dashboard") + "/metrics", timeout=10).text
    return {s.labels["outcome"]: s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == "grievance_dashboard_sign_ins_total"}


def test_too_many_failed_sign_ins_are_refused_per_account_and_per_address(browser, dstack):
    before = sign_ins(dstack)
    context, page = keyboard_sign_in(browser, dstack, "demo-viewer", "wrong-1")
    for i in range(2, 6):  # five failures on one account
        assert page.get_by_role("alert").inner_text().startswith("Unknown user or wrong password")
        page.fill("input[name=user]", "demo-viewer")
        page.fill("input[name=password]", f"wrong-{i}")
        page.press("input[name=password]", "Enter")
    page.fill("input[name=user]", "demo-viewer")
    page.fill("input[name=password]", "demo-viewer-password")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.press("input[name=password]", "Enter")
    assert answer.value.status == 429  # the right password too: guessing cannot go on
    assert 0 < int(answer.value.headers["retry-after"]) <= 15 * 60
    assert "Too many failed sign-ins" in page.get_by_test_id("throttled").inner_text()
    assert not [c for c in context.cookies() if c["name"] == "grievance_session"]
    context.close()

    with httpx.Client(base_url=dstack.url("dashboard"), timeout=10) as client:
        assert attempt(client, "demo-operator", "demo-operator-password").status_code == 303  # another account
        for _ in range(15):  # 20 failures from this address, on accounts that do not exist
            assert attempt(client, f"guess-{uuid.uuid4().hex[:6]}", "x").status_code == 401
        refused = attempt(client, "demo-admin", "demo-admin-password")
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0

        counted = sign_ins(dstack)
        assert counted["throttled"] - before.get("throttled", 0) == 2
        assert counted["failed"] - before.get("failed", 0) == 20
        # A quarter of an hour later (the failures moved back in time), the address may sign in again.
        with psycopg2.connect(dstack.database_url) as conn, conn.cursor() as cur:
            cur.execute("UPDATE dashboard.login_failures SET at = at - interval '15 minutes'")
        assert attempt(client, "demo-admin", "demo-admin-password").status_code == 303


def test_parallel_guesses_get_no_more_tries_than_sequential_ones(dstack):
    """Twelve wrong passwords for one account sent at the same moment: five are checked, the rest refused."""
    account, n = f"ghost-{uuid.uuid4().hex[:6]}", 12
    clients = [httpx.Client(base_url=dstack.url("dashboard"), timeout=30) for _ in range(n)]
    try:
        forms = [sign_in_form(c) for c in clients]  # each its own form token, fetched beforehand
        start = threading.Barrier(n)

        def guess(i: int) -> int:
            start.wait()
            return clients[i].post("/login", data={"csrf": forms[i], "user": account, "password": f"p{i}"}
                                   ).status_code
        with ThreadPoolExecutor(n) as pool:
            codes = sorted(pool.map(guess, range(n)))
    finally:
        for c in clients:
            c.close()
    assert codes == [401] * 5 + [429] * (n - 5)


def test_a_live_page_whose_session_ended_goes_to_the_sign_in_and_back(browser, dstack):
    context, page = keyboard_sign_in(browser, dstack, "demo-viewer", "demo-viewer-password")
    page.wait_for_url(re.compile(r".*/now$"))
    page.goto(dstack.url("dashboard") + "/now?range=24h")
    other = context.new_page()  # the same browser signs out in another tab
    other.goto(dstack.url("dashboard") + "/flow")
    other.get_by_role("button", name="Sign out").click()
    other.wait_for_url(re.compile(r".*/login$"))
    page.wait_for_url(re.compile(r".*/login\?next=.*"), timeout=15_000)  # the next refresh was refused
    page.fill("input[name=user]", "demo-viewer")
    page.fill("input[name=password]", "demo-viewer-password")
    page.press("input[name=password]", "Enter")
    page.wait_for_url(re.compile(r".*/now\?range=24h$"))
    context.close()
