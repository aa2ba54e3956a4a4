"""Calls to other services over HTTP, with one rule for what a failure means.

Timeouts, connection errors, 429 and 5xx are transient: ``Retry`` (the message comes back after a
back-off). Every other answer is returned to the caller, which knows what a 404 or a 409 means
for its service. URLs and bodies are not logged: they can hold identities."""

from __future__ import annotations

import time
from typing import Any

import httpx
import structlog

from supporterflow.ports import Retry
from supporterflow.runtime.metrics import Metrics

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# httpcore 1.0.9 polls every idle connection each time it hands out a connection, so a large
# keep-alive pool costs more CPU than the reconnects it saves (measured with
# benchmarks.supporter_drain: 64 kept 22 deliveries/s, 20 kept 51/s, 8 kept 70/s). 16 keeps TLS
# handshakes to a remote service rare at the consumer's concurrency.
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=16)


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    service: str,
    endpoint: str,
    metrics: Metrics | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """``endpoint`` names the call in logs and metrics without its identifiers (e.g. a DocType)."""
    started = time.perf_counter()
    outcome = "error"
    try:
        response = await client.request(method, path, **kwargs)
        outcome = str(response.status_code)
    except httpx.TimeoutException as error:
        raise Retry(f"{service} {endpoint}: timed out ({type(error).__name__})") from None
    except httpx.TransportError as error:
        raise Retry(f"{service} {endpoint}: unreachable ({type(error).__name__})") from None
    finally:
        if metrics is not None:
            metrics.outbound_calls.labels(service, endpoint, outcome).observe(time.perf_counter() - started)
    if response.status_code == 429 or response.status_code >= 500:
        raise Retry(f"{service} {endpoint}: HTTP {response.status_code}")
    return response
