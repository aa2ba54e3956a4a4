"""An emulated Braze REST API: ``POST /users/export/ids`` behind a bearer API key, just enough for
the Feast identity lookup (spec/mobile-purchases.md §10.2).

Written from Braze's documented wire format, not from supporterflow's adapter: the request
checks and the response shape are this emulator's reading of the Braze docs, so an adapter that
sends the wrong body or reads the wrong field disagrees with it instead of sharing the mistake.
"""

from __future__ import annotations

import hmac
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

DEFAULT_API_KEY = "sf-emulator-braze-key"
"""The bearer key the emulator accepts unless told otherwise (a test key, not a secret)."""

MAX_EXTERNAL_IDS = 50
"""Braze's limit of external ids per export request."""

_USERS = "users"
_BEARER = "Bearer "


def parse_export(body: Any) -> tuple[list[str], list[str] | None]:
    """``(external_ids, fields_to_export)`` of an export request; ``fields_to_export`` is None
    when the request asks for every field. Lookups by alias, device, email or phone are not
    emulated, so a request without external ids is refused rather than answered wrongly."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    errors: list[str] = []
    external_ids = body.get("external_ids")
    if not isinstance(external_ids, list) or not external_ids:
        errors.append("external_ids must be a non-empty array of strings")
        external_ids = []
    elif not all(isinstance(external_id, str) and external_id for external_id in external_ids):
        errors.append("external_ids must contain only non-empty strings")
    elif len(external_ids) > MAX_EXTERNAL_IDS:
        errors.append(f"external_ids may hold at most {MAX_EXTERNAL_IDS} ids")
    fields = body.get("fields_to_export")
    if fields is not None and (
        not isinstance(fields, list) or not all(isinstance(field, str) for field in fields)
    ):
        errors.append("fields_to_export must be an array of strings")
    if errors:
        raise BadRequest(*errors)
    # A repeated id is exported once, in the order first asked for.
    return list(dict.fromkeys(external_ids)), fields


def parse_registration(body: Any) -> tuple[str, str | None]:
    """``(external_id, identity_id)`` of a control-API registration."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    errors: list[str] = []
    external_id = text_field(body, "external_id", errors, required=True)
    identity_id = text_field(body, "identity_id", errors, required=False)
    if errors:
        raise BadRequest(*errors)
    return str(external_id), identity_id


class BrazeState:
    """Braze user profiles keyed by external id; in memory, or in an SQLite file when ``path``
    is given. Only custom attributes are kept: they are all the identity lookup reads."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.store = DocumentStore(path)

    def register(self, external_id: str, identity_id: str | None) -> Document:
        """Create or replace the profile; without an identity id it has no such attribute at
        all, as a profile whose attribute was never set."""
        attributes = {"identity_id": identity_id} if identity_id is not None else {}
        user = {"external_id": external_id, "custom_attributes": attributes}
        self.store.put(_USERS, external_id, user)
        return user

    def export(self, external_ids: list[str], fields: list[str] | None) -> Document:
        """The export response: known profiles in request order, unknown ids in
        ``invalid_user_ids`` (left out when there are none, as Braze does). Empty custom
        attributes are left out like any unset field."""
        users: list[Document] = []
        invalid: list[str] = []
        for external_id in external_ids:
            user = self.store.get(_USERS, external_id)
            if user is None:
                invalid.append(external_id)
                continue
            exported: Document = {"external_id": external_id}
            if user["custom_attributes"] and (fields is None or "custom_attributes" in fields):
                exported["custom_attributes"] = user["custom_attributes"]
            users.append(exported)
        response: Document = {"users": users}
        if invalid:
            response["invalid_user_ids"] = invalid
        response["message"] = "success"
        return response

    def reset(self) -> None:
        self.store.clear()

    def snapshot(self) -> dict[str, Any]:
        return {"users": self.store.documents(_USERS)}

    def close(self) -> None:
        self.store.close()


def create_braze_app(api_key: str, state: BrazeState | None = None, *, latency_ms: float = 0.0) -> Starlette:
    """The emulator as an ASGI app; ``state`` defaults to a fresh in-memory one."""
    braze = state if state is not None else BrazeState()
    expected = f"{_BEARER}{api_key}".encode()

    def unauthorized(request: Request) -> Response | None:
        given = request.headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), expected):
            return None
        # Braze names the key it refused; a test key is no secret.
        key = given.removeprefix(_BEARER) if given.startswith(_BEARER) else ""
        return JSONResponse({"message": f"Invalid API key: {key}"}, status_code=401)

    async def export_ids(request: Request) -> Response:
        if (refused := unauthorized(request)) is not None:
            return refused
        try:
            external_ids, fields = parse_export(await read_json(request))
        except BadRequest as error:
            return bad_request(error)
        return JSONResponse(braze.export(external_ids, fields))

    async def register(request: Request) -> Response:
        try:
            external_id, identity_id = parse_registration(await read_json(request))
        except BadRequest as error:
            return bad_request(error)
        return JSONResponse({"user": braze.register(external_id, identity_id)}, status_code=201)

    return emulator_app(
        routes=[Route("/users/export/ids", export_ids, methods=["POST"])],
        state=braze,
        control=EmulatorControl(latency_ms),
        control_routes=[Route(f"{CONTROL_PREFIX}/users", register, methods=["POST"])],
    )
