"""In-process clients for the two emulators (httpx over ASGI, no socket), with their keys."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from supporterflow.emulators import (
    ErpNextState,
    UserServiceState,
    create_erpnext_app,
    create_user_service_app,
)

USER_SERVICE_KEY = "test-user-service-key"
ERPNEXT_KEY = "test-erpnext-key"
ERPNEXT_SECRET = "test-erpnext-secret"
ERPNEXT_AUTH = {"Authorization": f"token {ERPNEXT_KEY}:{ERPNEXT_SECRET}"}


def client_for(app: Any, headers: dict[str, str]) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://emulator", headers=headers
    )


@pytest.fixture
def users() -> Iterator[UserServiceState]:
    state = UserServiceState()
    yield state
    state.close()


@pytest.fixture
def documents() -> Iterator[ErpNextState]:
    state = ErpNextState(mandatory={"Supporter": ["first_name"]})
    yield state
    state.close()


@pytest.fixture
async def user_service(users: UserServiceState) -> AsyncIterator[httpx.AsyncClient]:
    """A client sending the right ``x-api-key``."""
    async with client_for(
        create_user_service_app(USER_SERVICE_KEY, users), {"x-api-key": USER_SERVICE_KEY}
    ) as c:
        yield c


@pytest.fixture
async def erpnext(documents: ErpNextState) -> AsyncIterator[httpx.AsyncClient]:
    """A client sending the right token; ``Supporter`` requires ``first_name``."""
    async with client_for(create_erpnext_app(ERPNEXT_KEY, ERPNEXT_SECRET, documents), ERPNEXT_AUTH) as c:
        yield c


def email(content: str, hash_: str) -> dict[str, str]:
    return {"kind": "email", "content": content, "hash": hash_}


def mobile(content: str, hash_: str) -> dict[str, str]:
    return {"kind": "mobile", "content": content, "hash": hash_}


def server_messages(body: dict[str, Any]) -> list[str]:
    """The user-facing messages of a Frappe error body (a JSON string of JSON strings)."""
    return [json.loads(item)["message"] for item in json.loads(body["_server_messages"])]
