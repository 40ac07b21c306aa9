"""Demo data for the operators' dashboard: a realistic past week of cases (`grievance dev --demo-data`, the
dashboard benchmark, the README's screenshot).

The live pipeline stamps each event with the moment it runs, so it cannot make a week of history. This
module writes what the pipeline would have published over that week instead: complaint texts assembled
from fictional fragments are classified, routed and given SLA deadlines by the real triage code
(services/triage/service.py `triage`), and their deliveries (a few retried, a few given up), partners'
steps, SLA breaches, operator alerts and dead letters follow with a seeded random generator. The contract
events (schemas/models.py) are projected by the dashboard's own projection code into its read model; no
topic and no other service's schema is touched. Everything is fictional: organisations come from the demo
directory (config/partners.yaml), employers and recruiters are invented, texts name no person.

Demo rows are marked: case references start `GRV-DEMO`, event ids `demo-`, so `clear` removes them (a
load clears first). The same seed, size and `now` give the same rows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from schemas import envelope, topics
from schemas.models import (
    CaseSlaBreached,
    CaseUpdated,
    GrievanceReceived,
    NotificationDelivered,
    NotificationFailed,
    OperatorAlert,
    Urgency,
    WorkerMessage,
)
from services.common import db
from services.common.consumer import Incoming, dead_letter, dead_letter_alert
from services.common.directory import Directory, Partner, load_yaml
from services.common.event_auth import UnsignedEvent
from services.dashboard import dlq_reader, read_store
from services.dashboard.projection import project
from services.triage.classify import Classifier, Ruleset
from services.triage.routing import RoutingPolicy
from services.triage.service import TriageConfig, triage
from services.triage.sla import SlaPolicy

CASE_PREFIX = "GRV-DEMO"
EVENT_PREFIX = "demo-"
OPERATOR = "demo-operator"
_REF_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# What workers write, as fragments a text is assembled from (weight, fragment). Invented; no names.
FRAGMENTS: list[tuple[int, str]] = [
    (11, "I have not been paid for three months."),
    (11, "The employer deducts money for food and housing from my salary."),
    (12, "We work 16 hours a day with no rest day."),
    (7, "The agent took my passport and keeps it."),
    (7, "The recruiter charged me a fee of 3000 dollars and I am still paying the debt."),
    (9, "My contract is different from the one I signed at home."),
    (5, "They threatened to report me to the police if I leave."),
    (5, "I was injured at the machine and the company refuses to pay the hospital."),
    (4, "I am sick and they do not let me see a doctor."),
    (4, "I want to go home but they will not give me a ticket."),
    (1, "Twelve people share one room and there is no water in the dormitory."),
    (1, "They locked us inside the dormitory at night."),
    (1, "My supervisor hit me."),
    (12, "How can I change employer?"),
    (4, "Thank you for helping me last month."),
]
OPENINGS = ["", "Please help. ", "Hello, ", "I work here for two years. ", "Sorry to write again. "]
# Countries of origin → countries of work, with how often each corridor writes.
CORRIDORS: list[tuple[int, str, str]] = [
    (14, "NP", "MY"), (7, "NP", "QA"), (6, "NP", "AE"), (10, "BD", "MY"), (6, "BD", "SA"), (3, "BD", "QA"),
    (6, "VN", "TW"), (6, "ID", "MY"), (6, "ID", "HK"), (4, "ID", "TW"), (5, "PH", "AE"), (4, "PH", "SA"),
    (4, "PH", "HK"), (8, "MM", "TH"), (5, "KH", "TH"), (3, "IN", "AE"), (2, "LK", "KW"), (2, "LK", "LB"),
    (2, "BD", "JO"), (2, "IN", "SG"),
]
SECTORS = {"MY": ["manufacturing", "construction", "agriculture"], "TH": ["fishing", "seafood processing",
           "construction"], "TW": ["manufacturing", "fishing", "domestic work"], "HK": ["domestic work"],
           "SG": ["construction", "shipbuilding"], "JO": ["garment"], "LB": ["domestic work"],
           "KW": ["domestic work", "construction"]}
GULF_SECTORS = ["construction", "domestic work", "hospitality"]
# Invented employers per country of work; a few are the demo directory's (for exclusions and supply chains).
EMPLOYERS = {
    "MY": ["Global Gloves Sdn Bhd", "Sunrise Latex Sdn Bhd", "Harbour Steel Works", "Palm Ridge Estates",
           "Kinta Electronics", "Cahaya Furniture"],
    "TH": ["Andaman Seafood Co", "Gulf Star Fishing", "Chao Phraya Builders", "Lotus Canning"],
    "TW": ["Formosa Precision Parts", "Keelung Fishing Cooperative", "Jade River Textiles"],
    "HK": ["Victoria Household Services"], "SG": ["Marina Shipyard Pte", "Lion City Construction"],
    "JO": ["Jordan Garment Works", "Classic Fashion Apparel"], "LB": ["Cedar Home Help"],
    "AE": ["Desert Rose Contracting", "Pearl Tower Hotels", "Falcon Facilities"],
    "SA": ["Red Sea Construction", "Najd Cleaning Services"], "QA": ["Doha Stadium Works", "Corniche Catering"],
    "KW": ["Kuwait Bay Maintenance"],
}
RECRUITERS = {
    "NP": ["Himalaya Overseas Manpower", "Golden Bridge Overseas", "Everest Job Link"],
    "BD": ["Sunrise Manpower", "Delta Overseas Recruiting", "Bengal Careers Abroad"],
    "VN": ["Mekong Labour Export JSC"], "ID": ["Nusantara Placement Agency", "Java Maids Service"],
    "PH": ["Pacific Horizon Manpower", "Manila Skilled Workers Inc"], "MM": ["Golden Land Recruitment"],
    "KH": ["Angkor Workforce"], "IN": ["Kerala Gulf Placements"], "LK": ["Lanka Overseas Jobs"],
}
CHANNELS = [(5, "app"), (4, "hotline"), (3, "messaging"), (2, "web"), (2, "sms"), (1, "in_person")]
SUBMITTING_KINDS = ("ngo", "hotline", "trade_union", "iom_mission", "labour_inspectorate", "embassy")
# Partners whose endpoint fails more often than the rest (so the Flow page has something to show).
FLAKY = {"ngo-gulf": 0.18, "embassy-id-hk-tw": 0.12}
BASE_FAILURE = 0.03
MAX_ATTEMPTS = 5
# Median minutes until the primary recipient acknowledges; some never do within the week.
ACK_MEDIAN_MIN = {Urgency.critical: 15, Urgency.high: 240, Urgency.medium: 900, Urgency.low: 1800}
NEVER_ACK = 0.04
# Cases per hour of the day (UTC), relative: most workers in Asia and the Gulf write in their evening.
HOURLY = [3, 2, 2, 3, 5, 7, 9, 10, 11, 12, 13, 14, 15, 14, 13, 11, 9, 8, 6, 5, 4, 4, 3, 3]


@dataclass
class Week:
    """What a generated week holds besides the events: dead letters, alert acknowledgements, counts."""

    dead_letters: list[dict[str, Any]] = field(default_factory=list)  # dashboard.dlq_records rows
    acks: list[tuple[str, str, datetime]] = field(default_factory=list)  # alert event id, by, at
    cases: int = 0
    events: int = 0


def _pick(rng: random.Random, weighted: list[tuple[int, Any]]) -> Any:
    return rng.choices([v for _, v in weighted], [w for w, _ in weighted])[0]


def _zipf(rng: random.Random, names: list[str]) -> str:
    """A few names get most of the cases: the repeat employers and recruiters the Patterns page is for."""
    return rng.choices(names, [1 / (i + 1) ** 1.2 for i in range(len(names))])[0]


def _minutes(rng: random.Random, median: float, spread: float = 1.0) -> timedelta:
    return timedelta(minutes=median * math.exp(rng.gauss(0, spread)))


def received_times(rng: random.Random, n: int, now: datetime, days: int) -> list[datetime]:
    """n moments over the last `days` days with the daily rhythm (fewer at weekends), oldest first."""
    start = now - timedelta(days=days)
    hours = days * 24
    slots = [start + timedelta(hours=h) for h in range(hours)]
    weights = [HOURLY[s.hour] * (0.6 if s.weekday() >= 5 else 1.0) for s in slots]
    out = []
    for slot in rng.choices(slots, weights, k=n):
        at = slot + timedelta(seconds=rng.uniform(0, 3600))
        out.append(min(at, now))
    return sorted(out)


class Generator:
    """The week's events, case by case (pure but for reading the given configuration)."""

    def __init__(self, config: TriageConfig, directory: Directory, *, seed: int, now: datetime):
        self.config, self.directory, self.now = config, directory, now
        self.rng = random.Random(seed)  # noqa: S311 - a reproducible week, not a secret
        self.seed = seed
        self.week = Week()
        self._refs: set[str] = set()
        self._decisions: dict[tuple, Any] = {}
        self.submitters = [p for p in directory.partners if p.kind in SUBMITTING_KINDS]

    def _id(self, *parts: object) -> str:
        return EVENT_PREFIX + "-".join(str(p) for p in (self.seed, *parts))

    def _ref(self) -> str:
        while True:
            ref = CASE_PREFIX + "".join(self.rng.choice(_REF_CHARS) for _ in range(8))
            if ref not in self._refs:
                self._refs.add(ref)
                return ref

    def _submitter(self, origin: str, work: str) -> Partner:
        fits = [p for p in self.submitters if origin in p.countries_of_origin or work in p.countries_of_work]
        everywhere = [p for p in self.submitters if not p.countries_of_origin and not p.countries_of_work]
        return self.rng.choice(fits if fits and self.rng.random() < 0.8 else everywhere or self.submitters)

    def _text(self) -> str:
        count = self.rng.choices([1, 2, 3], [5, 4, 1])[0]
        parts = list(dict.fromkeys(_pick(self.rng, FRAGMENTS) for _ in range(count)))
        return self.rng.choice(OPENINGS) + " ".join(parts)

    def received(self, number: int, at: datetime) -> GrievanceReceived:
        rng = self.rng
        origin, work = _pick(rng, [(w, (o, c)) for w, o, c in CORRIDORS])
        partner = self._submitter(origin, work)
        return GrievanceReceived(
            case_ref=self._ref(), partner_id=partner.id, external_id=f"demo-{number}",
            subject_ref=f"demo-subject-{rng.randrange(10**9):09d}", text=self._text(), language="en",
            country_of_work=work, country_of_origin=origin, sector=rng.choice(SECTORS.get(work, GULF_SECTORS)),
            employer=_zipf(rng, EMPLOYERS[work]) if rng.random() < 0.6 else None,
            recruiter=_zipf(rng, RECRUITERS[origin]) if rng.random() < 0.5 else None,
            channel=_pick(rng, CHANNELS), urgency_hint=Urgency.high if rng.random() < 0.02 else None,
            minor_involved=rng.random() < 0.01, consent_share_contact=rng.random() < 0.7,
            has_contact=rng.random() < 0.85, received_at=at)

    def case(self, number: int, at: datetime) -> list[tuple[str, str, BaseModel]]:
        """Every event of one case up to `now`, as (topic, event id, event)."""
        rng = self.rng
        received = self.received(number, at)
        triaged_at = at + timedelta(seconds=rng.uniform(0.2, 2.5))
        outcome = triage(received, self.config, triaged_at)
        ref, urgency = received.case_ref, outcome.triaged.urgency
        events: list[tuple[str, str, BaseModel]] = [
            (topics.RECEIVED.name, self._id(number, "received"), received),
            (topics.TRIAGED.name, self._id(number, "triaged"), outcome.triaged),
            (topics.ROUTED.name, self._id(number, "routed"), outcome.routed)]
        for i, alert in enumerate(outcome.alerts):
            events.append((topics.ALERTS.name, self._id(number, "alert", i), alert))
            self._maybe_ack(events[-1][1], alert.raised_at)
        routed_at = outcome.routed.routed_at
        for r in outcome.routed.recipients:
            events += self._deliveries(number, ref, r.partner_id, urgency, routed_at)
        events += self._lifecycle(number, outcome, routed_at)
        return [e for e in events if _at(e[2]) <= self.now]

    def _maybe_ack(self, event_id: str, raised_at: datetime) -> None:
        """Operators acknowledge most alerts within the hour; the recent ones are still open."""
        acked = raised_at + _minutes(self.rng, 12)
        if acked <= self.now and self.rng.random() < 0.99:
            self.week.acks.append((event_id, OPERATOR, acked))

    def _deliveries(self, number: int, ref: str, recipient: str, urgency: Urgency,
                    start: datetime) -> list[tuple[str, str, BaseModel]]:
        rng = self.rng
        partner = self.directory.get(recipient)
        channel = "email" if partner is not None and partner.webhook is None else "webhook"
        failure = FLAKY.get(recipient, BASE_FAILURE)
        gives_up = rng.random() < failure / 8
        at = start + timedelta(seconds=rng.lognormvariate(math.log(1.5 if channel == "webhook" else 4), 0.6))
        out: list[tuple[str, str, BaseModel]] = []
        for attempt in range(1, MAX_ATTEMPTS + 1):
            fails = gives_up or rng.random() < failure
            if not fails:
                out.append((topics.DELIVERED.name, self._id(number, "delivered", recipient), NotificationDelivered(
                    case_ref=ref, recipient=recipient, channel=channel, attempts=attempt,
                    status_code=200 if channel == "webhook" else None, delivered_at=at)))
                return out
            final = attempt == MAX_ATTEMPTS
            wait = timedelta(seconds=5 * 4 ** attempt)
            error = rng.choice(["HTTP 503 from the partner's endpoint", "connect timeout after 10 s",
                                "HTTP 502 from the partner's endpoint"] if channel == "webhook"
                               else ["SMTP 451 temporary failure", "SMTP connection refused"])
            out.append((topics.FAILED.name, self._id(number, "failed", recipient, attempt), NotificationFailed(
                case_ref=ref, recipient=recipient, channel=channel, attempts=attempt, error=error, final=final,
                next_attempt_at=None if final else at + wait, failed_at=at)))
            if final:
                alert = OperatorAlert(case_ref=ref, kind="delivery_failed", urgency=urgency, service="notifier",
                                      message=f"delivery to {recipient} gave up after {attempt} attempts: {error}",
                                      raised_at=at + timedelta(seconds=1))
                out.append((topics.ALERTS.name, self._id(number, "alert-delivery", recipient), alert))
                self._maybe_ack(out[-1][1], alert.raised_at)
                return out
            at += wait
        return out

    def _lifecycle(self, number: int, outcome, start: datetime) -> list[tuple[str, str, BaseModel]]:
        """The primary recipient's steps; a missed acknowledgement deadline breaches and escalates."""
        rng = self.rng
        routed, urgency = outcome.routed, outcome.triaged.urgency
        primary = routed.recipients[0].partner_id
        deadline = outcome.triaged.sla.acknowledge_by
        out: list[tuple[str, str, BaseModel]] = []
        ack = None if rng.random() < NEVER_ACK else start + _minutes(rng, ACK_MEDIAN_MIN[urgency])
        if ack is None or ack > deadline:
            breached_at = deadline + timedelta(seconds=rng.uniform(5, 60))
            onward = routed.escalation[0].partner_id if routed.escalation else None
            out.append((topics.SLA_BREACHED.name, self._id(number, "breach"), CaseSlaBreached(
                case_ref=routed.case_ref, recipient=primary, clock="acknowledgement", deadline=deadline,
                breached_at=breached_at, escalated_to=onward, urgency=urgency)))
            if onward is None:
                alert = OperatorAlert(case_ref=routed.case_ref, kind="sla_breached", urgency=urgency,
                                      service="notifier", raised_at=breached_at,
                                      message=f"{primary} did not acknowledge by {deadline:%Y-%m-%d %H:%M} UTC and"
                                              " no partner is left to escalate the case to")
                out.append((topics.ALERTS.name, self._id(number, "alert-breach"), alert))
                self._maybe_ack(out[-1][1], breached_at)
            else:
                out += self._deliveries(number, routed.case_ref, onward, urgency, breached_at)
        if ack is None:
            return out
        steps = [("acknowledged", ack)]
        if rng.random() < 0.06:
            steps.append(("referred_back", ack + _minutes(rng, 300)))
        elif rng.random() < 0.85:
            accepted = ack + _minutes(rng, 240)
            steps.append(("accepted", accepted))
            if rng.random() < 0.6:
                steps.append(("investigating", accepted + _minutes(rng, 600)))
                if rng.random() < 0.35:
                    steps.append(("closed", steps[-1][1] + _minutes(rng, 1500)))
        state = "routed"
        for seq, (step, at) in enumerate(steps, 1):
            out.append((topics.CASE_UPDATED.name, self._id(number, "step", seq), CaseUpdated(
                case_ref=routed.case_ref, partner_id=primary, step=step, previous_state=state, state=step,
                case_state=step, sequence=seq, at=at, recorded_at=at + timedelta(seconds=1),
                reason="outside our mandate in this country" if step == "referred_back" else None,
                outcome=rng.choice(["remedied", "not_substantiated", "unresolved"]) if step == "closed" else None,
                worker_message=WorkerMessage(language="en", text=f"Your case is now {step.replace('_', ' ')}."))))
            state = step
        return out

    def dead_letters(self, sample: list[list[tuple[str, str, BaseModel]]]) -> list[tuple[str, str, BaseModel]]:
        """Records the pipeline set aside (built by the consumers' own code) and their alerts, newest first."""
        out: list[tuple[str, str, BaseModel]] = []
        for i, events in enumerate(sample):
            received = events[0][2]
            routed = next(e for t, _, e in events if t == topics.ROUTED.name)
            at = _at(received) + timedelta(seconds=3)
            exc: Exception
            if i % 3 == 0:  # a key rotation not finished: the received event's signature is not trusted yet
                topic, group, event = topics.RECEIVED, "triage", received
                exc = UnsignedEvent("signed by key id demo-k2, which GRIEVANCE_EVENT_KEYS does not hold")
            elif i % 3 == 1:
                topic, group, event = topics.ROUTED, "notifier", routed
                exc = LookupError("the partner directory has no delivery route for the primary recipient")
            else:  # a step from a partner system that sent an outdated shape
                topic, group, event = topics.CASE_UPDATED, "dashboard", None
                try:
                    CaseUpdated.model_validate({"case_ref": received.case_ref, "step": "acknowledged"})
                except ValidationError as err:
                    exc = err
            if event is None:
                value = b'{"case_ref": "%s", "step": "acknowledged"}' % received.case_ref.encode()
                key, headers = received.case_ref.encode(), [("ce_id", self._id("dlq", i).encode())]
            else:
                msg = envelope.encode(topic, event, id=self._id("dlq", i), source=group, time=at)
                key, value, headers = msg.key, msg.value, msg.headers
            record = Incoming(topic.name, i % 3, 1000 + i, key, value, headers)
            dlq = dead_letter(group, record, exc)
            self.week.dead_letters.append(dlq_reader.row(dlq.topic, 0, i, int(at.timestamp() * 1000), dlq.key,
                                                         dlq.value, dlq.headers))
            alert = envelope.decode(topics.ALERTS, dead_letter_alert(group, group, record, exc).value)
            alert = alert.model_copy(update={"raised_at": at})
            out.append((topics.ALERTS.name, self._id("dlq-alert", i), alert))
            if i >= 3:  # the newest three stay open on the Now page
                self._maybe_ack(out[-1][1], at)
        return out


def triage_config(config_dir: Path) -> tuple[TriageConfig, Directory]:
    """The triage service's configuration over the directory file (the dev stack loads the same one)."""
    directory = Directory.model_validate(load_yaml(config_dir / "partners.yaml"))
    config = TriageConfig(Classifier(Ruleset.load(config_dir / "triage")), SlaPolicy.load(config_dir / "sla.yaml"),
                          RoutingPolicy.load(config_dir / "routing.yaml"), lambda: directory)
    return config, directory


def _at(event: BaseModel) -> datetime:
    for name in ("received_at", "triaged_at", "routed_at", "delivered_at", "failed_at", "at", "breached_at",
                 "raised_at"):
        if (value := getattr(event, name, None)) is not None:
            return value
    raise TypeError(f"no time in {type(event).__name__}")


def week_of_events(config: TriageConfig, directory: Directory, *, cases: int, now: datetime, seed: int = 7,
                   days: int = 7, week: Week | None = None) -> Iterator[tuple[str, str, BaseModel]]:
    """The events of `cases` cases over the last `days` days, oldest case first; fills `week` with the dead
    letters and acknowledgements to store alongside."""
    gen = Generator(config, directory, seed=seed, now=now)
    if week is not None:
        gen.week = week
    times = received_times(gen.rng, cases, now, days)
    sample_every = max(cases // max(4, min(60, cases // 300)), 1)
    sample: list[list[tuple[str, str, BaseModel]]] = []
    for number, at in enumerate(times):
        events = gen.case(number, at)
        if number % sample_every == sample_every // 2 and any(t == topics.ROUTED.name for t, _, _ in events):
            sample.append(events)
        gen.week.cases += 1
        gen.week.events += len(events)
        yield from events
    yield from (e for e in gen.dead_letters(sample[::-1]) if _at(e[2]) <= now)


class _Batched:
    """A cursor that keeps the statements read_store writes and sends them many at a time: one round trip
    per batch instead of per row (a 100,000-case load otherwise waits on the network most of the time)."""

    def __init__(self, cur: db.Cursor, size: int = 2000):
        self.cur, self.size, self.parts = cur, size, []

    def execute(self, sql: str, params: Any = None) -> None:
        self.parts.append(self.cur.mogrify(sql, params))
        if len(self.parts) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            self.cur.execute(b";\n".join(self.parts))
            self.parts = []


def clear(cur: db.Cursor) -> None:
    """Removes every demo row (cases, their timeline and rows, demo dead letters and what was done to them)."""
    like = EVENT_PREFIX + "%"
    cur.execute("DELETE FROM dashboard.alert_acks WHERE event_id LIKE %s", (like,))
    cur.execute("DELETE FROM dashboard.requeues WHERE dlq_record IN"
                " (SELECT id FROM dashboard.dlq_records WHERE event_id LIKE %s)", (like,))
    for table in ("timeline", "deliveries", "alerts", "breaches", "dlq_records"):
        cur.execute(f"DELETE FROM dashboard.{table} WHERE event_id LIKE %s", (like,))  # noqa: S608 - fixed names
    cur.execute("DELETE FROM dashboard.cases WHERE case_ref LIKE %s", (CASE_PREFIX + "%",))


def load(cur: db.Cursor, config: TriageConfig, directory: Directory, *, cases: int, now: datetime, seed: int = 7,
         days: int = 7) -> Week:
    """Replaces the demo rows of the read model with a fresh week (in the caller's transaction)."""
    clear(cur)
    week = Week()
    batch = _Batched(cur)
    for topic, event_id, event in week_of_events(config, directory, cases=cases, now=now, seed=seed, days=days,
                                                 week=week):
        read_store.apply(batch, event_id, project(topic, event))  # type: ignore[arg-type]
    batch.flush()
    dlq_reader.store(cur, week.dead_letters)
    for event_id, by, at in week.acks:
        batch.execute("INSERT INTO dashboard.alert_acks (event_id, acknowledged_by, acknowledged_at)"
                      " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", (event_id, by, at))
    batch.flush()
    return week


def fill(database_url: str, config_dir: Path, *, cases: int, now: datetime | None = None, seed: int = 7,
         days: int = 7) -> Week:
    """A fresh demo week in the database's read model, in one transaction."""
    config, directory = triage_config(config_dir)
    conn = db.connect(database_url)
    try:
        with db.transaction(conn) as cur:
            return load(cur, config, directory, cases=cases, now=now or datetime.now(UTC), seed=seed, days=days)
    finally:
        conn.close()
