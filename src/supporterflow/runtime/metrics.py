"""Prometheus metrics of one process, on a registry of its own (tests build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Histogram(
            "supporterflow_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route", "status"],
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.queue_messages = Gauge(
            "supporterflow_queue_messages",
            "Messages in a queue by state (visible, in_flight, delayed)",
            ["queue", "state"],
            registry=r,
        )
        self.dlq_messages = Gauge(
            "supporterflow_dlq_messages", "Messages in a dead-letter queue", ["queue"], registry=r
        )
        self.consumer_messages = Counter(
            "supporterflow_consumer_messages",
            "Messages handled by a consumer, by outcome (ok, retry, dead_letter, ignored)",
            ["consumer", "outcome"],
            registry=r,
        )
        self.consumer_seconds = Histogram(
            "supporterflow_consumer_duration_seconds",
            "Time a consumer spent on one message",
            ["consumer"],
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.stream_records = Counter(
            "supporterflow_stream_records",
            "Change records delivered to a subscriber, by outcome (ok, retry, to_retry_queue)",
            ["subscriber", "outcome"],
            registry=r,
        )
        self.stream_lag = Gauge(
            "supporterflow_stream_lag_records",
            "Change records a subscriber has not checkpointed yet",
            ["subscriber"],
            registry=r,
        )
        self.outbound_calls = Histogram(
            "supporterflow_outbound_call_duration_seconds",
            "Calls to other services by service, endpoint and HTTP status (or error)",
            ["service", "endpoint", "status"],
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.export_rows = Counter(
            "supporterflow_export_rows", "Rows written by the datalake exports", ["dataset"], registry=r
        )
        self.export_bytes = Counter(
            "supporterflow_export_bytes",
            "Bytes of export files written, by dataset and format",
            ["dataset", "format"],
            registry=r,
        )
        self.export_seconds = Histogram(
            "supporterflow_export_duration_seconds",
            "Time one export took",
            ["dataset"],
            registry=r,
            buckets=(1, 5, 15, 60, 300, 900, 1800, 3600),
        )
        self.export_last_success = Gauge(
            "supporterflow_export_last_success_timestamp_seconds",
            "When an export of the dataset last completed (alert when older than a day and a bit)",
            ["dataset"],
            registry=r,
        )
        self.schedule_runs = Counter(
            "supporterflow_schedule_runs", "Scheduled runs by outcome", ["schedule", "outcome"], registry=r
        )
