"""The operators' dashboard in a real browser against the real stack: sign in; a critical case submitted now
appears without a reload; its timeline; acknowledging its alert; requeuing a dead letter and seeing the case
go through; filters in the URL changing the numbers; roles and CSRF refused where they must be."""

from __future__ import annotations

import html
import re
import uuid

import httpx
import pytest

from services.common import event_auth
from tests.e2e.conftest import complaint, submit_http, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.timeout(300)]

CRITICAL = "My employer took my passport and locked us in the dormitory."


def sign_in(browser, stack, user: str = "demo-operator", password: str | None = None):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(stack.url("dashboard") + "/now")
    assert "/login" in page.url  # nothing without signing in
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password or f"{user}-password")
    with page.expect_navigation():  # signed in (or refused) before the test goes on
        page.click("button[type=submit]")
    return context, page


def submit(stack, text: str = CRITICAL, **extra) -> str:
    r = submit_http(stack, complaint(text=text, external_id=f"b-{uuid.uuid4().hex[:10]}", **extra))
    assert r.status_code == 202, r.text
    return r.json()["case_ref"]


def test_a_wrong_password_is_refused(browser, dstack):
    context, page = sign_in(browser, dstack, password="not-the-password")
    assert page.get_by_role("alert").inner_text().startswith("Unknown user or wrong password")
    assert not [c for c in context.cookies() if c["name"] == "grievance_session"]
    context.close()


def test_a_critical_case_appears_live_its_timeline_opens_and_its_alert_is_acknowledged(browser, dstack, shot):
    context, page = sign_in(browser, dstack)
    assert page.url.endswith("/now")
    session = next(c for c in context.cookies() if c["name"] == "grievance_session")
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    page.evaluate("window.notReloaded = true")

    case_ref = submit(dstack)
    row = page.locator(f'#unacked tr[data-case="{case_ref}"]')
    row.wait_for(timeout=30_000)  # polled in, no reload
    assert page.evaluate("window.notReloaded") is True
    assert "critical" in row.inner_text().lower()
    shot(page, "now-with-critical-case")

    alert = page.locator("li.card", has=page.locator(f'a[href="/cases/{case_ref}"]'))
    alert.first.wait_for()
    alert.first.get_by_role("button", name="Acknowledge").click()
    page.wait_for_load_state()
    page.wait_for_timeout(500)
    assert page.locator("li.card", has=page.locator(f'a[href="/cases/{case_ref}"]')).count() == 0

    page.goto(dstack.url("dashboard") + f"/cases/{case_ref}")

    def delivered():
        page.reload()
        kinds = page.locator("#timeline li").evaluate_all("els => els.map(e => e.dataset.kind)")
        return "delivered" in kinds and kinds
    kinds = wait_for(delivered, 30, interval=1, what="the delivery in the timeline")
    assert kinds[0] == "received" and {"triaged", "routed"} <= set(kinds)
    text = page.locator("#timeline").inner_text()
    assert "passport" in text  # the evidence triage found
    assert "+977" not in page.content() and "Tamang" not in page.content()  # contact details never shown
    shot(page, "case-timeline")
    context.close()

    admin, apage = sign_in(browser, dstack, "demo-admin")
    apage.goto(dstack.url("dashboard") + "/audit")
    audit = apage.locator("#audit").inner_text()
    assert re.search(rf"demo-operator\s+operator\s+view_case\s+{case_ref}", audit)
    assert "acknowledge_alert" in audit
    admin.close()


def test_a_requeued_dead_letter_flows_once_its_cause_is_fixed(browser, dstack, shot):
    """Triage restarted with a wrong public key for intake (a botched key rotation) sets aside every case it
    reads; with the key fixed, the operator requeues the dead letter from the page and the case goes through."""
    _, wrong = event_auth.generate()
    keys = ",".join(f"{n}={wrong if n == 'intake' else pub}" for n, (_, pub) in dstack.event_keys.items())
    dstack.stop("triage")
    dstack.start("triage", GRIEVANCE_EVENT_KEYS=keys)
    dstack.wait_ready("triage")
    case_ref = submit(dstack, text="The recruiter charged me fees and my wages are late.")
    context, page = sign_in(browser, dstack)
    dead = page.locator("#dead tr", has=page.locator(f'a[href="/cases/{case_ref}"]'))
    dead.wait_for(timeout=60_000)
    dstack.stop("triage")
    dstack.start("triage")
    dstack.wait_ready("triage")

    dead.first.locator("a").first.click()
    assert "grievance.received" in page.locator(".facts").inner_text()
    assert "UnsignedEvent" in page.content()
    page.get_by_role("button", name="Requeue").click()
    assert page.get_by_role("status").inner_text().endswith("grievance.received")
    shot(page, "dead-letter-requeued")

    page.goto(dstack.url("dashboard") + f"/cases/{case_ref}")

    def flowed():
        page.reload()
        kinds = page.locator("#timeline li").evaluate_all("els => els.map(e => e.dataset.kind)")
        return {"triaged", "routed", "delivered"} <= set(kinds)
    wait_for(flowed, 60, interval=1, what="the requeued case triaged, routed and delivered")
    context.close()


def test_filters_change_the_url_and_the_numbers(browser, dstack, shot):
    submit(dstack, text="My wages were paid late last month.", country_of_work="QA")
    critical_ref = submit(dstack)
    context, page = sign_in(browser, dstack, "demo-viewer")

    def projected():
        page.goto(dstack.url("dashboard") + "/flow?urgency=critical&country=MY")
        critical = int(page.get_by_test_id("flow-total").inner_text())
        page.goto(dstack.url("dashboard") + "/flow?country=QA")
        return critical and int(page.get_by_test_id("flow-total").inner_text())
    wait_for(projected, 30, interval=0.5, what="both cases in the read model")
    page.goto(dstack.url("dashboard") + "/flow")
    every = int(page.get_by_test_id("flow-total").inner_text())
    page.select_option("select[name=urgency]", "critical")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r".*urgency=critical.*"))
    critical = int(page.get_by_test_id("flow-total").inner_text())
    assert 0 < critical < every
    # Each chart's figures as a table, opened from the keyboard.
    page.locator("details summary").first.focus()
    page.keyboard.press("Enter")
    cells = page.locator("table[data-table-for=urgency] td").all_inner_texts()
    assert cells == ["critical", str(critical)]
    page.fill("input[name=country]", "qa")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r".*country=qa.*", re.IGNORECASE))
    assert int(page.get_by_test_id("flow-total").inner_text()) == 0  # the QA case is not critical
    page.locator("canvas[data-chart=urgency]").wait_for()
    page.goto(dstack.url("dashboard") + "/now?country=QA")
    assert int(page.get_by_test_id("total-cases").inner_text()) < every
    # A viewer sees no action buttons; the French page on a phone's width.
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("link", name="FR", exact=True).click()
    page.wait_for_url(re.compile(r".*/now\?country=QA$"))  # the language changed, the filters kept
    assert page.locator("h1").inner_text() == "Maintenant"
    assert page.evaluate("document.documentElement.scrollWidth") <= 400  # no sideways scrolling
    shot(page, "now-phone-fr")
    for path, title in (("/flow", "Flux"), ("/patterns", "Tendances"), (f"/cases/{critical_ref}", "Cas")):
        page.goto(dstack.url("dashboard") + path)
        assert page.locator("h1").inner_text().startswith(title)
        assert page.evaluate("document.documentElement.scrollWidth") <= 400, path
    shot(page, "flow-phone-fr")
    context.close()


def test_actions_need_the_operator_role_and_the_csrf_token(dstack):
    base = dstack.url("dashboard")

    def login(user: str) -> tuple[httpx.Client, str]:
        client = httpx.Client(base_url=base, timeout=10)
        form = client.get("/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        r = client.post("/login", data={"csrf": token, "user": user, "password": f"{user}-password"})
        assert r.status_code == 303, r.text
        page = client.get("/now").text
        return client, re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    viewer, vtoken = login("demo-viewer")
    assert viewer.post("/dead-letters/1/requeue", data={"csrf": vtoken}).status_code == 403
    assert viewer.get("/audit").status_code == 403
    operator, otoken = login("demo-operator")
    assert operator.post("/alerts/x/ack", data={}).status_code == 403  # no CSRF token
    assert operator.post("/alerts/x/ack", data={"csrf": vtoken}).status_code == 403  # another session's
    assert operator.post("/alerts/x/ack", data={"csrf": otoken}).status_code == 303
    assert httpx.post(base + "/login", data={"user": "demo-operator", "password": "demo-operator-password"}
                      ).status_code == 403  # a login without its form's token
    assert httpx.get(base + "/cases/GRV-AAAAAAAAAAAA", timeout=10).status_code == 303  # to the login page
    r = operator.get("/now")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    # Signing in from a filtered link leads back to the same view, filters included.
    with httpx.Client(base_url=base, timeout=10) as visitor:
        to_login = visitor.get("/flow?urgency=critical&range=24h")
        assert to_login.status_code == 303
        form = visitor.get(to_login.headers["location"]).text
        token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
        back = html.unescape(re.search(r'name="next" value="([^"]+)"', form).group(1))
        signed_in = visitor.post("/login", data={"csrf": token, "next": back, "user": "demo-viewer",
                                                 "password": "demo-viewer-password"})
        assert signed_in.headers["location"] == "/flow?urgency=critical&range=24h"
    for client in (viewer, operator):
        client.close()


DEMO = [  # (text, country of work, employer, recruiter)
    ("My employer took my passport and locked us in the dormitory.", "MY", "Sunrise Garments", "Fast Jobs"),
    ("The recruiter charged me fees and my wages are late.", "MY", "Sunrise Garments", "SUNRISE MANPOWER PVT. LTD."),
    ("The agency took 3000 dollars in fees and kept my contract.", "QA", "Gulf Build Co", "Golden Bridge Overseas"),
    ("We have not been paid for 3 months and the agent keeps our passports.", "QA", "Gulf Build Co", "Fast Jobs"),
    ("My wages were paid late last month.", "QA", "Gulf Build Co", None),
    ("The supervisor hit a worker and threatened us if we complain.", "MY", "Palm Estates", "Harbour Manpower"),
    ("I was told to work 16 hours a day without overtime pay.", "TW", "Formosa Electronics", "Harbour Manpower"),
    ("They deducted my salary for the recruitment debt.", "TW", "Formosa Electronics", None),
    ("Our dormitory has no water and 20 people share one room.", "MY", "Palm Estates", None),
]


def test_screenshot_with_demo_data(browser, dstack, shot):
    """The README's picture: the Now and Flow views over a few dozen real cases (artifacts/screenshots/)."""
    for i in range(24):
        text, country, employer, recruiter = DEMO[i % len(DEMO)]
        submit(dstack, text=text, country_of_work=country, employer=employer,
               **({"recruiter": recruiter} if recruiter else {}))
    context, page = sign_in(browser, dstack)
    wait_for(lambda: page.reload() or int(page.get_by_test_id("total-cases").inner_text()) >= 24, 60, interval=1,
             what="the demo cases in the read model")
    page.goto(dstack.url("dashboard") + "/now?range=24h")
    assert shot(page, "now-demo").stat().st_size > 10_000
    page.goto(dstack.url("dashboard") + "/flow?range=24h")
    page.wait_for_timeout(1000)  # the charts drawn
    shot(page, "flow-demo")
    page.goto(dstack.url("dashboard") + "/patterns?range=24h")
    assert "Sunrise Garments" in page.locator("#employers").inner_text()
    # IRIS status from the published directory: agency-sunrise is certified, agency-goldenbridge is not
    recruiters = page.locator("#recruiters")
    assert recruiters.locator('tr:has-text("SUNRISE MANPOWER") [data-iris]').get_attribute("data-iris") == "certified"
    assert recruiters.locator('tr:has-text("Golden Bridge") [data-iris]').get_attribute("data-iris") == "not_certified"
    assert recruiters.locator('tr:has-text("Fast Jobs") [data-iris]').get_attribute("data-iris") == "unknown"
    shot(page, "patterns-demo")
    context.close()
