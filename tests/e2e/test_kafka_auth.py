"""Only a partner can submit as itself on Kafka: intake files a record only when the partner its key names
signed it (key, event id, timestamp, value) with its secret. Every forgery a client that reaches the broker
can make is answered on grievance.rejected, kept, and never filed; partners publishing with librdkafka
(confluent-kafka) and kafka-python are both heard."""

from __future__ import annotations

import contextlib
import json
import time
import uuid

import confluent_kafka
from kafka import KafkaConsumer, KafkaProducer

from schemas import topics
from services.common import db
from services.common.consumer import Incoming
from services.common.signing import submission_headers

from .conftest import complaint, wait_for
from .partner_kafka import secret, signed

NP, MY = "ngo-np", "ngo-my"


def send_with_kafka_python(stack, records: list[tuple[str, bytes, list]]) -> None:
    producer = KafkaProducer(bootstrap_servers=stack.kafka)
    for key, value, headers in records:
        producer.send(topics.SUBMISSIONS.name, key=key.encode(), value=value, headers=headers)
    producer.flush(10)
    producer.close()


def filed(conn, *external_ids: str) -> dict[str, str]:
    """external id → the partner its case is filed under."""
    with db.transaction(conn) as cur:
        cur.execute("SELECT external_id, partner_id FROM intake.cases WHERE external_id = ANY(%s)",
                    (list(external_ids),))
        return dict(cur.fetchall())


def rejections(stack, wanted: set[str], timeout: float = 30.0) -> dict[str, tuple[bytes | None, dict]]:
    """source_event_id → (key, event) of the grievance.rejected events answering those records."""
    consumer = KafkaConsumer(topics.REJECTED.name, bootstrap_servers=stack.kafka, group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    found: dict[str, tuple[bytes | None, dict]] = {}
    try:
        def all_found():
            for recs in consumer.poll(timeout_ms=300).values():
                for r in recs:
                    event = json.loads(r.value)
                    if event["source_event_id"] in wanted:
                        found[event["source_event_id"]] = (r.key, event)
            return wanted <= set(found)
        wait_for(all_found, timeout, interval=0, what=f"rejections of {sorted(wanted - set(found))}")
        return found
    finally:
        consumer.close()


def kept(conn, event_ids: set[str]) -> set[str]:
    """The event ids among these whose records intake kept as rejected submissions."""
    with db.transaction(conn) as cur:
        cur.execute("SELECT source_ref FROM intake.rejected_submissions WHERE source = 'kafka'")
        refs = [r[0] for r in cur.fetchall()]
    return {e for e in event_ids if any(e in ref.split(" ") for ref in refs)}


def kept_refs(conn, event_id: str) -> list[str]:
    with db.transaction(conn) as cur:
        cur.execute("SELECT source_ref FROM intake.rejected_submissions WHERE source_ref LIKE %s", (event_id + " %",))
        return [r[0] for r in cur.fetchall()]


def log_lines(stack, service: str) -> list[dict]:
    lines = []
    for raw in (stack.log_dir / f"{service}.log").read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            lines.append(json.loads(raw))
    return [line for line in lines if isinstance(line, dict)]


def test_partners_on_librdkafka_and_kafka_python_are_filed_as_themselves(stack, conn):
    by_librdkafka, by_kafka_python = complaint(partner_id=NP), complaint(partner_id=MY)
    value = json.dumps(by_librdkafka).encode()
    producer = confluent_kafka.Producer({"bootstrap.servers": stack.kafka})
    producer.produce(topics.SUBMISSIONS.name, key=NP.encode(), value=value, headers=signed(value, NP))
    assert producer.flush(10) == 0
    value = json.dumps(by_kafka_python).encode()
    send_with_kafka_python(stack, [(MY, value, signed(value, MY, ce=False))])  # plain record, no CloudEvents

    assert wait_for(lambda: len(f := filed(conn, by_librdkafka["external_id"], by_kafka_python["external_id"])) == 2
                    and f, 30, what="both submissions filed") == {by_librdkafka["external_id"]: NP,
                                                                  by_kafka_python["external_id"]: MY}


def test_forged_submissions_are_rejected_to_the_partner_kept_and_never_filed(stack, conn):
    now = int(time.time())
    cases = {  # case → (record key, secret it is signed with or None, timestamp)
        "unsigned": (NP, None, now),
        "wrong secret": (NP, "a-secret-nobody-was-given", now),
        "another partner's secret": (NP, secret(MY), now),
        "claims another partner in the body": (NP, secret(NP), now),
        "stale": (NP, secret(NP), now - 600),
        "from the future": (NP, secret(NP), now + 600),
        "np submitting as my": (MY, secret(NP), now),
    }
    bodies = {case: complaint(partner_id=key) for case, (key, _, _) in cases.items()}
    bodies["claims another partner in the body"]["partner_id"] = MY
    ids = {case: f"forged-{uuid.uuid4().hex[:10]}" for case in cases}
    records = []
    for case, (key, with_secret, ts) in cases.items():
        value = json.dumps(bodies[case]).encode()
        auth = [] if with_secret is None else submission_headers(with_secret, key, ids[case], value, ts)
        records.append((key, value, [*auth, ("ce_id", ids[case].encode()), ("ce_source", b"/partner/e2e")]))
    send_with_kafka_python(stack, records)

    answered = rejections(stack, set(ids.values()))
    assert {case: {e["loc"] for e in answered[ids[case]][1]["errors"]} for case in cases} == {
        "unsigned": {"event_id", "timestamp", "signature"}, "wrong secret": {"signature"},
        "another partner's secret": {"signature"}, "claims another partner in the body": {"partner_id"},
        "stale": {"timestamp"}, "from the future": {"timestamp"}, "np submitting as my": {"signature"}}
    # Each answer goes to the partner whose name was used: it learns of the attempt on its own stream.
    assert {case: answered[ids[case]][0] for case in cases} == {case: k.encode() for case, (k, _, _) in cases.items()}
    assert kept(conn, set(ids.values())) == set(ids.values())
    assert filed(conn, *(body["external_id"] for body in bodies.values())) == {}


def test_a_signed_record_replayed_with_another_body_is_rejected_an_identical_replay_is_a_no_op(stack, conn):
    original, changed = complaint(partner_id=NP), complaint(partner_id=NP)
    value = json.dumps(original).encode()
    headers = signed(value, NP, ce=False)  # a plain record: it is deduplicated by its bytes
    send_with_kafka_python(stack, [(NP, value, headers)])
    wait_for(lambda: filed(conn, original["external_id"]), 30, what="the original filed")

    tampered = json.dumps(changed).encode()
    send_with_kafka_python(stack, [(NP, tampered, headers), (NP, value, headers)])  # within the window
    tampered_id = Incoming(topics.SUBMISSIONS.name, 0, 0, NP.encode(), tampered, headers).event_id
    original_id = Incoming(topics.SUBMISSIONS.name, 0, 0, NP.encode(), value, headers).event_id
    (_, event), = rejections(stack, {tampered_id}).values()
    assert [e["loc"] for e in event["errors"]] == ["signature"]
    assert kept(conn, {tampered_id}) == {tampered_id}

    # The identical replay is dropped as a repeat before anything else: no second case, nothing to answer.
    wait_for(lambda: any(line.get("event") == "duplicate_dropped" and line.get("event_id") == original_id
                         for line in log_lines(stack, "intake")), 30, what="the identical replay dropped")
    with db.transaction(conn) as cur:
        cur.execute("SELECT count(*) FROM intake.cases WHERE partner_id = %s AND external_id = ANY(%s)",
                    (NP, [original["external_id"], changed["external_id"]]))
        assert cur.fetchone()[0] == 1
    assert kept(conn, {original_id}) == set()


def test_a_forgery_cannot_take_a_partners_event_id_nor_block_its_fresh_resend(stack, conn):
    """A forged record naming a partner's next event id leaves that id free; the partner's own record
    refused as stale and sent again, signed afresh under the same id, is filed."""
    body = complaint(partner_id=NP)
    value, event_id = json.dumps(body).encode(), f"next-{uuid.uuid4().hex[:10]}"
    ce = [("ce_id", event_id.encode()), ("ce_source", b"/partner/e2e")]
    forged = [("webhook-id", event_id.encode()), ("webhook-timestamp", str(int(time.time())).encode()),
              ("webhook-signature", b"v1,Zm9yZ2Vk")]
    stale = signed(value, NP, event_id, ce=False, timestamp=int(time.time()) - 3600)
    send_with_kafka_python(stack, [(NP, value, forged + ce)])
    wait_for(lambda: len(kept_refs(conn, event_id)) == 1, 30, what="the forgery kept")
    send_with_kafka_python(stack, [(NP, value, stale + ce)])
    wait_for(lambda: len(kept_refs(conn, event_id)) == 2, 30, what="the stale record kept, apart from the forgery")
    assert filed(conn, body["external_id"]) == {}

    send_with_kafka_python(stack, [(NP, value, [*signed(value, NP, event_id, ce=False), *ce])])
    assert wait_for(lambda: filed(conn, body["external_id"]), 30, what="the fresh resend filed") == {
        body["external_id"]: NP}
