"""The Grafana dashboard and the Prometheus alert rules of deploy/observability/ parse, and name only
metrics the service exports: a renamed metric must not leave a panel empty or an alert silent."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from supporterflow.runtime.metrics import Metrics

DIRECTORY = Path(__file__).resolve().parents[2] / "deploy" / "observability"
DASHBOARD = DIRECTORY / "grafana-dashboard.json"
ALERTS = DIRECTORY / "prometheus-alerts.yml"

_METRIC = re.compile(r"\bsupporterflow_[a-z0-9_]+\b")
# The series each kind of metric exposes (prometheus-client; ``_created`` is not for queries).
_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
}


def exported_series() -> set[str]:
    """Every series name the registry of ``runtime/metrics.py`` can expose."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def _expressions(value: Any) -> Iterator[str]:
    """Every ``expr`` and ``query``/``definition`` string anywhere in a parsed dashboard."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("expr", "query", "definition") and isinstance(item, str):
                yield item
            else:
                yield from _expressions(item)
    elif isinstance(value, list):
        for item in value:
            yield from _expressions(item)


def dashboard() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return parsed


def rules() -> list[dict[str, Any]]:
    parsed = yaml.safe_load(ALERTS.read_text())
    return [rule for group in parsed["groups"] for rule in group["rules"]]


def test_the_registry_exposes_counters_with_total_and_histograms_with_buckets() -> None:
    series = exported_series()
    assert {
        "supporterflow_consumer_messages_total",
        "supporterflow_outbound_call_duration_seconds_bucket",
    } <= series
    assert "supporterflow_consumer_messages" not in series


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    used = {name for expression in _expressions(dashboard()) for name in _METRIC.findall(expression)}
    assert used, "the dashboard queries no supporterflow metric"
    assert used - exported_series() == set()


def test_the_dashboard_is_importable_and_covers_what_operators_watch() -> None:
    board = dashboard()
    assert board["uid"]
    assert board["title"]
    assert isinstance(board["schemaVersion"], int)
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert all(t["expr"] and t["refId"] for t in panel["targets"]), panel["title"]
    queried = " ".join(_expressions(board))
    for metric in (
        "supporterflow_http_request_duration_seconds",
        "supporterflow_consumer_messages_total",
        "supporterflow_queue_messages",
        "supporterflow_dlq_messages",
        "supporterflow_stream_lag_records",
        "supporterflow_outbound_call_duration_seconds_bucket",
        "supporterflow_export_last_success_timestamp_seconds",
    ):
        assert metric in queried


def test_every_metric_the_alert_rules_use_is_exported() -> None:
    used = {name for rule in rules() for name in _METRIC.findall(rule["expr"])}
    assert used - exported_series() == set()


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_has_a_severity_a_summary_and_a_description(rule: dict[str, Any]) -> None:
    assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert rule["annotations"]["summary"].strip()
    assert rule["annotations"]["description"].strip()


def test_the_alerts_cover_what_operators_must_hear_about() -> None:
    expressions = {rule["alert"]: rule["expr"] for rule in rules()}
    assert len(expressions) == len(rules())  # names are unique
    joined = " ".join(expressions.values())
    for metric in (
        "supporterflow_dlq_messages",
        "supporterflow_consumer_messages_total",
        "supporterflow_stream_lag_records",
        "supporterflow_outbound_call_duration_seconds_count",
        "supporterflow_outbound_call_duration_seconds_bucket",
        "supporterflow_export_last_success_timestamp_seconds",
        "supporterflow_schedule_runs_total",
    ):
        assert metric in joined
    assert "26 * 3600" in joined
