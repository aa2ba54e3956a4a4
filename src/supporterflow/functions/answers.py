"""What a flow behind an HTTP route answers: a status and a JSON body.

Flows decide the answer (they know what went wrong); the HTTP layer only writes it. The standard
bodies are the original service's (spec/mobile-purchases.md §2.5), ``{"status": 400, "message":
"INVALID_REQUEST"}``; where supporterflow says more, it is in an added ``detail`` field, so clients
that compare ``message`` keep working.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

MESSAGES = {
    200: "OK",
    400: "INVALID_REQUEST",
    401: "UNAUTHORISED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    500: "INTERNAL_SERVER_ERROR",
}


@dataclass(frozen=True)
class Answer:
    """The HTTP status and JSON body to answer with."""

    status: int
    body: Any


def standard_body(status: int, detail: str | None = None, *, message: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": status,
        "message": message or MESSAGES.get(status) or HTTPStatus(status).name,
    }
    if detail:
        body["detail"] = detail
    return body


def standard(status: int, detail: str | None = None) -> Answer:
    """One of the original's standard answers, with an optional ``detail``."""
    return Answer(status, standard_body(status, detail))
