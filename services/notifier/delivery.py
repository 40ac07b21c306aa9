"""The delivery worker: claims due deliveries, sends them by signed webhook (or by e-mail to a partner with
an address and no webhook) outside any transaction, and records each result, retry or dead letter.

One loop thread (this one) owns a database connection and does only short transactions: a claim leases due
rows (most urgent and nearest deadline first, within each partner's room: its concurrency limit and circuit
breaker) and starts an attempt for each; the sends run on a thread pool, with no transaction open and no
row locked, contact details asked of intake first for full-disclosure recipients; completed sends are
recorded together in the next transaction. A notifier that dies mid-send leaves leased rows that become
claimable when the lease expires: the send is made again under the same webhook-id (the delivery id), so
a receiver drops the repeat, and the lost attempt is counted and closed as such."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from schemas import envelope, topics
from schemas.internal import ContactRequest, ContactsAnswer, ContactsRequest
from schemas.models import NotificationDelivered, NotificationFailed, OperatorAlert, Urgency
from services.common import db, metrics, signing
from services.common import logging as log
from services.common.clock import real_time
from services.common.directory import Directory
from services.common.errors import is_transient, safe_text
from services.common.health import LoopHealth
from services.common.outbox import enqueue
from services.common.settings import Settings
from services.notifier import email_message, retry, store
from services.notifier.breaker import Breakers
from services.notifier.channel import channel_for
from services.notifier.payload import with_contact
from services.notifier.smtp import Mailer, SmtpConfig
from services.notifier.store import Claimed

SOURCE = "notifier"
Released = tuple[dict | None, str | None]  # contact details released, or why not


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int
    defer_s: float | None = None  # nothing was sent: intake could not give the contact details yet
    channel: str | None = None  # the channel tried; None: the one recorded with the delivery

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class Deferred(Exception):
    def __init__(self, why: str, after_s: float):
        super().__init__(why)
        self.after_s = after_s


def policy_for(settings: Settings) -> retry.Policy:
    path = Path(settings.delivery_policy) if settings.delivery_policy else settings.config_dir / "delivery.yaml"
    return retry.load(path, backoff_s=settings.delivery_backoff_s, max_attempts=settings.delivery_max_attempts)


class DeliveryWorker(threading.Thread):
    def __init__(self, settings: Settings, directory: Callable[[], Directory], stop: threading.Event,
                 on_commit=lambda: None, policy: retry.Policy | None = None, mailer: Mailer | None = None,
                 clock: Callable[[], datetime] = real_time):
        super().__init__(name="notifier-delivery", daemon=True)
        self.settings, self.directory, self.stop, self.on_commit = settings, directory, stop, on_commit
        self.clock = clock  # every due time, backoff, lease, horizon and breaker cool-down is read from it
        self.policy = policy or policy_for(settings)
        self.mailer = mailer or Mailer(SmtpConfig.from_settings(settings))
        self.templates = email_message.load(settings.config_dir / "email")
        self.breakers = Breakers(failures=self.policy.breaker_failures, cooldown_s=self.policy.breaker_cooldown_s,
                                 max_cooldown_s=self.policy.breaker_max_cooldown_s,
                                 per_partner=self.policy.per_partner)
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.wake = threading.Event()
        self._local = threading.local()
        self._done: list[tuple[Claimed, Outcome]] = []  # sends finished, not yet recorded
        self._done_lock = threading.Lock()
        self.in_flight = 0
        self._swept = 0.0
        self._first_done = 0.0
        self._sending: set[int] = set()  # ids this worker is sending: never claimed again meanwhile
        self.health = LoopHealth(self.name)
        self.sent = 0
        self.on_fatal: Callable[[str], None] = lambda reason: None
        self.logger = log.get().bind(component="delivery")

    def run(self) -> None:
        conn = None
        with ThreadPoolExecutor(self.settings.delivery_concurrency) as pool:
            while not self.stop.is_set():
                try:
                    conn = conn or db.connect(self.settings.database_url, retries=1)
                    progressed = self.cycle(conn, pool)
                    self.health.ok()
                    if not progressed:
                        self.wake.wait(0.02 if self._done else 0.25)
                        self.wake.clear()
                except Exception as exc:  # the worker must outlive any exception; state is in the database
                    transient = is_transient(exc)
                    self.health.failed(exc, transient)
                    self.logger.warning("delivery_loop_error", error=safe_text(repr(exc), 500), transient=transient)
                    with contextlib.suppress(Exception):
                        conn and conn.close()
                    conn = None
                    if self.health.hopeless(self.settings.loop_max_failures):
                        self.on_fatal(f"{self.name}: {type(exc).__name__}: {safe_text(exc, 300)}")
                        break
                    self.stop.wait(self.health.backoff_s())
        # The pool has let the sends in flight finish: record them, so a clean stop re-sends nothing.
        with contextlib.suppress(Exception):
            conn = conn or db.connect(self.settings.database_url, retries=1)
            self.record(conn)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        self.health.stopped()

    def cycle(self, conn: db.Connection, pool: ThreadPoolExecutor) -> bool:
        """Record what finished, then claim as many due deliveries as there are free senders."""
        # Batches, for fewer and fuller transactions: results once several are in or the first has waited
        # 20 ms; claims once several senders are free or none is busy.
        batch = min(8, max(1, self.settings.delivery_concurrency // 2))
        with self._done_lock:
            ready = len(self._done) >= min(batch, self.in_flight) or time.monotonic() - self._first_done > 0.02
        recorded = self.record(conn) if ready else 0
        if time.monotonic() - self._swept > 2.0:
            recorded += self.expire(conn)
        free = self.settings.delivery_concurrency - self.in_flight
        claimed = self.claim(conn, free) if free >= batch or (free > 0 and self.in_flight == 0) else []
        asking = []
        for c in claimed:
            self._sending.add(c.id)
            self.breakers.started(c.recipient)
            self.in_flight += 1
            if self.needs_contact(c):
                asking.append(c)
            else:
                pool.submit(self._send_and_report, c)
        if asking:  # one request to intake for the batch, not one per delivery
            pool.submit(self._ask_then_send, asking, pool)
        return bool(recorded or claimed)

    def claim(self, conn: db.Connection, limit: int) -> list[Claimed]:
        at = self.clock()
        now = at.timestamp()

        def pick(rows: list[tuple[int, str]]) -> list[int]:
            return retry.pick(rows, {p: self.breakers.room(p, now) for _, p in rows}, limit)
        with db.transaction(conn) as cur:
            return store.claim(cur, self.worker_id, self.breakers.blocked(now), self._sending, limit,
                               self.policy.lease_s, pick, at)

    def expire(self, conn: db.Connection) -> int:
        """Deliveries whose horizon passed while nothing could be tried (their partner's circuit open)."""
        self._swept = time.monotonic()
        now = self.clock()
        with db.transaction(conn) as cur:
            rows = store.expire(cur, now)
            messages = []
            for id, case_ref, recipient, attempts, urgency, redeliveries, last_error in rows:
                c = Claimed(id, case_ref, recipient, {}, attempts, 0, urgency, None, redeliveries)
                why = f"retry horizon passed (last error: {last_error or 'none'})"
                messages += self.failed_events(c, Outcome(None, why, 0), None, now, ("expired", str(redeliveries)))
            enqueue(cur, SOURCE, messages)
        if rows:
            self.on_commit()
        return len(rows)

    def needs_contact(self, c: Claimed) -> bool:
        """A full-disclosure send that may carry contact details (never an e-mail without TLS)."""
        return c.payload.get("disclosure") == "full" and (
            channel_for(self.directory().get(c.recipient)) == "webhook" or self.mailer.config.private)

    def _ask_then_send(self, claimed: list[Claimed], pool: ThreadPoolExecutor) -> None:
        answers = self.contacts([(c.case_ref, c.recipient) for c in claimed])
        for c in claimed:
            try:
                pool.submit(self._send_and_report, c, answers[c.case_ref, c.recipient])
            except RuntimeError:  # the pool is shutting down: send here, so the result is still recorded
                self._send_and_report(c, answers[c.case_ref, c.recipient])

    def _send_and_report(self, c: Claimed, released: Released | Deferred | None = None) -> None:
        outcome = self.attempt(c, released)
        with self._done_lock:
            if not self._done:
                self._first_done = time.monotonic()
            self._done.append((c, outcome))
        self.wake.set()

    def record(self, conn: db.Connection) -> int:
        """One transaction for every send finished since the last: attempts, states, events."""
        with self._done_lock:
            done = list(self._done)
        if not done:
            return 0
        now = self.clock()
        finished, ok, failed, deferred, messages = [], [], [], [], {}
        for c, o in done:
            if o.defer_s is not None:
                retry_at = now + timedelta(seconds=o.defer_s)
                if retry_at <= (c.give_up_at or retry_at):
                    deferred.append((c.id, c.attempt, retry_at, o.error))
                    continue
            finished.append((c.id, c.attempt, o.status_code, o.error, o.duration_ms))
            if o.ok:
                ok.append((c.id, now))
            else:
                b = self.policy.for_urgency(c.urgency)
                retry_at = None if o.defer_s is not None else retry.next_attempt(
                    c.drive_attempt, now, base_s=b.base_s, cap_s=b.cap_s, max_attempts=self.policy.max_attempts,
                    give_up_at=c.give_up_at or self.policy.give_up_at(c.urgency, now))
                failed.append((c.id, c.attempt, retry_at, o.error or "unknown", now))
                messages[c.id] = (c, o, retry_at)
        with db.transaction(conn) as cur:
            store.finish_attempts(cur, finished)
            store.set_channels(cur, [(c.id, o.channel) for c, o in done if o.channel])
            delivered = store.delivered(cur, ok) if ok else set()
            failures = store.failed(cur, self.worker_id, failed) if failed else set()
            if deferred:
                store.deferred(cur, self.worker_id, deferred)
            out = [self.delivered_event(c, o, now) for c, o in done if c.id in delivered]
            out += [m for id in failures for m in self.failed_events(*messages[id], now)]
            enqueue(cur, SOURCE, out)
        with self._done_lock:
            del self._done[:len(done)]
        mono = now.timestamp()  # the breaker's cool-downs run on the same clock as the retries
        for c, o in done:
            channel = o.channel or "webhook"
            outcome = ("deferred" if o.defer_s is not None and c.id not in failures else "delivered" if o.ok
                       else "dead_lettered" if c.id in failures and messages[c.id][2] is None else "failed")
            metrics.DELIVERIES.labels(channel, outcome).inc()
            if o.status_code is not None or o.error:
                metrics.DELIVERY_SECONDS.labels(channel).observe(o.duration_ms / 1000)
        for c, o in done:
            self.in_flight -= 1
            self._sending.discard(c.id)
            if o.defer_s is not None:
                self.breakers.released(c.recipient)
            elif (change := self.breakers.finished(c.recipient, o.ok, mono)) is not None:
                self.logger.warning("partner_circuit_" + change, recipient=c.recipient, error=o.error)
        for c, o in done:
            if o.defer_s is not None:
                self.logger.info("delivery_deferred", case_ref=c.case_ref, recipient=c.recipient, reason=o.error)
        self.sent += len(ok)
        self.on_commit()
        return len(done)

    def delivered_event(self, c: Claimed, o: Outcome, now: datetime) -> envelope.Message:
        self.logger.info("delivered", case_ref=c.case_ref, recipient=c.recipient, attempt=c.attempt)
        event = NotificationDelivered(case_ref=c.case_ref, recipient=c.recipient, channel=o.channel or self.channel(c),
                                      attempts=c.attempt, status_code=o.status_code, delivered_at=now)
        return envelope.encode(topics.DELIVERED, event, source=SOURCE,
                               id=envelope.event_id("delivered", c.case_ref, c.recipient))

    def failed_events(self, c: Claimed, o: Outcome, retry_at: datetime | None, now: datetime,
                      cause: tuple[str, ...] = ()) -> list:
        self.logger.warning("delivery_failed", case_ref=c.case_ref, recipient=c.recipient, attempt=c.attempt,
                            error=o.error, final=retry_at is None)
        event = NotificationFailed(case_ref=c.case_ref, recipient=c.recipient, channel=o.channel or self.channel(c),
                                   attempts=c.attempt,
                                   error=o.error or "unknown", final=retry_at is None, next_attempt_at=retry_at,
                                   failed_at=now)
        messages = [envelope.encode(topics.FAILED, event, source=SOURCE,
                                    id=envelope.event_id("failed", c.case_ref, c.recipient, str(c.attempt), *cause))]
        if retry_at is None:  # dead-lettered: a person must find another way, or redeliver once it is fixed
            alert = OperatorAlert(
                case_ref=c.case_ref, kind="delivery_failed", urgency=Urgency(c.urgency or "high"),
                message=f"delivery to {c.recipient} failed after {c.attempt} attempts: {o.error};"
                        f" `grievance redeliver {c.case_ref} --recipient {c.recipient}` once it can succeed",
                raised_at=now, service=SOURCE)
            again = (str(c.redeliveries),) if c.redeliveries else ()  # each drive that gives up alerts anew
            parts = ("delivery-failed-alert", c.case_ref, c.recipient, *again)
            messages.append(envelope.encode(topics.ALERTS, alert, source=SOURCE, id=envelope.event_id(*parts)))
        return messages

    def attempt(self, c: Claimed, released: Released | Deferred | None = None) -> Outcome:
        """An attempt that raised (bad directory data, a bug) is a failed attempt, retried like any other."""
        try:
            if isinstance(released, Deferred):
                raise released
            return self.send(c.recipient, c.payload, released)
        except Deferred as exc:
            return Outcome(None, str(exc), 0, defer_s=exc.after_s)
        except Exception as exc:
            return Outcome(None, f"{type(exc).__name__}: {safe_text(exc, 400)}", 0)

    def channel(self, c: Claimed) -> str:
        """For a result that names no channel (nothing was sent): the one the partner is reached by now."""
        return channel_for(self.directory().get(c.recipient)) or "webhook"

    def client(self) -> httpx.Client:
        """One keep-alive client per sending thread: a shared pool's lock costs more than it saves."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=self.settings.webhook_timeout_s)
        return client

    def contacts(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], Released | Deferred]:
        """Ask intake for workers' contact details, one request for a batch of (case, recipient); intake
        applies the shield and the consent held now, and audits each answer. A refusal sends without them;
        a routing intake has not seen yet, or intake unreachable, defers the send (nothing is sent)."""
        wait = min(self.policy.defer_max_s, 5.0)
        body = ContactsRequest(requests=[ContactRequest(case_ref=c, recipient=r) for c, r in pairs])
        try:
            response = self.client().post(f"{self.settings.intake_url}/v1/internal/contacts",
                                          content=body.model_dump_json(),
                                          headers={"Authorization": f"Bearer {self.settings.internal_token}",
                                                   "Content-Type": "application/json"})
            if response.status_code != 200:
                raise Deferred(f"contact details not given by intake: HTTP {response.status_code}",
                               retry.spread(wait))
            given = ContactsAnswer.model_validate_json(response.content).answers
        except (httpx.HTTPError, ValueError) as exc:  # unreachable, or an answer that is not one
            deferred = Deferred(f"contact details unavailable from intake: {type(exc).__name__}", retry.spread(wait))
            return dict.fromkeys(pairs, deferred)
        except Deferred as exc:
            return dict.fromkeys(pairs, exc)
        answers = {(a.case_ref, a.recipient): a for a in given}
        out: dict[tuple[str, str], Released | Deferred] = {}
        for pair in pairs:
            a = answers.get(pair)
            if a is None or a.status == "not_routed":
                out[pair] = Deferred("contact details not given by intake yet: routing not seen",
                                     min(self.policy.defer_max_s, max(0.2, retry.spread(1.0))))
            else:
                out[pair] = (a.contact.model_dump(exclude_none=True) if a.contact else None,
                             None if a.status == "released" else a.reason)
        return out

    def released(self, case_ref: str, recipient: str, released: Released | None) -> Released:
        """What intake answered for this send, asked now if it was not asked with its batch."""
        answer = released if released is not None else self.contacts([(case_ref, recipient)])[case_ref, recipient]
        if isinstance(answer, Deferred):
            raise answer
        return answer

    def send(self, recipient: str, payload: dict, released: Released | None = None) -> Outcome:
        partner = self.directory().get(recipient)
        channel = channel_for(partner)
        if partner is None or channel is None:
            return Outcome(None, f"partner {recipient} has no webhook or e-mail address configured", 0)
        if payload["disclosure"] == "full":
            # Contact details never travel in a mail the relay takes without TLS (email_message.NO_TLS).
            released = (self.released(payload["case_ref"], recipient, released)
                        if channel == "webhook" or self.mailer.config.private else (None, email_message.NO_TLS))
            payload = with_contact(payload, *released)
        started = time.perf_counter()
        if channel == "email":
            msg = email_message.build(payload, templates=self.templates, partner_name=partner.name,
                                      partner_languages=partner.languages, sender=self.mailer.config.sender,
                                      to=partner.email or "", now=datetime.now(UTC))
            code, error = self.mailer.send(msg, partner.email or "")
            return Outcome(code, error, int((time.perf_counter() - started) * 1000), channel="email")
        assert partner.webhook is not None  # noqa: S101 - channel_for chose the webhook
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        hdrs = signing.headers(partner.webhook.secrets, payload["delivery_id"], body)
        try:
            response = self.client().post(partner.webhook.url, content=body, headers=hdrs)
            code, error = response.status_code, None if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            code, error = None, f"{type(exc).__name__}: {exc}"[:500]
        return Outcome(code, error, int((time.perf_counter() - started) * 1000), channel="webhook")
