"""The dashboard's routes. Every page needs a signed-in session; every POST needs the session's CSRF token
(form field `csrf` or header `X-CSRF-Token`) and, for actions, the operator role. Pages read the read
model only; a case page view is recorded in the audit log."""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from services.common import db, metrics
from services.common import logging as log
from services.dashboard import catalogue, operators, queries, sessions, throttle
from services.dashboard.agencies import Agency, status
from services.dashboard.filters import RANGES, URGENCIES, Filters
from services.dashboard.lag import LagReading
from services.dashboard.pages import HERE, SECURITY_HEADERS, render
from services.dashboard.requeue import NotFound, Requeuer
from services.devtools.replay import CannotOpen

COOKIE = "grievance_session"
LOGIN_COOKIE = "grievance_login"
LANG_COOKIE = "grievance_lang"
CASE_REF = re.compile(r"GRV-[0-9A-Z]{12}")
STATIC = {p.name: p for p in [*(HERE / "static").glob("*.*"), *(HERE / "static" / "vendor").glob("*.js")]}
MEDIA = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml"}


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def _set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict", secure=_secure(request),
                        path="/")


def _language(request: Request) -> str:
    return catalogue.choose(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def _client(request: Request) -> str:
    """The client's address (uvicorn puts a trusted proxy's X-Forwarded-For here, and only a trusted one's)."""
    return request.client.host if request.client else "unknown"


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    return target if target and target.startswith("/") and not target.startswith("//") and "\\" not in target \
        else "/now"


def router(pool: db.Pool, users: dict[str, operators.Operator], requeuer: Requeuer,
           clock: Callable[[], datetime] = lambda: datetime.now(UTC),
           lag: Callable[[], LagReading | None] = lambda: None,
           agencies: Callable[[], dict[str, Agency]] = dict) -> APIRouter:
    api = APIRouter(include_in_schema=False)

    def session_of(request: Request) -> sessions.Session | None:
        with pool.transaction() as cur:
            return sessions.find(cur, request.cookies.get(COOKIE))

    def page(request: Request, template: str, session: sessions.Session, status_code: int = 200, **context):
        f = Filters.parse(request.query_params)
        return render(template, _language(request), status_code, session=session, filters=f, path=request.url.path,
                      now=clock(), ranges=list(RANGES), urgencies=URGENCIES, **context)

    def to_login(request: Request) -> Response:
        # back to the same view after signing in, filters included
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)

    def denied(request: Request, session: sessions.Session) -> Response:
        return page(request, "message.html", session, 403, text_key="forbidden")

    @api.get("/static/{name}")
    def static(name: str) -> Response:
        path = STATIC.get(name)
        if path is None:
            return Response(status_code=404)
        return FileResponse(path, media_type=MEDIA.get(path.suffix, "application/octet-stream"),
                            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})

    @api.get("/")
    def home() -> Response:
        return RedirectResponse("/now", status_code=303)

    @api.get("/lang/{code}")
    def language(code: str, request: Request) -> Response:
        response = RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
        if code in catalogue.LANGUAGES:
            _set_cookie(response, request, LANG_COOKIE, code, max_age=365 * 86400)
        return response

    @api.get("/login")
    def login_form(request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        response = render("login.html", _language(request), csrf=token, error=False,
                          next=_safe_next(request.query_params.get("next")))
        _set_cookie(response, request, LOGIN_COOKIE, token, max_age=3600)
        return response

    @api.post("/login")
    async def login(request: Request) -> Response:
        form = await _form(request)
        expected = request.cookies.get(LOGIN_COOKIE) or ""
        if not expected or not hmac.compare_digest(form.get("csrf", ""), expected):
            return Response("missing or stale login form: reload the page", status_code=403)
        user, client, at = form.get("user", "")[:100], _client(request), clock()

        def claim() -> tuple[int | None, int | None]:
            with pool.transaction() as cur:
                return throttle.claim(cur, user, client, at)
        wait, claimed = await run_in_threadpool(claim)
        if wait is not None:
            # Checked before the password: past the limit, not even the right one gets in, so guessing stops.
            metrics.SIGN_INS.labels("throttled").inc()
            log.get().warning("sign_in_throttled", user=throttle.account_key(user), client=client, retry_after_s=wait)
            response = login_again(request, 429, form, throttled_min=max(1, round(wait / 60)))
            response.headers["Retry-After"] = str(wait)
            return response
        op = await run_in_threadpool(operators.authenticate, users, user, form.get("password", "")[:1000])
        if op is None:  # the failure claimed above stays recorded
            metrics.SIGN_INS.labels("failed").inc()
            log.get().info("sign_in_failed", user=throttle.account_key(user), client=client)
            return login_again(request, 401, form, error=True)

        def start() -> str:
            with pool.transaction() as cur:
                token, session = sessions.create(cur, op)
                sessions.audit(cur, session, "sign_in", op.id)
                throttle.succeeded(cur, user, claimed)
            return token
        response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
        _set_cookie(response, request, COOKIE, await run_in_threadpool(start), max_age=sessions.TTL_HOURS * 3600)
        response.delete_cookie(LOGIN_COOKIE, path="/")
        metrics.SIGN_INS.labels("signed_in").inc()
        return response

    def login_again(request: Request, status_code: int, form: dict[str, str], **message) -> Response:
        """The sign-in form again, with a fresh form token and why."""
        token = secrets.token_urlsafe(24)
        response = render("login.html", _language(request), status_code, csrf=token,
                          next=_safe_next(form.get("next")), **{"error": False, **message})
        _set_cookie(response, request, LOGIN_COOKIE, token, max_age=3600)
        return response

    async def checked(request: Request, role: str) -> tuple[sessions.Session | None, dict[str, str], Response | None]:
        """The session of a POST, its form, or the response refusing it."""
        form = await _form(request)
        session = await run_in_threadpool(session_of, request)
        if session is None:
            return None, form, to_login(request)
        token = request.headers.get("x-csrf-token") or form.get("csrf", "")
        if not hmac.compare_digest(token.encode(), session.csrf.encode()):
            return None, form, Response("CSRF token missing or wrong", status_code=403)
        if not operators.allows(session.role, role):
            return None, form, denied(request, session)
        return session, form, None

    @api.post("/logout")
    async def logout(request: Request) -> Response:
        _session, _, refused = await checked(request, "viewer")
        if refused is not None:
            return refused

        def end() -> None:
            with pool.transaction() as cur:
                sessions.end(cur, request.cookies.get(COOKIE))
        await run_in_threadpool(end)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    def viewing(request: Request, role: str = "viewer") -> tuple[sessions.Session | None, Response | None]:
        session = session_of(request)
        if session is None:
            return None, to_login(request)
        if not operators.allows(session.role, role):
            return None, denied(request, session)
        return session, None

    def filtered(request: Request, template: str, query, live: bool = False) -> Response:
        """A view of the read model under the URL's filters; a live fragment answers 401 instead of a redirect."""
        session, refused = viewing(request)
        if refused is not None:
            return Response(status_code=401) if live else refused
        with pool.transaction() as cur:
            data = query(cur, Filters.parse(request.query_params), clock())
        return page(request, template, session, **data)

    @api.get("/now")
    def now_page(request: Request) -> Response:
        return filtered(request, "now.html", queries.now_view)

    @api.get("/now/live")
    def now_live(request: Request) -> Response:
        """The Now view's body alone, polled by htmx every few seconds."""
        return filtered(request, "now_body.html", queries.now_view, live=True)

    @api.post("/alerts/{event_id}/ack")
    async def acknowledge(event_id: str, request: Request) -> Response:
        session, form, refused = await checked(request, "operator")
        if refused is not None:
            return refused

        def ack() -> None:
            with pool.transaction() as cur:
                cur.execute("INSERT INTO dashboard.alert_acks (event_id, acknowledged_by) SELECT event_id, %s"
                            " FROM dashboard.alerts WHERE event_id = %s ON CONFLICT DO NOTHING",
                            (session.user_id, event_id[:300]))
                sessions.audit(cur, session, "acknowledge_alert", event_id)
        await run_in_threadpool(ack)
        return RedirectResponse(_safe_next(form.get("next")), status_code=303)

    @api.get("/dead-letters/{record_id}")
    def dead_letter_page(record_id: int, request: Request) -> Response:
        session, refused = viewing(request)
        if refused is not None:
            return refused
        with pool.transaction() as cur:
            record = queries.dead_letter(cur, record_id)
        if record is None:
            return page(request, "message.html", session, 404, text_key="not_found")
        return page(request, "dead_letter.html", session, record=record, done=request.query_params.get("requeued"))

    @api.post("/dead-letters/{record_id}/requeue")
    async def requeue(record_id: int, request: Request) -> Response:
        session, _, refused = await checked(request, "operator")
        if refused is not None:
            return refused
        try:
            topic = await run_in_threadpool(requeuer.requeue, record_id, session.user_id)
        except NotFound:
            return Response("no such dead letter", status_code=404)
        except CannotOpen as exc:
            return Response(str(exc), status_code=409)

        def record() -> None:
            with pool.transaction() as cur:
                sessions.audit(cur, session, "requeue_dead_letter", f"{record_id} → {topic}")
        await run_in_threadpool(record)
        return RedirectResponse(f"/dead-letters/{record_id}?requeued={topic}", status_code=303)

    @api.get("/flow")
    def flow_page(request: Request) -> Response:
        return filtered(request, "flow.html", lambda cur, f, now: {**queries.flow(cur, f, now), "lag": lag()})

    @api.get("/flow/lag")
    def flow_lag(request: Request) -> Response:
        """The consumer lag table alone (the broker's answer, not the read model), polled by htmx."""
        session, refused = viewing(request)
        if refused is not None:
            return Response(status_code=401)
        return page(request, "lag.html", session, lag=lag())

    @api.get("/flow/data")
    def flow_data(request: Request) -> Response:
        _session, refused = viewing(request)
        if refused is not None:
            return Response(status_code=401)
        with pool.transaction() as cur:
            data = queries.flow(cur, Filters.parse(request.query_params), clock())
        return JSONResponse({"charts": data["charts"], "total": data["total"]}, headers=SECURITY_HEADERS)

    @api.get("/patterns")
    def patterns_page(request: Request) -> Response:
        def with_iris(cur, f, now):
            found, known = queries.patterns(cur, f, now), agencies()
            return {column: [{**r, "agency": status(known, r["name"], r["key"])} for r in rows]
                    for column, rows in found.items()}
        return filtered(request, "patterns.html", with_iris)

    @api.get("/cases/{case_ref}")
    def case_page(case_ref: str, request: Request) -> Response:
        session, refused = viewing(request)
        if refused is not None:
            return refused
        if not CASE_REF.fullmatch(case_ref):
            return page(request, "message.html", session, 404, text_key="not_found")
        with pool.transaction() as cur:
            sessions.audit(cur, session, "view_case", case_ref)  # recorded even if nothing is found
            data = queries.case(cur, case_ref)
        if data is None:
            return page(request, "message.html", session, 404, text_key="not_found")
        return page(request, "case.html", session, **data)

    @api.get("/audit")
    def audit_page(request: Request) -> Response:
        session, refused = viewing(request, "admin")
        if refused is not None:
            return refused
        with pool.transaction() as cur:
            entries = queries.audit(cur)
        return page(request, "audit.html", session, entries=entries)

    return api


async def _form(request: Request) -> dict[str, str]:
    """An url-encoded form body (bounded), first value of each field."""
    body = await request.body()
    if len(body) > 16384:
        return {}
    parsed = parse_qs(body.decode("utf-8", "replace"), max_num_fields=20)
    return {k: v[0] for k, v in parsed.items()}
