"""Error responses and request parsing shared by every route.

Bodies keep the shape of the original service's standard responses
(``{"status": 400, "message": "INVALID_REQUEST"}``, spec/mobile-purchases.md §2.5); where we say more
than the original did, it is in an added ``detail`` field, so clients that compare ``message``
keep working."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from supporterflow.functions.answers import MESSAGES, standard_body


class HttpError(Exception):
    """Raised by a route to answer with a standard error body."""

    def __init__(self, status: int, detail: str | None = None, *, message: str | None = None) -> None:
        super().__init__(detail or message or MESSAGES.get(status, ""))
        self.status = status
        self.detail = detail
        self.message = message


class PayloadTooLarge(HttpError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


def error_response(status: int, detail: str | None = None, *, message: str | None = None) -> JSONResponse:
    return JSONResponse(standard_body(status, detail, message=message), status_code=status)


MAX_JSON_DEPTH = 64


async def read_json(request: Request) -> Any:
    """The request body as JSON, or a 400 that says why it is not.

    Documents nested deeper than ``MAX_JSON_DEPTH`` are refused before anything walks them: no
    payload of these services comes near it, and recursive code further on must not meet one."""
    body = await request.body()
    if not body.strip():
        raise HttpError(400, "the request body is empty; a JSON document is expected")
    try:
        document = json.loads(body)
    except RecursionError:
        document = None
        too_deep = True
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HttpError(400, f"the request body is not valid JSON: {error}") from None
    else:
        # Counting brackets in C first: only a body with that many of them can be that deep.
        brackets = body.count(b"{") + body.count(b"[")
        too_deep = brackets > MAX_JSON_DEPTH and _depth(document) > MAX_JSON_DEPTH
    if too_deep:
        raise HttpError(400, f"the JSON document is nested more than {MAX_JSON_DEPTH} levels deep")
    return document


def _depth(document: Any) -> int:
    deepest = 0
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                return deepest
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return deepest
