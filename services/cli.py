"""The `grievance` command."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import socket
import struct
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from services.common import logging as log
from services.common.settings import REPO_ROOT, Settings
from services.devtools import state

BUILDERS = {
    "intake": "services.intake.service",
    "triage": "services.triage.service",
    "notifier": "services.notifier.service",
    "dashboard": "services.dashboard.service",
}


Command = Callable[[argparse.Namespace], int]
ENV_VARS = {"database": "DATABASE_URL", "kafka": "KAFKA_BOOTSTRAP_SERVERS"}
PROBE_TIMEOUT_S = 2  # libpq's smallest connect_timeout


class Unreachable(Exception):
    """A dependency that does not answer; its message is the one line the user sees."""


def needs(*deps: str, creates_database: bool = False) -> Callable[[Command], Command]:
    """For a command that talks to PostgreSQL ("database") or the broker ("kafka").

    What the environment does not name comes from the `grievance dev` running in the default work
    directory, if one is. Each dependency must answer within a couple of seconds before the command runs,
    and one that does not (or goes away meanwhile) ends the command with one line on stderr and exit
    status 1, rather than a traceback after the clients' own retries (17-30 s).
    """
    def decorate(func: Command) -> Command:
        @functools.wraps(func)
        def run(args: argparse.Namespace) -> int:
            try:
                use_dev_stack(deps)
                check(deps, creates_database=creates_database)
                with _lost_is_unreachable(deps):
                    return func(args)
            except Unreachable as exc:
                print(f"grievance: {exc}", file=sys.stderr)
                return 1
        return run
    return decorate


def use_dev_stack(deps: tuple[str, ...]) -> None:
    """Fills what the environment leaves unset from the dev stack's state file, and says so on stderr.
    The values go into this process's environment, so the command and whatever it starts use them."""
    unset = [ENV_VARS[d] for d in deps if not os.environ.get(ENV_VARS[d])]
    workdir = state.default_workdir()
    dev = state.running(workdir) if unset else None
    if dev is None:
        return
    found = {"DATABASE_URL": dev.database_url, "KAFKA_BOOTSTRAP_SERVERS": dev.kafka}
    if "database" in deps and "inbox" in dev.ports and not os.environ.get("DEMO_INBOX_URL"):  # directory URLs
        unset.append("DEMO_INBOX_URL")
        found["DEMO_INBOX_URL"] = f"http://127.0.0.1:{dev.ports['inbox']}"
    for var in unset:
        os.environ[var] = found[var]
    used = ", ".join(f"{var}={_redact(found[var])}" for var in unset)
    print(f"grievance: using the dev stack in {workdir} (pid {dev.owner.pid}): {used}", file=sys.stderr)


def check(deps: tuple[str, ...], *, creates_database: bool = False) -> None:
    settings = Settings.from_env()
    if "database" in deps:
        probe_database(settings.database_url, creates_database)
    if "kafka" in deps:
        probe_kafka(settings.kafka_bootstrap_servers)


def probe_database(url: str, creates_database: bool = False) -> None:
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=PROBE_TIMEOUT_S).close()
    except psycopg2.OperationalError as exc:
        reason = _pg_reason(exc)
        if "does not exist" not in reason:
            raise Unreachable(_cannot_reach("PostgreSQL", url, reason, "DATABASE_URL")) from None
        if not creates_database:
            raise Unreachable(f"PostgreSQL at {_redact(url)}: {reason} — create it with `grievance migrate`") from None


def probe_kafka(servers: str) -> None:
    reason = "no bootstrap server given"
    for server in filter(None, (s.strip() for s in servers.split(","))):
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S) as sock:
                if _speaks_kafka(sock):
                    return
                reason = "something listens there, but it is not a Kafka broker"
        except socket.gaierror:
            reason = f"unknown host {host}"
        except TimeoutError:
            reason = f"no answer within {PROBE_TIMEOUT_S} s"
        except (OSError, ValueError) as exc:
            reason = _lower_first(getattr(exc, "strerror", None) or str(exc))
    raise Unreachable(_cannot_reach("the Kafka broker", servers, reason, "KAFKA_BOOTSTRAP_SERVERS"))


def _speaks_kafka(sock: socket.socket) -> bool:
    """Whether the peer answers an ApiVersions v0 request (what every Kafka client sends first): a port
    that accepts connections is not yet a broker, and the clients would wait 30 s to find out."""
    client_id = b"grievance-cli"
    request = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id  # api key, version, correlation id
    sock.sendall(struct.pack(">i", len(request)) + request)
    answer = b""
    while len(answer) < 8:
        chunk = sock.recv(8 - len(answer))
        if not chunk:
            return False
        answer += chunk
    return struct.unpack(">ii", answer)[1] == 7


@contextlib.contextmanager
def _lost_is_unreachable(deps: tuple[str, ...]) -> Iterator[None]:
    """A dependency lost after the probe: the same one line instead of a traceback."""
    import psycopg2
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    try:
        yield
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        if "database" not in deps:
            raise
        url = Settings.from_env().database_url
        raise Unreachable(_cannot_reach("PostgreSQL", url, _pg_reason(exc), "DATABASE_URL")) from None
    except (KafkaConnectionError, KafkaTimeoutError) as exc:
        if "kafka" not in deps:
            raise
        servers, reason = Settings.from_env().kafka_bootstrap_servers, _lower_first(str(exc) or type(exc).__name__)
        raise Unreachable(_cannot_reach("the Kafka broker", servers, reason, "KAFKA_BOOTSTRAP_SERVERS")) from None


def _cannot_reach(what: str, where: str, reason: str, var: str) -> str:
    return f"cannot reach {what} at {_redact(where)}: {reason} — start the stack with `bin/dev`, or set {var}"


def _pg_reason(exc: Exception) -> str:
    """libpq's first line, without its 'connection to server at … failed:' preamble."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    line = line.split(" failed: ", 1)[-1].removeprefix("FATAL:").strip()
    return _lower_first(line)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if not parts.password:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def cmd_serve(args: argparse.Namespace) -> int:
    import importlib

    settings = Settings.from_env()
    log.configure(args.service, settings.log_level)
    importlib.import_module(BUILDERS[args.service]).build(settings).run()
    return 0


def cmd_inbox(args: argparse.Namespace) -> int:
    import uvicorn

    from services.common import directory
    from services.devtools.inbox import Inbox

    settings = Settings.from_env()
    log.configure("inbox", settings.log_level)
    inbox = Inbox(directory.load(settings.config_dir))
    smtp_port = int(os.environ.get("DEMO_SMTP_PORT") or 0)  # the dev stack's mail server for e-mail partners
    mail = inbox.serve_mail(settings.http_host, smtp_port) if smtp_port else None
    try:
        uvicorn.run(inbox.app(), host=settings.http_host, port=settings.http_port, log_level="warning")
    finally:
        if mail is not None:
            mail.stop()
    return 0


@needs("database", creates_database=True)
def cmd_migrate(args: argparse.Namespace) -> int:
    from services.common import db

    log.configure("migrate")
    applied = db.migrate(Settings.from_env().database_url)
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


@needs("kafka")
def cmd_topics(args: argparse.Namespace) -> int:
    from services.common.kafka import ensure_topics
    from services.devtools.stack import CONSUMER_GROUPS

    created = ensure_topics(Settings.from_env(), list(CONSUMER_GROUPS), partitions=args.partitions)
    print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))
    return 0


@needs("database")
def cmd_directory_load(args: argparse.Namespace) -> int:
    import getpass

    from services.common import db, directory
    from services.common.outbox import enqueue
    from services.triage import directory_store

    settings = Settings.from_env()
    source = Path(args.file) if args.file else settings.config_dir / "partners.yaml"
    loaded = directory.Directory.model_validate(directory.load_yaml(source))
    conn = db.connect(settings.database_url)
    try:
        with db.transaction(conn) as cur:
            messages = directory_store.sync(cur, loaded, f"loader:{getpass.getuser()}", prune=args.prune)
            enqueue(cur, "triage", messages)
    finally:
        conn.close()
    print(f"directory: {len(loaded.partners)} partner(s) in {source.name}, {len(messages)} change(s)")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    if args.events:  # one Ed25519 pair per service: each keeps its private key, all get the public ones
        from services.common.event_auth import SERVICES, generate

        pairs = {name: generate() for name in SERVICES}
        print("GRIEVANCE_EVENT_KEYS=" + ",".join(f"{n}={pub}" for n, (_, pub) in pairs.items()))
        for name, (private, _) in pairs.items():
            print(f"GRIEVANCE_SIGNING_KEY for {name}: {private}")
        return 0
    from services.intake.identity import Vault

    print(Vault.generate_key())
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from services.devtools.dev import run

    configured = tuple(dep for dep, var in ENV_VARS.items() if os.environ.get(var))  # the rest is embedded
    try:
        check(configured, creates_database=True)
    except Unreachable as exc:
        print(f"grievance: {exc}", file=sys.stderr)
        return 1
    return run(Path(args.workdir), demo_cases=args.demo_data)


@needs("kafka")
def cmd_capture(args: argparse.Namespace) -> int:
    from services.devtools.replay import capture

    return capture(Settings.from_env(), args)


@needs("kafka")
def cmd_replay(args: argparse.Namespace) -> int:
    from services.devtools.replay import replay

    return replay(Settings.from_env(), args)


def cmd_bench(args: argparse.Namespace) -> int:
    if args.target == "dashboard":
        from services.devtools.dashboard_bench import run as run_dashboard

        args.cases = args.cases or 100_000
        return run_dashboard(args)
    from services.devtools.bench import run

    args.cases = args.cases or 2000
    return run(args)


def cmd_classify(args: argparse.Namespace) -> int:
    from services.triage.commands import run_classify

    return run_classify(Settings.from_env().config_dir, Path(args.directory) if args.directory else None)


def cmd_eval(args: argparse.Namespace) -> int:
    from services.triage.commands import run_eval, run_speed

    config_dir = Settings.from_env().config_dir
    if args.speed:
        import json

        print(json.dumps(run_speed(config_dir, Path(args.data), args.repeat, rules_only=args.rules_only)))
        return 0
    return run_eval(config_dir, Path(args.data), min_critical_recall=args.min_critical_recall,
                    min_accuracy=args.min_accuracy, as_json=args.json, show_mistakes=args.mistakes,
                    rules_only=args.rules_only, max_critical_unreviewed=args.max_critical_unreviewed)


def cmd_triage_model(args: argparse.Namespace) -> int:
    from services.triage.commands import run_measure_model, run_train_model

    config_dir = Settings.from_env().config_dir
    if args.action == "train":
        return run_train_model(config_dir, Path(args.data_root))
    return run_measure_model(config_dir, Path(args.data))


def cmd_triage_lexicon(args: argparse.Namespace) -> int:
    from services.triage.lexicon_pruning import redundant_terms, remove

    triage = Settings.from_env().config_dir / "triage"
    found = redundant_terms(triage / "lexicons", triage / "safety_net")
    for r in found:
        print(f"{r.path.name}\t{r.concept}\t{r.term}\t(found by {r.covered_by})")
    if args.remove:
        print(f"removed {remove(found)} of {len(found)} redundant terms", file=sys.stderr)
    else:
        print(f"{len(found)} redundant terms (--remove deletes them)", file=sys.stderr)
    return 0


@needs("database")
def cmd_what_if(args: argparse.Namespace) -> int:
    from services.triage.whatif import run

    settings = Settings.from_env()
    return run(settings.database_url, settings.config_dir, Path(args.rules) if args.rules else None,
               Path(args.directory) if args.directory else None,
               Path(args.triage_rules) if args.triage_rules else None, args.since, args.json)


def _data_key() -> str:
    """GRIEVANCE_DATA_KEY, or the running `grievance dev`'s key (said on stderr), for the operator commands
    that open sealed copies."""
    key = Settings.from_env().data_key
    dev = None if key else state.running(state.default_workdir())
    if dev is not None and (state.default_workdir() / "data.key").exists():
        print(f"grievance: using the dev stack's data key in {state.default_workdir()}", file=sys.stderr)
        key = (state.default_workdir() / "data.key").read_text().strip()
    return key


@needs("database")
def cmd_rekey(args: argparse.Namespace) -> int:
    from services.common import db
    from services.common.vault import DataVault, InvalidToken, rekey

    try:
        vault = DataVault(_data_key())
    except ValueError as exc:
        print(f"grievance rekey: {exc}", file=sys.stderr)
        return 1

    def report(table, counts) -> None:
        print(f"{table}: {counts.rotated} re-encrypted, {counts.sealed} sealed"
              + (f", {counts.left_clear} left in clear (kept before bounds, over 64 KiB)" if counts.left_clear else ""))

    conn = db.connect(Settings.from_env().database_url)
    try:
        done = rekey(conn, vault, args.batch_size, report)
    except InvalidToken:
        print("grievance rekey: a sealed value no key in GRIEVANCE_DATA_KEY opens; list every key still in use,"
              " newest first (what was done so far is committed; run it again)", file=sys.stderr)
        return 1
    finally:
        conn.close()
    total = sum(c.rotated + c.sealed for c in done.values())
    print(f"{total} value(s) now sealed with the newest of {vault.key_count} key(s); older keys can be removed")
    return 0


@needs("database")
def cmd_erase(args: argparse.Namespace) -> int:
    import re

    from services.common import db
    from services.common.vault import DataVault, InvalidToken
    from services.devtools import erase

    if (args.case_ref is None) == (args.older_than is None):
        print("grievance erase: give a case reference or --older-than DAYS", file=sys.stderr)
        return 2
    if args.case_ref is not None and not re.fullmatch(r"GRV-[0-9A-Z]{12}", args.case_ref):
        print(f"grievance erase: {args.case_ref!r} is not a case reference (GRV- and 12 characters)", file=sys.stderr)
        return 2
    try:
        vault = DataVault(_data_key())
    except ValueError as exc:
        print(f"grievance erase: {exc}", file=sys.stderr)
        return 1
    conn = db.connect(Settings.from_env().database_url)
    try:
        if args.case_ref is not None:
            removed = erase.erase(conn, args.case_ref, vault)
            if not removed:
                done = erase.already_erased(conn, args.case_ref)
                print(f"{args.case_ref}: " + ("already erased" if done else "nothing held for it"), file=sys.stderr)
                return 0 if done else 1
            print(f"erased {args.case_ref}: " + ", ".join(f"{t} {n}" for t, n in sorted(removed.items())))
        else:
            cases, rest = erase.erase_older_than(conn, args.older_than, vault)
            print(f"erased {len(cases)} case(s) received more than {args.older_than} days ago; removed "
                  + ", ".join(f"{t} {n}" for t, n in sorted(rest.items())))
    except InvalidToken:
        print("grievance erase: a sealed copy no key in GRIEVANCE_DATA_KEY opens, so it cannot be searched;"
              " list every key still in use (nothing was erased for this case)", file=sys.stderr)
        return 1
    finally:
        conn.close()
    print("events already on Kafka topics are not rewritten: they last until the topics' retention removes them",
          file=sys.stderr)
    return 0


@needs("database")
def cmd_redeliver(args: argparse.Namespace) -> int:
    import getpass

    from services.common import db
    from services.notifier.admin import redeliver
    from services.notifier.delivery import policy_for

    settings = Settings.from_env()
    conn = db.connect(settings.database_url)
    try:
        with db.transaction(conn) as cur:
            found = redeliver(cur, policy_for(settings), case_ref=args.case_ref, recipient=args.recipient)
    finally:
        conn.close()
    for _, _, recipient, was in found:
        print(f"{args.case_ref} → {recipient}: " + ("redelivering (by " + getpass.getuser() + ")"
                                                   if was == "failed" else f"{was}, left alone"))
    if not found:
        print(f"grievance redeliver: no delivery of {args.case_ref}"
              + (f" to {args.recipient}" if args.recipient else ""), file=sys.stderr)
    return 0 if any(was == "failed" for *_, was in found) else 1


@needs("database")
def cmd_rejected(args: argparse.Namespace) -> int:
    import base64
    import json

    from services.common import db
    from services.common.directory_cache import DirectoryCache
    from services.common.outbox import enqueue
    from services.intake import store
    from services.intake.identity import Vault
    from services.intake.validation import InvalidSubmission, NotJson

    settings, key = Settings.from_env(), _data_key()
    try:
        vault = Vault(key)
    except ValueError as exc:
        print(f"grievance rejected: {exc}", file=sys.stderr)
        return 1
    conn = db.connect(settings.database_url)
    try:
        with db.transaction(conn) as cur:
            found = store.read_rejected(cur, args.ref, vault)
            if found is None:
                print(f"grievance rejected: no rejection {args.ref!r}", file=sys.stderr)
                return 1
            if args.action == "show":
                shown = {k: v for k, v in vars(found).items() if k != "body"}
                try:
                    shown["body"] = found.body.decode("utf-8")
                except UnicodeDecodeError:
                    shown["body_b64"] = base64.b64encode(found.body).decode()
                print(json.dumps(shown, indent=2, ensure_ascii=False, default=str))
                return 0
            if DirectoryCache(settings.database_url, data_key=key).get().get(found.partner_id or "") is None:
                print(f"grievance rejected: partner {found.partner_id!r} is not in the directory", file=sys.stderr)
                return 1
            body = Path(args.body).read_bytes() if args.body else None
            try:
                accepted = store.refile_rejected(cur, found, vault, body)
            except (NotJson, InvalidSubmission) as exc:
                print(f"grievance rejected: still invalid: {exc}", file=sys.stderr)
                return 1
            enqueue(cur, "intake", accepted.messages)
    finally:
        conn.close()
    print(f"{args.ref}: filed as {accepted.case_ref} for {found.partner_id}"
          + (" (the case already existed)" if accepted.duplicate else ""))
    return 0


@needs("database", "kafka")
def cmd_dashboard_rebuild(args: argparse.Namespace) -> int:
    from services.dashboard.rebuild import rebuild

    try:
        groups = rebuild(Settings.from_env())
    except RuntimeError as exc:
        print(f"grievance dashboard rebuild: {exc}", file=sys.stderr)
        return 1
    print(f"read model emptied, consumer groups {', '.join(groups)} reset: start the dashboard to project every"
          " topic again")
    return 0


def cmd_dashboard_hash(args: argparse.Namespace) -> int:
    import getpass

    from services.dashboard.passwords import hash_password

    password = getpass.getpass("password: ")
    if len(password) < 12 or password != getpass.getpass("again: "):
        print("grievance dashboard hash-password: at least 12 characters, typed twice the same", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def cmd_schemas(args: argparse.Namespace) -> int:
    from schemas.generate import check, write

    if args.check:
        drift = check()
        for name in drift:
            print(f"out of date: {name}", file=sys.stderr)
        return 1 if drift else 0
    for name in write():
        print(f"wrote {name}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="grievance", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run one service (HTTP health/API + consumers + outbox relay)")
    s.add_argument("service", choices=sorted(BUILDERS))
    s.set_defaults(func=cmd_serve)
    sub.add_parser("inbox", help="run the demo partner inbox (verifies webhook signatures)").set_defaults(
        func=cmd_inbox)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    s = sub.add_parser("topics", help="create the topics and dead-letter topics")
    s.add_argument("--partitions", type=int, default=3)
    s.set_defaults(func=cmd_topics)
    s = sub.add_parser("directory", help="manage the partner directory")
    dsub = s.add_subparsers(dest="action", required=True)
    s = dsub.add_parser("load", help="load a directory file into PostgreSQL (each change audited and announced)")
    s.add_argument("--file", help="default: config/partners.yaml")
    s.add_argument("--prune", action="store_true", help="delete partners that are not in the file")
    s.set_defaults(func=cmd_directory_load)
    s = sub.add_parser("keygen", help="print a new key for GRIEVANCE_DATA_KEY (or --events: event signing keys)")
    s.add_argument("--events", action="store_true", help="a key pair per service for signing internal events")
    s.set_defaults(func=cmd_keygen)

    s = sub.add_parser("dev", help="run the whole stack locally on embedded defaults")
    s.add_argument("--workdir", default=str(state.default_workdir()),
                   help="where local state lives (default: $GRIEVANCE_WORKDIR or .grievance)")
    s.add_argument("--demo-data", nargs="?", type=int, const=2000, default=0, metavar="CASES",
                   help="first fill the dashboard with a demo week of CASES cases (default 2000), replacing the"
                        " last demo data")
    s.set_defaults(func=cmd_dev)

    s = sub.add_parser("capture", help="write a topic range to JSON Lines, headers included")
    s.add_argument("topic")
    s.add_argument("-o", "--output", required=True)
    s.add_argument("--from-offset", type=int, help="first offset (every partition)")
    s.add_argument("--to-offset", type=int, help="last offset, inclusive (every partition)")
    s.add_argument("--since", help="ISO time: records at or after it")
    s.add_argument("--until", help="ISO time: records before it")
    s.add_argument("--idle-ms", type=int, default=2000, help="stop after this long with nothing new")
    s.set_defaults(func=cmd_capture)

    s = sub.add_parser("replay", help="publish a captured JSON Lines file back to its topics")
    s.add_argument("file")
    s.add_argument("--topic-prefix", default="", help="publish to <prefix><topic>")
    s.add_argument("--rate", type=float, default=0, help="records per second (0: as fast as possible)")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser("bench", help="measure end-to-end throughput against a raw Kafka hop; `bench dashboard`:"
                                     " each dashboard view's query and page times with many cases")
    s.add_argument("target", nargs="?", choices=("pipeline", "dashboard"), default="pipeline")
    s.add_argument("--cases", type=int, help="pipeline: cases submitted (2000); dashboard: cases loaded (100000)")
    s.add_argument("--http-requests", type=int, default=500, help="pipeline")
    s.add_argument("--workdir", default="", help="pipeline")
    s.add_argument("--days", type=int, default=30, help="dashboard: the span the demo cases are spread over")
    s.add_argument("--repeat", type=int, default=30, help="dashboard: how many times each view is asked")
    s.add_argument("--database", default="grievance_dashboard_bench",
                   help="dashboard: the scratch database on DATABASE_URL's server (dropped and created again)")
    s.add_argument("--keep", action="store_true", help="dashboard: keep the scratch database afterwards")
    s.add_argument("--reuse", action="store_true", help="dashboard: measure a kept scratch database again")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("classify", help="triage and route JSON Lines from stdin to stdout (id, text, …)")
    s.add_argument("--directory", help="partner directory file (default: config/partners.yaml)")
    s.set_defaults(func=cmd_classify)
    s = sub.add_parser("eval", help="score triage on the labelled evaluation set")
    s.add_argument("--data", default=str(REPO_ROOT / "tests" / "data" / "triage"))
    s.add_argument("--min-critical-recall", type=float, default=0.95)
    s.add_argument("--min-accuracy", type=float, default=0.85)
    s.add_argument("--json", action="store_true")
    s.add_argument("--mistakes", action="store_true", help="list every misjudged example")
    s.add_argument("--speed", action="store_true", help="measure texts/s on one core instead")
    s.add_argument("--repeat", type=int, default=20)
    s.add_argument("--rules-only", action="store_true", help="without the learned second opinion")
    s.add_argument("--max-critical-unreviewed", type=int, default=None,
                   help="fail when more critical cases than this are under-triaged without review")
    s.set_defaults(func=cmd_eval)
    s = sub.add_parser("triage-model", help="the learned second opinion: train it (dev extra) or measure it alone")
    s.add_argument("action", choices=["train", "measure"])
    s.add_argument("--data-root", default=str(REPO_ROOT / "tests" / "data"),
                   help="train: the folder holding the labelled sets it learns from")
    s.add_argument("--data", default=str(REPO_ROOT / "tests" / "data" / "triage_sealed2"),
                   help="measure: a labelled set (one it was not trained on)")
    s.set_defaults(func=cmd_triage_model)

    s = sub.add_parser("triage-lexicon", help="lexicon upkeep: terms another term of the same concept already finds")
    s.add_argument("action", choices=["redundant"])
    s.add_argument("--remove", action="store_true", help="delete them from the YAML files (comments kept)")
    s.set_defaults(func=cmd_triage_lexicon)

    s = sub.add_parser("what-if", help="re-run stored cases through candidate rules; report what would change")
    s.add_argument("--rules", help="candidate routing rules (default: config/routing.yaml)")
    s.add_argument("--directory", help="candidate partner directory file (default: the stored directory)")
    s.add_argument("--triage-rules", help="candidate triage policy + lexicons folder (default: config/triage)")
    s.add_argument("--since", help="ISO date or time: only cases triaged since")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_what_if)

    s = sub.add_parser("rekey", help="re-encrypt every sealed copy with the newest key in GRIEVANCE_DATA_KEY")
    s.add_argument("--batch-size", type=int, default=500, help="rows per transaction")
    s.set_defaults(func=cmd_rekey)
    s = sub.add_parser("erase", help="erase a case everywhere it is stored, or every case older than DAYS")
    s.add_argument("case_ref", nargs="?", help="GRV-…")
    s.add_argument("--older-than", type=int, metavar="DAYS", help="retention: cases received before, and older"
                   " rejected submissions and dead letters")
    s.set_defaults(func=cmd_erase)
    s = sub.add_parser("redeliver", help="drive a case's dead-lettered deliveries again (same webhook-id)")
    s.add_argument("case_ref", help="GRV-…")
    s.add_argument("--recipient", help="only the delivery to this partner")
    s.set_defaults(func=cmd_redeliver)
    s = sub.add_parser("rejected", help="show or refile a kept rejection (its body opened with GRIEVANCE_DATA_KEY)")
    rsub = s.add_subparsers(dest="action", required=True)
    r = rsub.add_parser("show", help="print the rejection with its body")
    r.add_argument("ref", help="the rejection_ref the partner was answered (http/…), or a Kafka event id")
    r.set_defaults(func=cmd_rejected)
    r = rsub.add_parser("replay", help="validate it again as its partner and file it if it passes")
    r.add_argument("ref")
    r.add_argument("--body", help="a file with a repaired body to file instead")
    r.set_defaults(func=cmd_rejected)

    s = sub.add_parser("dashboard", help="the operators' dashboard's read model and users")
    dsub = s.add_subparsers(dest="action", required=True)
    dsub.add_parser("rebuild", help="empty the read model and reset its consumer groups (dashboard stopped): the"
                    " next start projects every topic again").set_defaults(func=cmd_dashboard_rebuild)
    dsub.add_parser("hash-password", help="print a scrypt hash for config/operators.yaml").set_defaults(
        func=cmd_dashboard_hash)

    s = sub.add_parser("schemas", help="regenerate the JSON Schemas and AsyncAPI document")
    s.add_argument("--check", action="store_true", help="exit 1 if the checked-in files are out of date")
    s.set_defaults(func=cmd_schemas)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
