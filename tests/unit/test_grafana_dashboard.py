"""The monitoring profile's files against the code: every metric the Grafana dashboard queries is one
services/common/metrics.py exports (and every exported metric is on a panel), and Prometheus scrapes exactly
the compose services that serve /metrics, on their ports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from services.cli import BUILDERS
from services.common import metrics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DASHBOARD_FILE = ROOT / "deploy/grafana/dashboards/grievance-pipeline.json"
DASHBOARD = json.loads(DASHBOARD_FILE.read_text())
PROMETHEUS_FILE = ROOT / "deploy/prometheus/prometheus.yml"
PROMETHEUS = yaml.safe_load(PROMETHEUS_FILE.read_text())
PROVISIONING = ROOT / "deploy/grafana/provisioning"

# PromQL words that look like metric names: functions, aggregations, keywords.
PROMQL_WORDS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
                "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
                "and", "or", "unless", "offset", "bool", "inf", "nan"}
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def exported_metrics() -> dict[str, Counter | Gauge | Histogram]:
    """The metrics module's collectors by the base name a dashboard refers to."""
    found = {}
    for value in vars(metrics).values():
        if isinstance(value, Counter | Gauge | Histogram):
            # prometheus-client keeps a counter's name without `_total` (`_name`) and appends it on export.
            name = value._name + "_total" if isinstance(value, Counter) else value._name
            found[name] = value
    return found


def series_names(name: str, metric: Counter | Gauge | Histogram) -> set[str]:
    """The sample names /metrics exposes for one collector (what PromQL can select)."""
    if isinstance(metric, Histogram):
        return {name + suffix for suffix in HISTOGRAM_SUFFIXES}
    return {name}


def exprs() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in DASHBOARD["panels"] for target in panel["targets"]]


def selected_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers that are neither functions, keywords, label
    names (inside `{...}` or `by (...)`) nor durations/strings."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)                        # string literals
    text = re.sub(r"\{[^}]*\}", "", text)                               # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                              # range / subquery durations
    text = re.sub(r"(?<![\w:$])\d[\d.]*(?:e[+-]?\d+)?(?:ms|[smhdwy])*|\$\w+", "", text)  # numbers, durations, $vars
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        word = match.group()
        if word.lower() in PROMQL_WORDS or text[match.end():].lstrip().startswith("("):
            continue  # a function call or keyword
        names.add(word)
    return names


def test_the_expression_parser_finds_metric_names_and_nothing_else():
    expr = ('histogram_quantile(0.99, sum by (le, channel) (rate(x_seconds_bucket{channel="e-mail"}[$__interval])))'
            ' / on (channel) group_left max without (service) (y_total offset 5m) > bool 1e3 or 1-z:rule')
    assert selected_names(expr) == {"x_seconds_bucket", "y_total", "z:rule"}
    assert selected_names("max by (service) (grievance_outbox_backlog)") == {"grievance_outbox_backlog"}


def test_every_dashboard_query_selects_a_metric_the_services_export():
    exported = exported_metrics()
    allowed = {series: name for name, m in exported.items() for series in series_names(name, m)}
    assert exprs(), "the dashboard has no queries"
    for title, expr in exprs():
        names = selected_names(expr)
        assert names, (title, expr)
        unknown = names - set(allowed)
        assert not unknown, f"{title!r} queries {unknown}, not in services/common/metrics.py"


def test_every_exported_metric_is_on_a_panel():
    used = set()
    for _, expr in exprs():
        for name in selected_names(expr):
            used.add(name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum"))
    assert set(exported_metrics()) - used == set()


def test_histograms_are_read_as_quantiles_from_their_buckets():
    quantiles = {(name, q) for _, expr in exprs() for q, name in
                 re.findall(r"histogram_quantile\((0\.\d+),.*?(\w+)_bucket", expr)}
    for name, metric in exported_metrics().items():
        if isinstance(metric, Histogram):
            assert {(name, "0.5"), (name, "0.99")} <= quantiles, name


def test_panels_have_unique_ids_titles_and_the_provisioned_datasource():
    panels = DASHBOARD["panels"]
    assert len({p["id"] for p in panels}) == len({p["title"] for p in panels}) == len(panels)
    datasources = yaml.safe_load((PROVISIONING / "datasources/prometheus.yml").read_text())["datasources"]
    (source,) = datasources
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    for panel in panels:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert all(t["datasource"]["uid"] == source["uid"] for t in panel["targets"]), panel["title"]


def test_grafana_loads_the_dashboard_from_where_compose_mounts_it():
    grafana = COMPOSE["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"])
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    (provider,) = yaml.safe_load((PROVISIONING / "dashboards/grievance-pipeline.yml").read_text())["providers"]
    dashboards_dir = provider["options"]["path"]
    assert mounts["./deploy/grafana/dashboards"] == dashboards_dir
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_dir}/{DASHBOARD_FILE.name}"
    assert grafana["ports"] == ["3000:3000"] and grafana["profiles"] == ["monitoring"]


def test_prometheus_scrapes_every_service_that_serves_metrics_on_its_port():
    # `grievance serve <service>` runs services/common/runtime.py, which serves GET /metrics.
    serving = {name: svc for name, svc in COMPOSE["services"].items()
               if svc.get("command", [])[:2] == ["grievance", "serve"]}
    assert set(serving) == set(BUILDERS)
    expected = {f"{name}:{svc['environment']['GRIEVANCE_HTTP_PORT']}" for name, svc in serving.items()}
    (job,) = PROMETHEUS["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = [t for group in job["static_configs"] for t in group["targets"]]
    assert sorted(targets) == sorted(expected)
    prometheus = COMPOSE["services"]["prometheus"]
    config_flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    assert f"./deploy/prometheus/prometheus.yml:{config_flag.split('=', 1)[1]}:ro" in prometheus["volumes"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed")
def test_promtool_accepts_the_prometheus_config():
    result = subprocess.run(["promtool", "check", "config", str(PROMETHEUS_FILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
