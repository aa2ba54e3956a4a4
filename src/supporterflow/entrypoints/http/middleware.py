"""Pure ASGI middleware for every request: correlation id, access log, latency metric, body limit,
and the last line of defence that turns an unexpected exception into a JSON 500."""

from __future__ import annotations

import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from supporterflow.entrypoints.http.responses import PayloadTooLarge, error_response
from supporterflow.logs import CORRELATION_HEADER, new_correlation_id, valid_correlation_id
from supporterflow.runtime.metrics import Metrics

log = structlog.get_logger("supporterflow.http")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContext:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = valid_correlation_id(_header(scope, CORRELATION_HEADER.encode()))
        correlation_id = incoming or new_correlation_id()
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-correlation-id", correlation_id.encode()),
                ]
            await send(message)

        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as error:
                log.error("unhandled error", method=scope["method"], path=scope["path"], exc_info=error)
                if response_started:
                    raise
                response = error_response(500, f"correlation id {correlation_id}")
                await response(scope, receive, send_with_id)
            finally:
                route = scope.get("route")
                template: Any = getattr(route, "path", None) or "<unmatched>"
                seconds = time.perf_counter() - started
                self.metrics.http_requests.labels(scope["method"], template, str(status)).observe(seconds)
                log.info(
                    "request",
                    method=scope["method"],
                    route=template,
                    status=status,
                    ms=round(seconds * 1000, 2),
                )


class BodyLimit:
    """413 for bodies over ``limit`` bytes: at once from ``Content-Length``, otherwise as soon as
    the streamed body passes the limit (before a handler can act on a truncated body)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await error_response(413, str(PayloadTooLarge(self.limit)))(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise PayloadTooLarge(self.limit)
            return message

        await self.app(scope, limited, send)
