"""What both emulators share: fault injection, added latency, the request log, and the
``/__emulator/`` control API that drives them.

Tests and benchmarks need an authority that fails on demand (a 503 for the next three calls, a 417
on one doctype), answers slowly, and shows what it was sent. Keeping that machinery here, outside
the two apps, means both behave the same way and a test written against one reads like a test
written against the other.

The control API has no authentication: it is a loopback test tool, never exposed beyond
127.0.0.1 (see docs/emulators.md).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from http import HTTPStatus
from typing import Any, Protocol, TypeGuard

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTROL_PREFIX = "/__emulator"
REQUEST_LOG_SIZE = 1000

FaultResponder = Callable[[int, str], Response]
"""Builds the response of an injected fault from its status and message, in the app's own
error format."""


class EmulatorState(Protocol):
    """The data behind an emulator, as the control API needs it."""

    def reset(self) -> None:
        """Forget every stored record (users, documents)."""

    def snapshot(self) -> dict[str, Any]:
        """Everything stored, as JSON, for test assertions."""


class BadRequest(Exception):
    """A request body that is not the JSON the endpoint expects; ``errors`` say why, all at once
    (like yup's ``abortEarly: false``)."""

    def __init__(self, *errors: str) -> None:
        super().__init__("; ".join(errors))
        self.errors = list(errors)


async def read_json(request: Request) -> Any:
    """The request body parsed as JSON, or :class:`BadRequest`."""
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("The request body is empty")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The request body is not valid JSON") from None


def generic_fault_response(status: int, message: str) -> Response:
    return JSONResponse({"message": message}, status_code=status)


@dataclass
class Fault:
    """The next ``count`` requests whose method and decoded path match fail with ``status``;
    ``count == -1`` keeps failing until the faults are cleared. ``retry_after_s`` adds a
    ``Retry-After`` header (delay-seconds), as a rate-limited or overloaded service sends, so
    clients' back-off can be tested."""

    status: int
    count: int = 1
    path_prefix: str = "/"
    method: str | None = None
    message: str = ""
    retry_after_s: int | None = None

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path_prefix) and self.method in (None, method)

    @classmethod
    def parse(cls, body: Any) -> Fault:
        """A fault from the control API's JSON body, checked field by field."""
        if not isinstance(body, dict):
            raise BadRequest("A fault is a JSON object")
        status = body.get("status")
        if not _is_int(status) or not 400 <= status <= 599:
            raise BadRequest("status must be an integer from 400 to 599")
        count = body.get("count", 1)
        if not _is_int(count) or (count < 1 and count != -1):
            raise BadRequest("count must be a positive integer, or -1 for 'until cleared'")
        path_prefix = body.get("path_prefix", "/")
        if not isinstance(path_prefix, str) or not path_prefix.startswith("/"):
            raise BadRequest("path_prefix must be a string starting with '/'")
        method = body.get("method")
        if method is not None and not isinstance(method, str):
            raise BadRequest("method must be a string or null")
        message = body.get("message", _phrase(status))
        if not isinstance(message, str):
            raise BadRequest("message must be a string")
        retry_after_s = body.get("retry_after_s")
        if retry_after_s is not None and (not _is_int(retry_after_s) or retry_after_s < 0):
            raise BadRequest("retry_after_s must be an integer >= 0 or null")
        return cls(status, count, path_prefix, method.upper() if method else None, message, retry_after_s)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Injected fault"


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class EmulatorControl:
    """Faults, latency and the recent-request log of one emulator."""

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.initial_latency_ms = latency_ms
        self.latency_ms = latency_ms
        self.faults: list[Fault] = []
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault matching this request, with one use spent."""
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.count > 0:
                    fault.count -= 1
                    if fault.count == 0:
                        self.faults.remove(fault)
                return fault
        return None

    def reset(self) -> None:
        """Back to how the emulator started: no faults, the start-up latency, an empty log."""
        self.faults.clear()
        self.latency_ms = self.initial_latency_ms
        self.requests.clear()


class ControlMiddleware:
    """Applies latency and faults to every request outside ``/__emulator/`` and logs it.

    A faulted request never reaches the app: like a gateway or server that failed before doing
    anything, it changes no state."""

    def __init__(self, app: ASGIApp, control: EmulatorControl, fault_response: FaultResponder) -> None:
        self.app = app
        self.control = control
        self.fault_response = fault_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if fault is not None and fault.retry_after_s is not None:
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"retry-after"]
                    headers.append((b"retry-after", str(fault.retry_after_s).encode()))
                    message = {**message, "headers": headers}
            await send(message)

        method: str = scope["method"]
        if self.control.latency_ms > 0:
            await asyncio.sleep(self.control.latency_ms / 1000)
        fault = self.control.take_fault(method, path)
        try:
            if fault is not None:
                await self.fault_response(fault.status, fault.message)(scope, replay, watch)
            else:
                await self.app(scope, replay, watch)
        finally:
            self.control.requests.append(
                {
                    "method": method,
                    "path": path,
                    "query": scope.get("query_string", b"").decode("latin-1"),
                    "status": status,
                    "body": _loggable(body),
                    "fault": fault is not None,
                }
            )


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _loggable(body: bytes) -> Any:
    """JSON bodies as JSON, anything else as text, so tests can compare what was sent."""
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def emulator_app(
    *,
    routes: Sequence[BaseRoute],
    state: EmulatorState,
    control: EmulatorControl,
    fault_response: FaultResponder = generic_fault_response,
    control_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """A Starlette app serving ``routes`` behind the shared control machinery.

    ``control_routes`` are extra, app-specific routes under ``/__emulator/``. The app's
    ``state.emulator`` and ``state.control`` expose the two for in-process users."""
    app = Starlette(
        routes=[*_control_routes(control, state), *control_routes, *routes],
        middleware=[Middleware(ControlMiddleware, control=control, fault_response=fault_response)],
    )
    app.state.emulator = state
    app.state.control = control
    return app


def bad_request(error: BadRequest) -> JSONResponse:
    """A 400 whose ``message`` is the whole text and ``errors`` lists each problem."""
    return JSONResponse({"message": str(error), "errors": error.errors}, status_code=400)


def text_field(
    body: dict[str, Any], field: str, errors: list[str], *, required: bool, null_named: bool = True
) -> str | None:
    """``body[field]`` when it is a non-empty string, else None with the problem added to
    ``errors``: a missing optional field is no problem. ``null_named`` says in the message of an
    optional field that null is allowed too."""
    value = body.get(field)
    if isinstance(value, str) and value:
        return value
    if required:
        errors.append(f"{field} must be a non-empty string")
    elif value is not None:
        errors.append(f"{field} must be a non-empty string" + (" or null" if null_named else ""))
    return None


def _control_routes(control: EmulatorControl, state: EmulatorState) -> list[BaseRoute]:
    async def add_fault(request: Request) -> Response:
        try:
            fault = Fault.parse(await read_json(request))
        except BadRequest as error:
            return bad_request(error)
        control.faults.append(fault)
        return JSONResponse({"fault": asdict(fault)}, status_code=201)

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"faults": [asdict(fault) for fault in control.faults]})

    async def clear_faults(request: Request) -> Response:
        cleared = len(control.faults)
        control.faults.clear()
        return JSONResponse({"cleared": cleared})

    async def set_latency(request: Request) -> Response:
        try:
            body = await read_json(request)
        except BadRequest as error:
            return bad_request(error)
        ms = body.get("ms") if isinstance(body, dict) else None
        if not isinstance(ms, int | float) or isinstance(ms, bool) or ms < 0:
            return bad_request(BadRequest("ms must be a number >= 0"))
        control.latency_ms = float(ms)
        return JSONResponse({"ms": control.latency_ms})

    async def requests(request: Request) -> Response:
        return JSONResponse({"requests": list(control.requests)})

    async def reset(request: Request) -> Response:
        state.reset()
        control.reset()
        return JSONResponse({"reset": True})

    async def snapshot(request: Request) -> Response:
        return JSONResponse(state.snapshot())

    return [
        Route(f"{CONTROL_PREFIX}/faults", add_fault, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/faults", list_faults, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/faults", clear_faults, methods=["DELETE"]),
        Route(f"{CONTROL_PREFIX}/latency", set_latency, methods=["PUT"]),
        Route(f"{CONTROL_PREFIX}/requests", requests, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{CONTROL_PREFIX}/state", snapshot, methods=["GET"]),
    ]
