"""Schemathesis against the real intake's own OpenAPI document: every operation, with input that fits the
document and input that breaks it, and a valid partner key. Nothing may answer 5xx, and every answer must
be one the document declares (status code, content type, body schema).

Schemathesis 4's lazy pytest loader (`schemathesis.pytest.from_fixture`) does not run under pytest 9, and
the document only exists once the stack is up, so each operation's Hypothesis strategy is driven here.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks
from schemathesis.specs.openapi import checks as openapi_checks

from .conftest import AUTH

CHECKS = [checks.not_a_server_error, openapi_checks.status_code_conformance,
          openapi_checks.content_type_conformance, openapi_checks.response_schema_conformance]
EXAMPLES = 50  # per operation and mode: about 400 requests, 20-35 s on two shared cores


@pytest.fixture(scope="module")
def intake_schema(stack):
    return schemathesis.openapi.from_url(stack.url("intake") + "/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_intake_api_never_fails_and_keeps_its_contract(intake_schema, mode):
    operations = [result.ok() for result in intake_schema.get_all_operations()]
    assert {op.label for op in operations} >= {"POST /v1/grievances", "GET /v1/grievances",
                                                "GET /v1/grievances/{case_ref}",
                                                "POST /v1/grievances/{case_ref}/consent"}
    seen: Counter[str] = Counter()
    started = time.monotonic()
    for operation in operations:
        if mode is GenerationMode.NEGATIVE and not any(operation.iter_parameters()) and not len(operation.body):
            continue  # /healthz, /readyz: no input to break
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def fuzz(case):
            response = case.call_and_validate(headers=AUTH, checks=CHECKS, timeout=30)
            seen[f"{response.status_code // 100}xx"] += 1

        fuzz()
    print(f"\nschemathesis {mode.value}: {sum(seen.values())} requests over {len(operations)} operations "
          f"{dict(sorted(seen.items()))} in {time.monotonic() - started:.1f} s, 0 failures")
    assert seen["5xx"] == 0
