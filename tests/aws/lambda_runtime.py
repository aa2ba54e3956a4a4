"""The aws runtime as Lambda runs it, for the scenario suites that run on both profiles: the
test's container adopted as the execution environment's (``aws_lambda.adopt``), ``LambdaPoller``
as the event source mappings and EventBridge, and the HTTP app reached through the ``http``
handler (Mangum) with the API Gateway events a request becomes.

The handlers are synchronous and run their own event loop (``aws_lambda._run``), as in Lambda:
here that loop lives on one thread of its own, and the test's loop awaits each invocation there.
The two never use the container at the same time: the test looks at the state only between
invocations."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal, TypeVar

import httpx

from supporterflow.bootstrap import Container
from supporterflow.entrypoints import aws_lambda
from tests.aws.lambda_poller import LambdaPoller

T = TypeVar("T")


def http_event(
    method: str,
    path: str,
    *,
    body: bytes | str | None = None,
    headers: dict[str, str],
    query: str = "",
    account: str = "123456789012",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, as the api function gets it: a body that is
    not text is base64, as API Gateway sends it."""
    now = datetime.now(UTC)
    encoded = isinstance(body, bytes)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "api.example.com", **headers},
        "requestContext": {
            "accountId": account,
            "apiId": "api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "test",
            },
            "requestId": "request-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": base64.b64encode(body).decode() if isinstance(body, bytes) else body,
        "isBase64Encoded": encoded,
    }


class LambdaRuntime:
    """``run_until`` and ``transport`` for a container of the aws profile, through the Lambda
    handlers only. One per test: it keeps the stream positions and the schedules' due times."""

    def __init__(
        self, container: Container, *, retry_queues_to: Literal["stream", "consumer"] = "stream"
    ) -> None:
        self.container = container
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lambda")
        self._thread.submit(aws_lambda.adopt, container).result()
        self.poller = LambdaPoller(
            container.settings,
            topology=container.topology,
            retry_queues_to=retry_queues_to,
            clock=container.clock,
        )
        self.quiet = False  # the last poll found nothing to hand over (from the outbox either)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on the handlers' thread."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, partial(function, *args))

    async def run_until(
        self,
        condition: Callable[[], Awaitable[bool]],
        *,
        timeout_s: float = 60.0,
        between: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Poll the schedules, streams and queues until ``condition()`` holds; ``between`` runs
        before each poll (e.g. to move a frozen clock)."""
        deadline = time.monotonic() + timeout_s
        self.quiet = False
        while not await condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"condition not reached within {timeout_s} s; invocations: {self.poller.invocations}"
                )
            if between is not None:
                await between()
            handed = await self.call(self.poller.poll)
            self.quiet = not handed
            if not handed:
                await asyncio.sleep(0.05)

    def transport(self) -> httpx.AsyncBaseTransport:
        return _HttpHandler(self)

    async def aclose(self) -> None:
        await self.call(aws_lambda.reset)
        self._thread.shutdown()


class _HttpHandler(httpx.AsyncBaseTransport):
    """An httpx request -> an API Gateway event -> ``aws_lambda.http`` -> its response."""

    def __init__(self, runtime: LambdaRuntime) -> None:
        self._runtime = runtime

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers: dict[str, str] = {}
        for name, value in request.headers.multi_items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        event = http_event(
            request.method,
            request.url.path,
            body=body or None,
            headers=headers,
            query=request.url.query.decode(),
        )
        response = await self._runtime.call(aws_lambda.http, event, None)
        content = response.get("body") or ""
        raw = base64.b64decode(content) if response.get("isBase64Encoded") else content.encode()
        reply_headers = list(response.get("headers", {}).items())
        reply_headers += [("set-cookie", cookie) for cookie in response.get("cookies", [])]
        return httpx.Response(response["statusCode"], headers=reply_headers, content=raw, request=request)
