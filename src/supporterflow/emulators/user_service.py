"""An emulated serverless-user-service: ``POST /signup`` and ``POST /match`` behind an API
Gateway ``x-api-key`` check (spec/supporter-events.md §2.3-§2.5, §5.1).

Written from the spec, not from our own mapping code: the field names, messages and the mobile
normalisation below are this emulator's reading of the user-service models, so a bug in
supporterflow's mapping shows up as a disagreement instead of being shared.
"""

from __future__ import annotations

import hmac
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from supporterflow.emulators.control import (
    BadRequest,
    EmulatorControl,
    bad_request,
    emulator_app,
    read_json,
)
from supporterflow.emulators.storage import Document, DocumentStore

DEFAULT_API_KEY = "sf-emulator-user-service-key"
"""The ``x-api-key`` the emulator accepts unless told otherwise (a test key, not a secret)."""

IDENTITY_KINDS = ("email", "mobile")
MATCH_TYPES = ("username", "email", "mobile", "identity_hash")
ONE_AND_ONLY_ONE = "Please provide one and only one between: 'username', 'email', 'mobile', 'identity_hash'"

_USERS = "users"
_IDENTITIES = "identities"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-5][0-9a-f]{3}-[089ab][0-9a-f]{3}-[0-9a-f]{12}$", re.I)
_BRACKETED_PREFIX = re.compile(r"^\((\+?\d+)\)")


def normalise_mobile(value: str) -> str | None:
    """The user-service ``Mobile`` field's transform (§2.3): ``07000 000 000`` -> ``+447000000000``;
    None when the result is not ``+`` followed by digits."""
    mobile = re.sub(r"[\s-]", "", _BRACKETED_PREFIX.sub(r"\1", value))
    if mobile.startswith("0044"):
        mobile = "+44" + mobile[4:]
    elif mobile.startswith("0"):
        mobile = "+44" + mobile[1:]
    return mobile if re.fullmatch(r"\+\d+", mobile) else None


def _now() -> str:
    """A JavaScript ``Date`` as JSON, like the Node service sends."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _content(kind: str, content: Any, path: str, errors: list[str]) -> str | None:
    """The identity content as the service stores it (mobiles normalised), or None with an error."""
    if not isinstance(content, str) or not content:
        errors.append(f"{path} is a required field")
        return None
    if kind == "email":
        if _EMAIL.match(content):
            return content
        errors.append(f"{path} must be a valid email")
        return None
    mobile = normalise_mobile(content)
    if mobile is None:
        errors.append(f"{path} is not a valid mobile number: '{content}'")
    return mobile


def parse_signup(body: Any) -> tuple[str, str, list[dict[str, str]]]:
    """``(firstName, lastName, identities)`` of a ``SignupRequest``; every problem is reported at
    once (yup's ``abortEarly: false``) in a :class:`BadRequest` whose message joins them."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    errors: list[str] = []
    names = []
    for key in ("firstName", "lastName"):
        name = body.get(key, "")
        if not isinstance(name, str):
            errors.append(f"{key} must be a `string` type")
        names.append(name if isinstance(name, str) else "")
    identities: list[dict[str, str]] = []
    given = body.get("identities")
    if not isinstance(given, list) or not given:
        errors.append("identities is a required field")
        given = []
    for i, identity in enumerate(given):
        path = f"identities[{i}]"
        if not isinstance(identity, dict):
            errors.append(f"{path} must be a `object` type")
            continue
        kind, hash_ = identity.get("kind"), identity.get("hash")
        content = None
        if kind not in IDENTITY_KINDS:
            errors.append(f"{path}.kind must be one of the following values: {', '.join(IDENTITY_KINDS)}")
        else:
            content = _content(kind, identity.get("content"), f"{path}.content", errors)
        if not isinstance(hash_, str) or not hash_:
            errors.append(f"{path}.hash is a required field")
        if content is not None and isinstance(hash_, str) and hash_:
            identities.append({"kind": str(kind), "content": content, "hash": hash_})
    if errors:
        raise BadRequest(*errors)
    return names[0], names[1], identities


def parse_match(body: Any) -> tuple[str, str]:
    """``(type, value)`` of a ``MatchRequest``: exactly one of the four keys must be truthy."""
    if not isinstance(body, dict):
        raise BadRequest(ONE_AND_ONLY_ONE)
    given = [(key, body[key]) for key in MATCH_TYPES if body.get(key)]
    if len(given) != 1:
        raise BadRequest(ONE_AND_ONLY_ONE)
    kind, value = given[0]
    if not isinstance(value, str):
        raise BadRequest(f"{kind} must be a `string` type")
    if kind == "username" and not _UUID.match(value):
        raise BadRequest("username must be a valid UUID")
    if kind in IDENTITY_KINDS:
        errors: list[str] = []
        content = _content(kind, value, kind, errors)
        if content is None:
            raise BadRequest(*errors)
        value = content
    return kind, value


class UserServiceState:
    """Users and their identities; in memory, or in an SQLite file when ``path`` is given.

    Users are keyed by uuid, identities by hash (the full ``Identity`` model of §2.3, with
    ``ownerUuid``). Signup is create-if-not-exists keyed by identity hash."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.store = DocumentStore(path)

    def signup(self, first_name: str, last_name: str, identities: list[dict[str, str]]) -> Document:
        """The ``SignupResponse``: the user owning any of the identities' hashes (the first found,
        in request order) or a new one; identities not yet known are attached to that user.
        Identities already owned by another user stay with it (the real service only records
        such a correlation as a ``UserMerge``)."""
        with self.store.transaction():
            owners = (self.store.get(_IDENTITIES, identity["hash"]) for identity in identities)
            owner = next((known["ownerUuid"] for known in owners if known is not None), None)
            user = self.store.get(_USERS, owner) if owner else None
            now = _now()
            if user is None:
                user = {
                    "uuid": str(uuid.uuid4()),
                    "firstName": first_name,
                    "lastName": last_name,
                    "active": False,
                    "created": now,
                    "updated": now,
                }
                self.store.put(_USERS, user["uuid"], user)
            for identity in identities:
                if self.store.get(_IDENTITIES, identity["hash"]) is None:
                    stored = {**identity, "ownerUuid": user["uuid"], "verified": False, "hidden": False}
                    self.store.put(_IDENTITIES, identity["hash"], {**stored, "created": now, "updated": now})
        return {"identities": identities, "hash": identities[0]["hash"], "user": user}

    def match(self, kind: str, value: str) -> Document | None:
        """The ``MatchResponse`` for one match type and value, or None.

        ``hash`` is the matched identity's hash; for ``username`` it is the user's first identity
        (an empty string when the user has none). Emails match case-insensitively."""
        if kind == "username":
            user = self.store.get(_USERS, value)
            owned = [i for i in self.store.documents(_IDENTITIES) if i["ownerUuid"] == value]
            hash_ = owned[0]["hash"] if owned else ""
        else:
            identity = self._identity(kind, value)
            user = self.store.get(_USERS, identity["ownerUuid"]) if identity else None
            hash_ = identity["hash"] if identity else ""
        return None if user is None else {"hash": hash_, "type": kind, "user": user}

    def _identity(self, kind: str, value: str) -> Document | None:
        if kind == "identity_hash":
            return self.store.get(_IDENTITIES, value)
        wanted = value.casefold() if kind == "email" else value
        for identity in self.store.documents(_IDENTITIES):
            content = identity["content"].casefold() if kind == "email" else identity["content"]
            if identity["kind"] == kind and content == wanted:
                return identity
        return None

    def reset(self) -> None:
        self.store.clear()

    def snapshot(self) -> dict[str, Any]:
        return {"users": self.store.documents(_USERS), "identities": self.store.documents(_IDENTITIES)}

    def close(self) -> None:
        self.store.close()


def create_user_service_app(
    api_key: str, state: UserServiceState | None = None, *, latency_ms: float = 0.0
) -> Starlette:
    """The emulator as an ASGI app; ``state`` defaults to a fresh in-memory one."""
    users = state if state is not None else UserServiceState()

    def forbidden(request: Request) -> Response | None:
        # API Gateway answers a missing or wrong key itself, before the Lambda runs.
        given = request.headers.get("x-api-key", "")
        if hmac.compare_digest(given.encode(), api_key.encode()):
            return None
        return JSONResponse({"message": "Forbidden"}, status_code=403)

    async def signup(request: Request) -> Response:
        if (refused := forbidden(request)) is not None:
            return refused
        try:
            first_name, last_name, identities = parse_signup(await read_json(request))
        except BadRequest as error:
            return bad_request(error)
        return JSONResponse(users.signup(first_name, last_name, identities))

    async def match(request: Request) -> Response:
        if (refused := forbidden(request)) is not None:
            return refused
        try:
            kind, value = parse_match(await read_json(request))
        except BadRequest as error:
            return bad_request(error)
        found = users.match(kind, value)
        if found is None:
            return JSONResponse({"message": f"No user matches this {kind}"}, status_code=404)
        return JSONResponse(found)

    return emulator_app(
        routes=[Route("/signup", signup, methods=["POST"]), Route("/match", match, methods=["POST"])],
        state=users,
        control=EmulatorControl(latency_ms),
    )
