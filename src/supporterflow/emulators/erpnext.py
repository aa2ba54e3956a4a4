"""An emulated ERPNext: the subset of Frappe's REST API that a supporter-data client uses
(``/api/resource/<DocType>[/<name>]`` with token auth, spec §6).

Written from Frappe's documented wire format, not from supporterflow's ERP mapping, so the two
can disagree when our mapping is wrong.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping

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
    generic_fault_response,
    read_json,
)
from supporterflow.emulators.erpnext_documents import ErpNextState, FrappeError
from supporterflow.emulators.frappe_query import ListQuery, QueryError
from supporterflow.emulators.storage import Document

# The token the emulator accepts unless told otherwise, ``Authorization: token <key>:<secret>``:
# documented test credentials, not secrets.
DEFAULT_API_KEY = "sf-emulator-erpnext-key"
DEFAULT_API_SECRET = "sf-emulator-erpnext-secret"  # noqa: S105

# Injected faults with one of these statuses look like the Frappe error a real server would send.
_FAULT_EXCEPTIONS = {
    401: "AuthenticationError",
    403: "PermissionError",
    404: "DoesNotExistError",
    409: "DuplicateEntryError",
    417: "ValidationError",
}


def frappe_error_response(error: FrappeError) -> JSONResponse:
    """Frappe's error body: ``_server_messages`` is a JSON string holding a list of JSON strings."""
    messages = [
        json.dumps({"message": m, "title": "Message", "indicator": "red", "raise_exception": 1})
        for m in error.messages
    ]
    return JSONResponse(
        {
            "exc_type": error.exc_type,
            "exception": f"frappe.exceptions.{error.exc_type}: {error.message}",
            "_server_messages": json.dumps(messages),
        },
        status_code=error.status,
    )


def _fault_response(status: int, message: str) -> Response:
    exc_type = _FAULT_EXCEPTIONS.get(status)
    if exc_type is None:
        return generic_fault_response(status, message)
    return frappe_error_response(FrappeError(status, exc_type, message))


async def _fields(request: Request) -> Document:
    """The document fields of a create or update body (a JSON object)."""
    try:
        body = await read_json(request)
    except BadRequest as error:
        raise FrappeError(417, "ValidationError", str(error)) from None
    if not isinstance(body, dict):
        raise FrappeError(417, "ValidationError", "The request body must be a JSON object")
    return body


def create_erpnext_app(
    api_key: str, api_secret: str, state: ErpNextState | None = None, *, latency_ms: float = 0.0
) -> Starlette:
    """The emulator as an ASGI app; ``state`` defaults to a fresh in-memory one."""
    erp = state if state is not None else ErpNextState()
    expected = f"token {api_key}:{api_secret}".encode()

    def check_token(request: Request) -> None:
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            raise FrappeError(401, "AuthenticationError", "Invalid API key or secret")

    async def collection(request: Request) -> Response:
        doctype = request.path_params["doctype"]
        try:
            check_token(request)
            if request.method == "POST":
                return JSONResponse({"data": erp.create(doctype, await _fields(request))})
            try:
                query = ListQuery.parse(doctype, request.query_params)
            except QueryError as error:
                raise FrappeError(417, "ValidationError", str(error)) from None
            return JSONResponse({"data": erp.find(doctype, query)})
        except FrappeError as error:
            return frappe_error_response(error)

    async def document(request: Request) -> Response:
        doctype, name = request.path_params["doctype"], request.path_params["name"]
        try:
            check_token(request)
            if request.method == "GET":
                return JSONResponse({"data": erp.get(doctype, name)})
            if request.method == "PUT":
                return JSONResponse({"data": erp.update(doctype, name, await _fields(request))})
            erp.delete(doctype, name)
            # Frappe answers a delete with 202 and the message "ok".
            return JSONResponse({"message": "ok"}, status_code=202)
        except FrappeError as error:
            return frappe_error_response(error)

    async def set_mandatory(request: Request) -> Response:
        try:
            erp.mandatory = _mandatory_rules(await read_json(request))
        except BadRequest as error:
            return bad_request(error)
        return JSONResponse({"mandatory": erp.mandatory})

    return emulator_app(
        routes=[
            Route("/api/resource/{doctype}", collection, methods=["GET", "POST"]),
            Route("/api/resource/{doctype}/{name:path}", document, methods=["GET", "PUT", "DELETE"]),
        ],
        state=erp,
        control=EmulatorControl(latency_ms),
        fault_response=_fault_response,
        control_routes=[Route(f"{CONTROL_PREFIX}/mandatory", set_mandatory, methods=["PUT"])],
    )


def _mandatory_rules(body: object) -> dict[str, list[str]]:
    """``{"<doctype>": ["<field>", ...]}``, checked: it replaces every rule at once."""
    if not isinstance(body, Mapping) or not all(
        isinstance(fields, list) and all(isinstance(f, str) for f in fields) for fields in body.values()
    ):
        raise BadRequest('Mandatory rules are an object like {"Supporter": ["first_name"]}')
    return {str(doctype): list(fields) for doctype, fields in body.items()}
