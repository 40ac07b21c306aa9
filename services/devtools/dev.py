"""`grievance dev`: the whole pipeline on one machine, with embedded defaults for what is not configured."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from services.common.settings import Settings
from services.devtools import demo_data, state
from services.devtools.stack import DASHBOARD, SERVICES, Stack, _port_taken, free_port

PREFERRED_PORTS = {"intake": 8080, "triage": 8081, "notifier": 8082, "dashboard": 8088, "inbox": 8090, "smtp": 8025}
# The complaint in the printed curl (and in the README).
DEMO_COMPLAINT = {"external_id": "demo-1",
                  "text": "The agent took my passport and I have not been paid for 3 months",
                  "country_of_work": "MY", "country_of_origin": "NP", "language": "en"}


def run(workdir: Path, demo_cases: int = 0) -> int:
    """Runs until interrupted; with demo_cases, first fills the dashboard with a demo week of that many cases
    (services/devtools/demo_data.py)."""
    try:
        left = state.clean_up(workdir, workdir / "pgdata")
    except state.AlreadyRunning as exc:
        print(f"grievance: {exc}", file=sys.stderr)
        return 1
    if left:
        print(f"stopped what the last run in {workdir} left running: {', '.join(left)}", flush=True)
    stack = Stack(workdir, kafka=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
                  database_url=os.environ.get("DATABASE_URL") or None,
                  data_key=os.environ.get("GRIEVANCE_DATA_KEY") or None, record_state=True, dashboard=True)
    stack.ports = {name: (free_port() if _port_taken(p) else p) for name, p in PREFERRED_PORTS.items()}
    stopping = started = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True
        if not started:  # start-up can wait a minute on a service: stop now rather than after it
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        print(f"starting: state in {workdir}, logs in {workdir / 'logs'}", flush=True)
        stack.start_infrastructure()
        stack.start_all()
        if demo_cases:
            print(f"loading a demo week of {demo_cases} cases into the dashboard's read model…", flush=True)
            week = demo_data.fill(stack.database_url or "", Settings.from_env().config_dir, cases=demo_cases)
            print(f"demo data: {week.cases} cases ({week.events} events) over the last 7 days in the dashboard,"
                  " case references GRV-DEMO…; loading them again replaces them", flush=True)
        started = True
        print(banner(stack), flush=True)
        while not stopping:
            for name, proc in list(stack.procs.items()):
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; see {workdir / 'logs' / name}.log", flush=True)
                    return 1
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        print("interrupted while starting", flush=True)
        return 1
    finally:
        started = True  # a second signal must not cut the stop short
        print("stopping…", flush=True)
        stack.close()


def banner(stack: Stack) -> str:
    intake = stack.url("intake")
    curl = (
        f"curl -s -X POST {intake}/v1/grievances \\\n"
        "  -H 'Authorization: Bearer demo-key-ngo-np' -H 'Content-Type: application/json' \\\n"
        f"  -d '{json.dumps(DEMO_COMPLAINT)}'"
    )
    lines = [
        "",
        "grievance-pipeline is running",
        f"  Kafka bootstrap     {stack.kafka}",
        f"  PostgreSQL          {stack.database_url}",
        *(f"  {name:<19} {stack.url(name)}/readyz" for name in (*SERVICES, DASHBOARD)),
        f"  partner API docs    {intake}/docs",
        f"  {'dashboard page':<19} {stack.url('dashboard')}/ (sign in as demo-operator / demo-operator-password)",
        f"  demo partner inbox  {stack.url('inbox')}/ (webhooks, and e-mails taken on smtp://127.0.0.1:"
        f"{stack.port('smtp')})",
        "",
        "Submit a complaint:",
        curl,
        "",
        "Then read its status (use the case_ref from the answer):",
        f"  curl -s -H 'Authorization: Bearer demo-key-ngo-np' {intake}/v1/grievances/<case_ref>",
        "",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)
