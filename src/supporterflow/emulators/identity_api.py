"""An emulated Guardian identity API: ``GET /user/{id}`` behind a bearer API key, just enough for
the soft opt-in email lookup (spec/mobile-purchases.md §8.2 step 4b).

Written from the identity API's wire format as the original's tests show it (``{"status": "ok",
"user": {"id", "primaryEmailAddress", "publicFields", "dates", "consents", "hasPassword"}}``) and
its error shape (``{"status": "error", "errors": [{"message", "description"}]}``), not from
supporterflow's adapter, so an adapter reading the wrong field disagrees with it.

Users are registered through the control API (``POST /__emulator/users``). A user registered
without an address has no ``primaryEmailAddress`` at all, as an account created with a phone
number would.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from supporterflow.emulators.control import (
    CONTROL_PREFIX,
    BadRequest,
    EmulatorControl,
    bad_request,
    emulator_app,
    read_json,
    text_field,
)
from supporterflow.emulators.storage import Document, DocumentStore

DEFAULT_API_KEY = "sf-emulator-identity-api-key"
"""The bearer key the emulator accepts unless told otherwise (a test key, not a secret)."""

_USERS = "users"
_BEARER = "Bearer "


def error_response(status: int, message: str, description: str | None = None) -> JSONResponse:
    """The identity API's error body; also the body of injected faults."""
    error = {"message": message, "description": description or message}
    return JSONResponse({"status": "error", "errors": [error]}, status_code=status)


def parse_registration(body: Any) -> Document:
    """The user of a control-API registration: ``id`` (required), ``primaryEmailAddress``
    (string or null), ``displayName`` (optional string)."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    errors: list[str] = []
    identity_id = text_field(body, "id", errors, required=True)
    email = text_field(body, "primaryEmailAddress", errors, required=False)
    display_name = body.get("displayName", "user")
    if not isinstance(display_name, str):
        errors.append("displayName must be a string")
    if errors:
        raise BadRequest(*errors)
    user: Document = {"id": identity_id}
    if email is not None:
        user["primaryEmailAddress"] = email
    user.update(
        {
            "publicFields": {"displayName": display_name},
            "dates": {"accountCreatedDate": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
            "consents": [],
            "hasPassword": True,
        }
    )
    return user


class IdentityApiState:
    """Users keyed by identity id; in memory, or in an SQLite file when ``path`` is given (the
    local profile keeps one beside its database, so a standalone emulator on the same file can
    register users for the in-process one)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.store = DocumentStore(path)

    def register(self, user: Document) -> Document:
        """Create or replace the user."""
        self.store.put(_USERS, user["id"], user)
        return user

    def user(self, identity_id: str) -> Document | None:
        return self.store.get(_USERS, identity_id)

    def reset(self) -> None:
        self.store.clear()

    def snapshot(self) -> dict[str, Any]:
        return {"users": self.store.documents(_USERS)}

    def close(self) -> None:
        self.store.close()


def create_identity_api_app(
    api_key: str, state: IdentityApiState | None = None, *, latency_ms: float = 0.0
) -> Starlette:
    """The emulator as an ASGI app; ``state`` defaults to a fresh in-memory one."""
    users = state if state is not None else IdentityApiState()
    expected = f"{_BEARER}{api_key}".encode()

    async def get_user(request: Request) -> Response:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), expected):
            return error_response(401, "Access Denied", "a valid bearer API key is required")
        user = users.user(request.path_params["identity_id"])
        if user is None:
            return error_response(404, "Not found", "Resource not found")
        return JSONResponse({"status": "ok", "user": user})

    async def register(request: Request) -> Response:
        try:
            user = parse_registration(await read_json(request))
        except BadRequest as error:
            return bad_request(error)
        return JSONResponse({"user": users.register(user)}, status_code=201)

    return emulator_app(
        routes=[Route("/user/{identity_id}", get_user, methods=["GET"])],
        state=users,
        control=EmulatorControl(latency_ms),
        fault_response=error_response,
        control_routes=[Route(f"{CONTROL_PREFIX}/users", register, methods=["POST"])],
    )
