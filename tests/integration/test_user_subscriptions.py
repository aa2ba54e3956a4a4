"""``GET /user/subscriptions/{userId}`` (spec §7.3, §12.8; docs/compatibility.md, Links and user
subscriptions): through the ASGI app, and the flow itself where the spec counts its reads.

Clock frozen at the spec's 2023-03-14; the user token checker is a stand-in (test_link.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from supporterflow.adapters.clock import FrozenClock
from supporterflow.bootstrap import Container
from supporterflow.domain.subscriptions.dates import to_iso
from supporterflow.entrypoints.http import create_app
from supporterflow.functions.user_subscriptions import user_subscriptions
from supporterflow.ports import Item, Key, Page, Retry, Table, TokenRejected
from supporterflow.topology import TOPOLOGY
from tests.integration.test_link import FakeTokens
from tests.support import open_container

NOW = datetime(2023, 3, 14, tzinfo=UTC)
API_KEYS = "test_secret,salesforce-key"
TOKEN_USER = "100000001"


def iso(moment: datetime) -> str:
    return to_iso(moment)


@dataclass
class Service:
    container: Container
    api: httpx.AsyncClient
    tokens: FakeTokens

    async def read(self, user_id: str, authorization: str | None) -> httpx.Response:
        headers = {} if authorization is None else {"Authorization": authorization}
        return await self.api.get(f"/user/subscriptions/{user_id}", headers=headers)

    async def link(self, user_id: str, *subscription_ids: str) -> None:
        await self.container.tables["user-subscriptions"].batch_write(
            [
                {"userId": user_id, "subscriptionId": sid, "creationTimestamp": iso(NOW)}
                for sid in subscription_ids
            ]
        )

    async def subscription(self, subscription_id: str, **attributes: Any) -> None:
        await self.container.tables["subscriptions"].put({"subscriptionId": subscription_id, **attributes})


OpenService = Callable[..., Awaitable[Service]]


@pytest.fixture
async def open_service(tmp_path: Path) -> AsyncIterator[OpenService]:
    """``await open_service(tokens, user_api_keys=...)``: ``tokens=None``, no OIDC issuer."""
    async with AsyncExitStack() as stack:

        async def build(tokens: FakeTokens | None = None, user_api_keys: str = API_KEYS) -> Service:
            container = open_container(
                tmp_path, TOPOLOGY, clock=FrozenClock(NOW), user_api_keys=user_api_keys
            )
            stack.push_async_callback(container.aclose)
            container.collaborators["user_tokens"] = tokens
            api = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=create_app(container)), base_url="http://sf"
                )
            )
            return Service(container, api, tokens or FakeTokens())

        yield build


@pytest.fixture
async def service(open_service: OpenService) -> Service:
    return await open_service(FakeTokens())


# --------------------------------------------------------------------------------------------------
# Spec §12.8


async def test_returns_the_correct_subscriptions_for_a_user(service: Service) -> None:
    """Spec §12.8: an API key reads the path's user; a Feast subscription ending in 35 days."""
    await service.link("123", "1")
    await service.subscription(
        "1",
        startTimestamp=iso(NOW),
        endTimestamp=iso(NOW + timedelta(days=35)),
        autoRenewing=True,
        productId="product-id",
        platform="ios-feast",
    )
    response = await service.read("123", "Bearer test_secret")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "subscriptions": [
            {
                "subscriptionId": "1",
                "from": "2023-03-14T00:00:00.000Z",
                "to": "2023-04-18T00:00:00.000Z",
                "valid": True,
                "gracePeriod": False,
                "autoRenewing": True,
                "productId": "product-id",
                "softOptInProductName": "FeastInAppPurchase",
                "platform": "ios-feast",
            }
        ]
    }
    assert service.tokens.calls == []


@dataclass
class Counting:
    """A table that counts the reads the flow makes."""

    inner: Table
    queries: list[Any] = field(default_factory=list)
    batch_gets: list[Sequence[Key]] = field(default_factory=list)

    async def query(self, hash_value: Any, **options: Any) -> Page:
        self.queries.append(hash_value)
        return await self.inner.query(hash_value, **options)

    async def batch_get(self, keys: Sequence[Key]) -> list[Item]:
        self.batch_gets.append(keys)
        return await self.inner.batch_get(keys)


async def test_one_query_and_one_batch_get(service: Service) -> None:
    """Spec §12.8: the links are queried once, the subscriptions read in one BatchGet."""
    await service.link("123", "1")
    await service.subscription("1", endTimestamp=iso(NOW + timedelta(days=35)), platform="ios-feast")
    links = Counting(service.container.tables["user-subscriptions"])
    rows = Counting(service.container.tables["subscriptions"])
    answer = await user_subscriptions(
        "123",
        user_subscriptions=links,  # type: ignore[arg-type]
        subscriptions=rows,  # type: ignore[arg-type]
        clock=FrozenClock(NOW),
    )
    assert answer.status == 200
    assert [entry["subscriptionId"] for entry in answer.body["subscriptions"]] == ["1"]
    assert links.queries == ["123"]
    assert rows.batch_gets == [[{"subscriptionId": "1"}]]


# --------------------------------------------------------------------------------------------------
# Who may read


async def test_the_second_api_key_reads_the_paths_user(service: Service) -> None:
    await service.link("456", "a")
    await service.subscription("a", endTimestamp=iso(NOW))
    response = await service.read("456", "Bearer salesforce-key")
    assert response.status_code == 200
    assert [entry["subscriptionId"] for entry in response.json()["subscriptions"]] == ["a"]


async def test_a_token_reads_the_tokens_user_whatever_the_path(service: Service) -> None:
    await service.link(TOKEN_USER, "mine")
    await service.link("999", "theirs")
    for sid in ("mine", "theirs"):
        await service.subscription(sid, endTimestamp=iso(NOW))
    response = await service.read("999", "Bearer user-token")
    assert response.status_code == 200
    assert [entry["subscriptionId"] for entry in response.json()["subscriptions"]] == ["mine"]
    assert service.tokens.calls == ["Bearer user-token"]


async def test_a_wrong_key_and_no_token_is_401(service: Service) -> None:
    await service.link("123", "1")
    await service.subscription("1", endTimestamp=iso(NOW))
    refused = "incorrect-token: the signature does not verify"
    no_token = "the Authorization header carries no bearer token"
    for authorization, detail in (
        ("Bearer wrong-key", refused),
        ("Bearer test_secret2", refused),
        ("Bearer  test_secret", refused),  # compared as it is: " test_secret"
        (None, no_token),
        ("Bearer ", no_token),
    ):
        response = await service.read("123", authorization)
        assert response.status_code == 401, authorization
        assert response.json() == {"status": 401, "message": "UNAUTHORISED", "detail": detail}


async def test_the_key_is_the_header_without_its_first_bearer(service: Service) -> None:
    """Spec §2.6: the first "Bearer " is removed; a bare key is a key too."""
    for authorization in ("test_secret", "Bearer test_secret"):
        assert (await service.read("123", authorization)).status_code == 200, authorization


async def test_without_an_oidc_issuer_only_api_keys_are_answered(open_service: OpenService) -> None:
    service = await open_service(None)
    assert (await service.read("123", "Bearer test_secret")).status_code == 200
    response = await service.read("123", "Bearer user-token")
    assert response.status_code == 401
    assert "OIDC is not configured" in response.json()["detail"]


async def test_without_api_keys_an_empty_token_reads_nothing(open_service: OpenService) -> None:
    service = await open_service(FakeTokens(), user_api_keys="")
    assert (await service.read("123", "Bearer ")).status_code == 401
    assert (await service.read("123", "Bearer test_secret")).status_code == 401


async def test_token_failures_give_their_status(service: Service) -> None:
    for answer, status in (
        (TokenRejected("incorrect-scope", "no scope"), 403),
        (TokenRejected("missing-identity-id", "no claim"), 400),
        (Retry("keys unreachable"), 503),
    ):
        service.tokens.answers["Bearer user-token"] = answer
        response = await service.read("123", "Bearer user-token")
        assert response.status_code == status, answer
        assert "subscriptions" not in response.json()


# --------------------------------------------------------------------------------------------------
# The answer


async def test_sorted_by_end_with_unparsable_ends_first(service: Service) -> None:
    ends = {
        "later": "2023-05-01T00:00:00.000Z",
        "v8-format": "2023-03-20 07:24:38 UTC",
        "earlier": "2023-03-01T00:00:00.000Z",
        "unparsable-b": "not a date",
        "unparsable-a": "",
        "before-1970": "1969-12-31T00:00:00.000Z",
    }
    await service.link("123", *ends, "no-end")
    for sid, end in ends.items():
        await service.subscription(sid, endTimestamp=end)
    await service.subscription("no-end")
    response = await service.read("123", "Bearer test_secret")
    body = response.json()["subscriptions"]
    assert [entry["subscriptionId"] for entry in body] == [
        "before-1970",
        "no-end",
        "unparsable-a",
        "unparsable-b",
        "earlier",
        "v8-format",
        "later",
    ]
    no_end = body[1]
    assert no_end == {
        "subscriptionId": "no-end",
        "valid": False,
        "gracePeriod": False,
        "softOptInProductName": "InAppPurchase",
    }
    assert (body[3]["valid"], body[3]["gracePeriod"]) == (False, False)


async def test_valid_and_grace_period_at_the_edges(service: Service) -> None:
    edges = {
        "a-ends-in-1-ms": (NOW + timedelta(milliseconds=1), True, False),
        "b-ends-now": (NOW, True, False),
        "c-ended-1-ms-ago": (NOW - timedelta(milliseconds=1), True, True),
        "d-ended-30-days-ago": (NOW - timedelta(days=30), True, True),
        "e-ended-30-days-and-1-ms-ago": (NOW - timedelta(days=30, milliseconds=1), False, False),
    }
    await service.link("123", *edges)
    for sid, (end, _, _) in edges.items():
        await service.subscription(sid, endTimestamp=iso(end))
    body = (await service.read("123", "Bearer test_secret")).json()["subscriptions"]
    states = {entry["subscriptionId"]: (entry["valid"], entry["gracePeriod"]) for entry in body}
    assert states == {sid: (valid, grace) for sid, (_, valid, grace) in edges.items()}
    # By end ascending.
    assert [entry["subscriptionId"] for entry in body] == sorted(edges, reverse=True)


async def test_optional_attributes_are_left_out_when_the_row_lacks_them(service: Service) -> None:
    await service.link("123", "cancelled", "bare")
    await service.subscription(
        "cancelled",
        startTimestamp="2023-01-01T00:00:00.000Z",
        endTimestamp="2023-04-01T00:00:00.000Z",
        cancellationTimestamp="2023-03-01T00:00:00.000Z",
        autoRenewing=False,
        productId="uk.co.guardian.gla.1month",
        platform="ios",
        receipt="not shown",
        applePayload={"not": "shown"},
    )
    await service.subscription(
        "bare", endTimestamp="2023-05-01T00:00:00.000Z", autoRenewing=True, productId="guardian.month.11.99"
    )
    response = await service.read("123", "Bearer test_secret")
    assert response.json() == {
        "subscriptions": [
            {
                "subscriptionId": "cancelled",
                "from": "2023-01-01T00:00:00.000Z",
                "to": "2023-04-01T00:00:00.000Z",
                "cancellationTimestamp": "2023-03-01T00:00:00.000Z",
                "valid": True,
                "gracePeriod": False,
                "autoRenewing": False,
                "productId": "uk.co.guardian.gla.1month",
                "softOptInProductName": "InAppPurchase",
                "platform": "ios",
            },
            {
                "subscriptionId": "bare",
                "to": "2023-05-01T00:00:00.000Z",
                "valid": True,
                "gracePeriod": False,
                "autoRenewing": True,
                "productId": "guardian.month.11.99",
                "softOptInProductName": "InAppPurchase",
            },
        ]
    }


async def test_android_feast_is_a_feast_product(service: Service) -> None:
    await service.link("123", "token")
    await service.subscription("token", endTimestamp=iso(NOW), platform="android-feast")
    [entry] = (await service.read("123", "Bearer test_secret")).json()["subscriptions"]
    assert entry["softOptInProductName"] == "FeastInAppPurchase"


async def test_superseded_purchases_and_unfetched_links_are_left_out(service: Service) -> None:
    await service.link("123", "old-token", "new-token", "not-fetched-yet")
    await service.subscription(
        "old-token", endTimestamp="2023-04-01T00:00:00.000Z", platform="android", supersededBy="new-token"
    )
    await service.subscription("new-token", endTimestamp="2023-04-10T00:00:00.000Z", platform="android")
    response = await service.read("123", "Bearer test_secret")
    assert [entry["subscriptionId"] for entry in response.json()["subscriptions"]] == ["new-token"]


async def test_a_user_without_links_has_no_subscriptions(service: Service) -> None:
    response = await service.read("123", "Bearer test_secret")
    assert response.status_code == 200
    assert response.json() == {"subscriptions": []}


async def test_every_page_of_links_is_read(service: Service) -> None:
    ids = [f"sub-{n:03d}" for n in range(250)]
    await service.link("123", *ids)
    await service.link("124", "someone-else")
    await service.container.tables["subscriptions"].batch_write(
        [{"subscriptionId": sid, "endTimestamp": iso(NOW + timedelta(days=n))} for n, sid in enumerate(ids)]
        + [{"subscriptionId": "someone-else", "endTimestamp": iso(NOW)}]
    )
    response = await service.read("123", "Bearer test_secret")
    assert [entry["subscriptionId"] for entry in response.json()["subscriptions"]] == ids


async def test_the_route_is_described(service: Service) -> None:
    spec = (await service.api.get("/openapi.json")).json()
    operation = spec["paths"]["/user/subscriptions/{userId}"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    item = schema["$defs"]["UserSubscription"]["properties"]
    assert "from" in item
    assert "from_" not in item
