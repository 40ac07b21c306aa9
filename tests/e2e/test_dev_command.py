"""The README's run command: `grievance dev` on embedded defaults, and the curl it prints."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import httpx

from .conftest import wait_for


def test_grievance_dev_prints_a_curl_that_gets_delivered_within_5_seconds(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "dev", "--workdir", str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    try:
        def banner_printed() -> bool:
            line = proc.stdout.readline()
            lines.append(line)
            assert line or proc.poll() is None, "".join(lines)
            return "Ctrl-C stops everything" in line
        wait_for(banner_printed, 120, interval=0, what="the dev banner")
        out = "".join(lines)
        assert "PostgreSQL          postgresql://" in out and f"host={tmp_path}" in out  # embedded
        curl = re.search(r"^curl .*?}'$", out, re.S | re.M).group(0)
        started = time.monotonic()
        answer = json.loads(subprocess.run(["bash", "-c", curl], capture_output=True, text=True, check=True).stdout)
        status_url = re.search(r"curl -s -H '([^']+)' (\S+)/<case_ref>", out)
        headers = dict([status_url.group(1).split(": ", 1)])
        url = f"{status_url.group(2)}/{answer['case_ref']}"
        wait_for(lambda: httpx.get(url, headers=headers).json()["status"] == "delivered", 5,
                 what="the printed curl's case to be delivered")
        print(f"delivered {time.monotonic() - started:.2f}s after submission")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(60) == 0
