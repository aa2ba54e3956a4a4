"""An emulated Acquisition API (Support's acquisition events): ``POST`` an ``AcquisitionDataRow``
as JSON, to ``/`` or whatever path the configured URL has; what it accepts is kept and shown by
``GET /__emulator/state``.

Written from the ``AcquisitionDataRow`` model the original links to (support-frontend's
acquisition-events module), not from supporterflow's event builder: the required fields, their
types and the enumerations below are this emulator's reading of that model, so that a builder
that leaves a field out or misspells a value is refused (400, every problem listed) instead of
agreeing with itself. Unknown fields are ignored, as the model's JSON decoder does; an optional
field may be absent or null.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Final

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
)
from supporterflow.emulators.storage import Document, DocumentStore

PRODUCTS: Final = frozenset(
    {
        "CONTRIBUTION",
        "RECURRING_CONTRIBUTION",
        "SUPPORTER_PLUS",
        "TIER_THREE",
        "DIGITAL_SUBSCRIPTION",
        "PRINT_SUBSCRIPTION",
        "GUARDIAN_WEEKLY",
        "GUARDIAN_AD_LITE",
        "APP_PREMIUM_TIER",
        "FEAST_APP",
    }
)
PAYMENT_FREQUENCIES: Final = frozenset({"ONE_OFF", "MONTHLY", "QUARTERLY", "SIX_MONTHLY", "ANNUALLY"})
READER_TYPES: Final = frozenset({"Direct", "Gift", "Corporate", "Patron"})
ACQUISITION_TYPES: Final = frozenset({"PURCHASE", "REDEMPTION"})

#: Optional text fields of the model: absent, null or a string.
OPTIONAL_TEXT: Final = (
    "componentId",
    "componentType",
    "campaignCode",
    "source",
    "referrerUrl",
    "paymentProvider",
    "browserId",
    "identityId",
    "pageViewId",
    "referrerPageViewId",
    "promoCode",
    "zuoraSubscriptionNumber",
    "contributionId",
    "paymentId",
    "platform",
    "postalCode",
    "state",
    "email",
)

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_ACQUISITIONS = "acquisitions"


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_timestamp(value: Any) -> bool:
    """An ISO 8601 date-time with a zone (``2026-03-01T12:00:00.000Z``)."""
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return moment.tzinfo is not None


def _is_pairs(value: Any, first: str, second: str) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict) and _is_text(item.get(first)) and _is_text(item.get(second)) for item in value
    )


def parse_acquisition(body: Any) -> Document:
    """The acquisition as received, or :class:`BadRequest` listing every problem."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    errors: list[str] = []

    def need(name: str, valid: bool, expected: str) -> None:
        if name not in body or body[name] is None:
            errors.append(f"{name} is required")
        elif not valid:
            errors.append(f"{name} must be {expected}")

    need("eventTimeStamp", _is_timestamp(body.get("eventTimeStamp")), "an ISO 8601 date-time with a zone")
    need("product", body.get("product") in PRODUCTS, "one of " + ", ".join(sorted(PRODUCTS)))
    need(
        "country",
        _is_text(body.get("country")) and bool(_COUNTRY.match(body["country"])),
        "an ISO 3166 alpha-2 code",
    )
    need(
        "currency",
        _is_text(body.get("currency")) and bool(_CURRENCY.match(body["currency"])),
        "an ISO 4217 code",
    )
    need("abTests", _is_pairs(body.get("abTests"), "name", "variant"), "an array of {name, variant}")
    need(
        "paymentFrequency",
        body.get("paymentFrequency") in PAYMENT_FREQUENCIES,
        "one of " + ", ".join(sorted(PAYMENT_FREQUENCIES)),
    )
    labels = body.get("labels")
    need(
        "labels", isinstance(labels, list) and all(_is_text(label) for label in labels), "an array of strings"
    )
    need(
        "reusedExistingPaymentMethod", isinstance(body.get("reusedExistingPaymentMethod"), bool), "a boolean"
    )
    need("readerType", body.get("readerType") in READER_TYPES, "one of " + ", ".join(sorted(READER_TYPES)))
    need(
        "acquisitionType",
        body.get("acquisitionType") in ACQUISITION_TYPES,
        "one of " + ", ".join(sorted(ACQUISITION_TYPES)),
    )
    need(
        "queryParameters",
        _is_pairs(body.get("queryParameters"), "name", "value"),
        "an array of {name, value}",
    )
    for name in OPTIONAL_TEXT:
        if body.get(name) is not None and not _is_text(body[name]):
            errors.append(f"{name} must be a string or null")
    amount = body.get("amount")
    if amount is not None and (not isinstance(amount, int | float) or isinstance(amount, bool)):
        errors.append("amount must be a number or null")
    if body.get("printOptions") is not None and not isinstance(body["printOptions"], dict):
        errors.append("printOptions must be an object or null")
    if errors:
        raise BadRequest(*errors)
    return body


class AcquisitionApiState:
    """The acquisitions accepted, in arrival order; in memory, or in an SQLite file when
    ``path`` is given."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.store = DocumentStore(path)

    def record(self, acquisition: Document) -> str:
        """Keep ``acquisition``; returns the id it is kept under."""
        acquisition_id = uuid.uuid4().hex
        self.store.put(_ACQUISITIONS, acquisition_id, acquisition)
        return acquisition_id

    def acquisitions(self) -> list[Document]:
        return self.store.documents(_ACQUISITIONS)

    def reset(self) -> None:
        self.store.clear()

    def snapshot(self) -> dict[str, Any]:
        return {"acquisitions": self.acquisitions()}

    def close(self) -> None:
        self.store.close()


def create_acquisition_api_app(
    state: AcquisitionApiState | None = None, *, latency_ms: float = 0.0
) -> Starlette:
    """The emulator as an ASGI app; ``state`` defaults to a fresh in-memory one. It accepts a
    POST on any path outside ``/__emulator/``: the configured URL's path is the endpoint."""
    events = state if state is not None else AcquisitionApiState()

    async def acquisition(request: Request) -> Response:
        if request.url.path == CONTROL_PREFIX or request.url.path.startswith(CONTROL_PREFIX + "/"):
            return JSONResponse({"message": "Not Found"}, status_code=404)
        try:
            accepted = parse_acquisition(await read_json(request))
        except BadRequest as error:
            return bad_request(error)
        return JSONResponse({"message": "Acquisition recorded", "id": events.record(accepted)})

    return emulator_app(
        routes=[Route("/{path:path}", acquisition, methods=["POST"])],
        state=events,
        control=EmulatorControl(latency_ms),
    )
