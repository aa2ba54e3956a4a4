"""Calls to other services over HTTP, with one rule for what a failure means.

Timeouts, connection errors, 429 and 5xx are transient: ``Retry`` (the message comes back after a
back-off). Every other answer is returned to the caller, which knows what a 404 or a 409 means
for its service. URLs and bodies are not logged: they can hold identities. A call is measured under
its ``endpoint``, a name without identifiers (a route template, see ``route_templates.py``).

Both transports send the correlation id of the work in progress (``logs.current_correlation_id``)
as ``x-correlation-id``, so the other service's logs can be matched with ours.

Two transports carry the calls. ``AiohttpTransport`` talks to a real service: aiohttp's
connection pool spends about a third of the CPU per request that httpx 0.28 / httpcore 1.0.9
spend with dozens of requests in flight (benchmarks/supporter_drain.py; httpcore's pool walks
and polls every connection on each request). ``AsgiTransport`` calls an ASGI app in the same
process, without a socket: the local profile's emulators and the tests use it.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import aiohttp
import httpx
import structlog

from supporterflow.logs import CORRELATION_HEADER, current_correlation_id
from supporterflow.ports import Retry
from supporterflow.runtime.metrics import Metrics

log = structlog.get_logger(__name__)

TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 128


@dataclass(frozen=True)
class Reply:
    """A whole HTTP answer: adapters read every body anyway, and this keeps them free of any
    HTTP library's types."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def with_correlation(headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """``headers`` plus ``x-correlation-id`` when an id is bound and the caller did not set one."""
    correlation_id = current_correlation_id()
    if correlation_id is None or (headers and any(k.lower() == CORRELATION_HEADER for k in headers)):
        return headers
    return {**(headers or {}), CORRELATION_HEADER: correlation_id}


class Unreachable(Exception):
    """No answer: the connection failed or the service took longer than the timeout."""


class Transport(Protocol):
    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """``json`` is sent as a JSON body; ``content`` as raw bytes (e.g. a form)."""
        ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """A service at ``base_url``. The session is made on first use, inside the running loop."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                self.base_url,
                connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS),
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        try:
            async with self._open().request(
                method, path, json=json, data=content, headers=with_correlation(headers)
            ) as response:
                body = await response.read()
                return Reply(response.status, body, {k.lower(): v for k, v in response.headers.items()})
        except TimeoutError as error:
            raise Unreachable("timed out") from error
        except aiohttp.ClientError as error:
            raise Unreachable(f"unreachable ({type(error).__name__})") from error

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class AsgiTransport:
    """An ASGI app called in-process (the emulators of the local profile, tests)."""

    def __init__(self, app: Any, name: str = "service") -> None:
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{name}.emulator", timeout=TIMEOUT_S
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        try:
            response = await self._client.request(
                method, path, json=json, content=content, headers=with_correlation(headers)
            )
        except httpx.TimeoutException as error:
            raise Unreachable("timed out") from error
        except httpx.TransportError as error:
            raise Unreachable(f"unreachable ({type(error).__name__})") from error
        return Reply(
            response.status_code, response.content, {k.lower(): v for k, v in response.headers.items()}
        )

    async def aclose(self) -> None:
        await self._client.aclose()


async def call(
    transport: Transport,
    method: str,
    path: str,
    *,
    service: str,
    endpoint: str,
    metrics: Metrics | None = None,
    json: Any = None,
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """``endpoint`` names the call in logs and metrics without its identifiers (a route template,
    a DocType): never the path. One debug line per call (with the bound correlation id); the
    metrics measure every call whatever the level."""
    started = time.perf_counter()
    outcome = "error"
    try:
        reply = await transport.request(method, path, json=json, content=content, headers=headers)
        outcome = str(reply.status)
    except Unreachable as error:
        raise Retry(f"{service} {endpoint}: {error}") from None
    finally:
        seconds = time.perf_counter() - started
        if metrics is not None:
            metrics.outbound_calls.labels(service, endpoint, outcome).observe(seconds)
        log.debug(
            "outbound call", service=service, endpoint=endpoint, status=outcome, ms=round(seconds * 1000, 2)
        )
    if reply.status == 429 or reply.status >= 500:
        raise Retry(f"{service} {endpoint}: HTTP {reply.status}", after_s=retry_after(reply))
    return reply


def retry_after(reply: Reply) -> float | None:
    """``Retry-After`` in seconds (RFC 9110: delay-seconds or an HTTP date), None when absent or
    unreadable."""
    value = reply.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
