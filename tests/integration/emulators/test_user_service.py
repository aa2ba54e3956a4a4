"""The user-service emulator: /signup is create-if-not-exists by identity hash, /match finds a
user by exactly one of username, email, mobile or identity hash, and API Gateway guards both."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from supporterflow.emulators.user_service import ONE_AND_ONLY_ONE
from tests.integration.emulators.conftest import email, mobile

DANTE = {
    "firstName": "Dante",
    "lastName": "Alighieri",
    "identities": [
        email("dante.alighieri@test.sandbox.comicrelief.com", "hash-email"),
        mobile("+447847000000", "hash-mobile"),
    ],
}


async def signup(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/signup", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}])
@pytest.mark.parametrize("path", ["/signup", "/match"])
async def test_a_missing_or_wrong_api_key_is_forbidden(
    user_service: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    user_service.headers.pop("x-api-key")
    response = await user_service.post(path, json=DANTE, headers=headers)
    assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})


async def test_a_signup_creates_an_inactive_user_and_answers_a_signup_response(
    user_service: httpx.AsyncClient,
) -> None:
    body = await signup(user_service, DANTE)

    assert body["identities"] == DANTE["identities"]
    assert body["hash"] == "hash-email"
    user = body["user"]
    assert set(user) == {"uuid", "firstName", "lastName", "active", "created", "updated"}
    assert uuid.UUID(user["uuid"]).version == 4
    assert (user["firstName"], user["lastName"], user["active"]) == ("Dante", "Alighieri", False)
    assert user["created"].endswith("Z")


async def test_a_signup_with_a_known_hash_returns_the_same_user_unchanged(
    user_service: httpx.AsyncClient,
) -> None:
    first = await signup(user_service, DANTE)
    again = await signup(
        user_service,
        {"firstName": "Other", "identities": [email("someone.else@example.com", "hash-mobile")]},
    )

    assert again["user"] == first["user"]
    state = (await user_service.get("/__emulator/state")).json()
    assert len(state["users"]) == 1


async def test_new_identities_are_attached_to_the_existing_user(user_service: httpx.AsyncClient) -> None:
    first = await signup(user_service, DANTE)
    await signup(user_service, {"identities": [email("new@example.com", "hash-new"), DANTE["identities"][0]]})

    response = await user_service.post("/match", json={"identity_hash": "hash-new"})
    assert response.json()["user"]["uuid"] == first["user"]["uuid"]


async def test_different_hashes_make_different_users(user_service: httpx.AsyncClient) -> None:
    first = await signup(user_service, DANTE)
    second = await signup(user_service, {"identities": [email("dante.alighieri@example.com", "other")]})
    assert first["user"]["uuid"] != second["user"]["uuid"]


async def test_a_uk_mobile_is_stored_in_international_form(user_service: httpx.AsyncClient) -> None:
    body = await signup(user_service, {"identities": [mobile("(0044) 7000-000 000", "h")]})
    assert body["identities"][0]["content"] == "+447000000000"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "identities is a required field"),
        ({"identities": []}, "identities is a required field"),
        ({"identities": ["abc"]}, "identities[0] must be a `object` type"),
        ({"identities": [{"kind": "email", "content": "a@b.com"}]}, "identities[0].hash is a required field"),
        (
            {"identities": [{"kind": "fax", "content": "1", "hash": "h"}]},
            "identities[0].kind must be one of the following values: email, mobile",
        ),
        ({"identities": [email("abc", "h")]}, "identities[0].content must be a valid email"),
        ({"identities": [mobile("[+44]7000000000", "h")]}, "not a valid mobile number: '[+44]7000000000'"),
        ({"firstName": None, "identities": [email("a@b.com", "h")]}, "firstName must be a `string` type"),
        ([], "The request body must be a JSON object"),
    ],
)
async def test_an_invalid_signup_request_is_a_400_listing_the_problem(
    user_service: httpx.AsyncClient, body: Any, error: str
) -> None:
    response = await user_service.post("/signup", json=body)
    assert response.status_code == 400
    assert any(error in e for e in response.json()["errors"]), response.json()
    assert (await user_service.get("/__emulator/state")).json()["users"] == []


async def test_every_problem_is_reported_at_once(user_service: httpx.AsyncClient) -> None:
    response = await user_service.post("/signup", json={"identities": [{"kind": "fax"}, email("abc", "")]})
    assert response.json()["errors"] == [
        "identities[0].kind must be one of the following values: email, mobile",
        "identities[0].hash is a required field",
        "identities[1].content must be a valid email",
        "identities[1].hash is a required field",
    ]


async def test_malformed_json_is_a_400(user_service: httpx.AsyncClient) -> None:
    response = await user_service.post("/signup", content=b"{not json")
    assert (response.status_code, response.json()["message"]) == (400, "The request body is not valid JSON")


@pytest.mark.parametrize(
    ("query", "expected_hash"),
    [
        ({"email": "dante.alighieri@test.sandbox.comicrelief.com"}, "hash-email"),
        ({"email": "Dante.Alighieri@TEST.sandbox.comicrelief.com"}, "hash-email"),
        ({"mobile": "+447847000000"}, "hash-mobile"),
        ({"mobile": "07847 000 000"}, "hash-mobile"),
        ({"identity_hash": "hash-mobile"}, "hash-mobile"),
    ],
)
async def test_a_user_is_matched_by_an_identity(
    user_service: httpx.AsyncClient, query: dict[str, str], expected_hash: str
) -> None:
    created = await signup(user_service, DANTE)

    response = await user_service.post("/match", json=query)

    assert response.status_code == 200
    assert response.json() == {"hash": expected_hash, "type": next(iter(query)), "user": created["user"]}


async def test_a_user_is_matched_by_username_with_its_first_identity_hash(
    user_service: httpx.AsyncClient,
) -> None:
    created = await signup(user_service, DANTE)

    response = await user_service.post("/match", json={"username": created["user"]["uuid"]})

    assert response.json() == {"hash": "hash-email", "type": "username", "user": created["user"]}


@pytest.mark.parametrize(
    "query",
    [
        {"identity_hash": "unknown"},
        {"email": "nobody@example.com"},
        {"mobile": "+447000000001"},
        {"username": "0f226bb6-c2a2-4233-b2e6-6ae599186d4a"},
    ],
)
async def test_no_match_is_a_404_with_a_message(
    user_service: httpx.AsyncClient, query: dict[str, str]
) -> None:
    await signup(user_service, DANTE)
    response = await user_service.post("/match", json=query)
    assert response.status_code == 404
    assert set(response.json()) == {"message"}


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"email": "a@b.com", "identity_hash": "abc"},
        {"identity_hash": None},
        {"email": "", "mobile": ""},
        ["identity_hash", "abc"],
    ],
)
async def test_match_needs_one_and_only_one_key(user_service: httpx.AsyncClient, query: Any) -> None:
    response = await user_service.post("/match", json=query)
    assert (response.status_code, response.json()["message"]) == (400, ONE_AND_ONLY_ONE)


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ({"username": "not-a-uuid"}, "username must be a valid UUID"),
        ({"mobile": "abc"}, "mobile is not a valid mobile number: 'abc'"),
        ({"identity_hash": 12}, "identity_hash must be a `string` type"),
    ],
)
async def test_match_rejects_a_bad_value(user_service: httpx.AsyncClient, query: Any, error: str) -> None:
    response = await user_service.post("/match", json=query)
    assert (response.status_code, response.json()["message"]) == (400, error)
