"""The operator dashboard (``/admin``) in process, on real SQLite tables and queues: signing in,
the overview, dead letters replayed and deleted after a confirmation, the search and the pages it
leads to. What no page may show: identity contents, receipts and purchase tokens in clear."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from supporterflow.adapters.clock import FrozenClock
from supporterflow.bootstrap import Container, identity_key
from supporterflow.entrypoints.http import create_app
from supporterflow.entrypoints.http.admin.display import References, fingerprint, safe, shown_id
from supporterflow.functions.gdpr_erase import user_hash
from supporterflow.runtime.process import Runtime
from supporterflow.topology import TOPOLOGY
from tests.support import drive, open_container

KEY = "test-admin-key"
NOW = "2026-03-01T12:00:00+00:00"
APPLE_ID = "2000000123456789"
GOOGLE_TOKEN = "oikebkpxboycddzrimulgbdw.AO-J1OwMzjU-KeHqK8b288GmSMbT2lJS1T0bKjk8q6_ABkduxUOerNYLFRplQjbt"
EMAIL = "dante.alighieri@test.sandbox.comicrelief.com"
RECEIPT = "MIIT" + "A" * 300
EVENT_ID = "9c1f0a52-4bd5-4e55-9d8b-2d8b1c7a0d11"
DLQ = "supporter-events-to-deliver-dlq"


@pytest.fixture
async def container(tmp_path: Path) -> AsyncIterator[Container]:
    opened = open_container(tmp_path, TOPOLOGY, FrozenClock(NOW), admin_api_keys=KEY)
    yield opened
    await opened.aclose()


@pytest.fixture
async def browser(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    """A signed-in browser: the session cookie, and ``Origin`` on every request as a browser
    sends it on posts."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(container)),
        base_url="http://sf",
        headers={"origin": "http://sf"},
    ) as client:
        signed_in = await client.post("/admin/login", data={"key": KEY})
        assert signed_in.status_code == 303, signed_in.text
        yield client


async def store_story(container: Container) -> None:
    tables = container.tables
    await tables["subscriptions"].put(
        {
            "subscriptionId": APPLE_ID,
            "platform": "ios",
            "status": "billing_retry",
            "productId": "uk.co.guardian.gla.1month",
            "startTimestamp": "2026-01-01T00:00:00.000Z",
            "endTimestamp": "2026-03-01T00:00:00.000Z",
            "fetchedAt": "2026-03-01T11:00:00.000Z",
            "receipt": RECEIPT,
        }
    )
    for at, kind in (
        ("2026-03-01T10:00:00.000Z", "DID_RENEW"),
        ("2026-03-01T10:59:00.000Z", "DID_FAIL_TO_RENEW"),
    ):
        await tables["subscription-events"].put(
            {
                "subscriptionId": APPLE_ID,
                "timestampAndType": f"{at}|{kind}",
                "date": "2026-03-01",
                "timestamp": at,
                "eventType": kind,
                "platform": "ios",
                "applePayload": {"receipt": RECEIPT},
            }
        )
    await tables["subscription-events"].put(
        {
            "subscriptionId": GOOGLE_TOKEN,
            "timestampAndType": "2026-03-01T09:00:00.000Z|SUBSCRIPTION_PURCHASED",
            "date": "2026-03-01",
            "timestamp": "2026-03-01T09:00:00.000Z",
            "eventType": "SUBSCRIPTION_PURCHASED",
            "platform": "android",
            "googlePayload": {"purchaseToken": GOOGLE_TOKEN},
        }
    )
    await tables["user-subscriptions"].put(
        {"userId": "user-1", "subscriptionId": APPLE_ID, "creationTimestamp": "2026-03-01T10:30:00.000Z"}
    )
    await tables["supporter-events"].put(
        {
            "id": EVENT_ID,
            "producer": "donations",
            "status": "failed",
            "receivedAt": "2026-03-01T11:30:00+00:00",
            "request": {"user-service": {"identities": [{"kind": "email", "content": EMAIL}]}, "erp": []},
            "answer": {"data": {"identities": [{"kind": "email", "hash": "ab" * 32}]}},
            "responses": [{"service": "user-service", "call": "signup", "user": "u-1"}],
            "reason": f"ERPNext refused the document for {EMAIL}",
        }
    )
    queue = container.queues["supporter-events-to-deliver"]
    for n in range(2):
        await queue.send(json.dumps({"id": f"event-{n}", "email": EMAIL}).encode())
    for received in await queue.receive(10, 30):
        await queue.dead_letter(received, f"Retry: ERPNext answered 503 for {EMAIL}")


def assert_nothing_sensitive(html: str) -> None:
    for secret in (EMAIL, GOOGLE_TOKEN, RECEIPT, RECEIPT[:60]):
        assert secret not in html


async def test_pages_need_a_signed_in_operator(container: Container) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(container)), base_url="http://sf"
    ) as anonymous:
        assert (await anonymous.get("/admin")).headers["location"] == "/admin/login"
        assert (await anonymous.get(f"/admin/queues/{DLQ}/dead-letters")).status_code == 303
        wrong = await anonymous.post("/admin/login", data={"key": "nope"})
        assert wrong.status_code == 401
        assert "sf_admin" not in wrong.headers.get("set-cookie", "")
        assert (
            await anonymous.post(f"/admin/queues/{DLQ}/dead-letters/replay", data={"all": "yes"})
        ).status_code == 401
        # Scripts may use the key itself.
        assert (await anonymous.get("/admin", headers={"x-api-key": KEY})).status_code == 200


async def test_a_post_from_another_site_is_refused(browser: httpx.AsyncClient, container: Container) -> None:
    await store_story(container)
    refused = await browser.post(
        f"/admin/queues/{DLQ}/dead-letters/replay",
        data={"all": "yes", "confirm": "yes"},
        headers={"origin": "https://evil.example"},
    )
    assert refused.status_code == 403
    assert (await container.queues[DLQ].depth()).total == 2


async def test_the_overview_shows_queues_dead_letters_and_the_newest_events(
    browser: httpx.AsyncClient, container: Container
) -> None:
    await store_story(container)
    page = await browser.get("/admin")
    assert page.status_code == 200
    html = page.text
    assert f'href="/admin/queues/{DLQ}/dead-letters">2<' in html
    assert "DID_FAIL_TO_RENEW" in html
    assert "SUBSCRIPTION_PURCHASED" in html
    assert EVENT_ID in html
    assert fingerprint(GOOGLE_TOKEN) in html
    # Each notification's processing state: fetched since (the Apple ones), or still waiting.
    states = re.findall(r'<td class="state">([^<]*)</td>', html)
    assert states == ["fetched: billing_retry", "fetched: billing_retry", "waiting for its fetch"]
    assert_nothing_sensitive(html)


async def test_dead_letters_are_shown_with_reasons_and_replayed_after_a_confirmation(
    browser: httpx.AsyncClient, container: Container
) -> None:
    await store_story(container)
    page = await browser.get(f"/admin/queues/{DLQ}/dead-letters")
    assert page.status_code == 200
    assert "Retry: ERPNext answered 503 for &lt;redacted " in page.text
    assert_nothing_sensitive(page.text)
    ids = re.findall(r'name="id" value="([^"]+)"', page.text)
    assert len(ids) == 2

    asked = await browser.post(f"/admin/queues/{DLQ}/dead-letters/replay", data={"id": ids[0]})
    assert asked.status_code == 200
    assert "Confirm: replay" in asked.text
    assert (await container.queues[DLQ].depth()).total == 2  # nothing done before the confirmation

    done = await browser.post(
        f"/admin/queues/{DLQ}/dead-letters/replay", data={"id": ids[0], "confirm": "yes"}
    )
    assert "1 message(s) went back" in done.text
    assert (await container.queues[DLQ].depth()).total == 1
    assert (await container.queues["supporter-events-to-deliver"].depth()).total == 1

    deleted = await browser.post(
        f"/admin/queues/{DLQ}/dead-letters/delete", data={"id": ids[1], "confirm": "yes"}
    )
    assert "1 message(s) deleted" in deleted.text
    assert (await container.queues[DLQ].depth()).total == 0


async def test_the_search_finds_a_subscription_by_its_id_or_token_and_shows_its_timeline(
    browser: httpx.AsyncClient, container: Container
) -> None:
    await store_story(container)
    found = await browser.post("/admin/search", data={"q": APPLE_ID})
    assert found.status_code == 303
    assert APPLE_ID not in found.headers["location"]  # a sealed reference
    page = await browser.get(found.headers["location"])
    html = page.text
    timeline = html[html.index('id="timeline"') :]
    assert (
        timeline.index("DID_RENEW")
        < timeline.index("linked to user user-1")
        < timeline.index("DID_FAIL_TO_RENEW")
        < timeline.index("fetched: billing_retry")
    )
    assert_nothing_sensitive(html)

    by_token = await browser.post("/admin/search", data={"q": GOOGLE_TOKEN})
    assert by_token.status_code == 303
    assert GOOGLE_TOKEN not in by_token.headers["location"]
    google = await browser.get(by_token.headers["location"])
    assert "SUBSCRIPTION_PURCHASED" in google.text
    assert_nothing_sensitive(google.text)


async def test_the_search_finds_a_supporter_event_and_a_user(
    browser: httpx.AsyncClient, container: Container
) -> None:
    await store_story(container)
    found = await browser.post("/admin/search", data={"q": EVENT_ID})
    assert found.headers["location"] == f"/admin/supporter-events/{EVENT_ID}"
    page = await browser.get(found.headers["location"])
    assert "user-service" in page.text
    assert "failed" in page.text
    assert_nothing_sensitive(page.text)

    user = await browser.post("/admin/search", data={"q": "user-1"})
    assert user.status_code == 303
    assert "user-1" in (await browser.get(user.headers["location"])).text

    nothing = await browser.post("/admin/search", data={"q": "no-such-thing"})
    assert nothing.status_code == 404


def test_references_round_trip_and_refuse_forgeries() -> None:
    references = References(b"key")
    ref = references.seal(GOOGLE_TOKEN)
    assert GOOGLE_TOKEN not in ref
    assert references.open(ref) == GOOGLE_TOKEN
    assert References(b"other").open(ref) is None
    assert references.open("garbage") is None


@pytest.mark.parametrize(
    ("value", "hidden"),
    [
        (EMAIL, True),
        ("+447847000000", True),
        ("07847 000 000", True),
        (GOOGLE_TOKEN, True),
        (RECEIPT, True),
        (APPLE_ID, False),
        ("uk.co.guardian.subscription.3", False),
        ("com.guardian", False),
        (EVENT_ID, False),
    ],
)
def test_sensitive_values_are_fingerprinted_by_their_shape(value: str, hidden: bool) -> None:
    shown: Any = safe({"neutral": value})["neutral"]
    assert (shown != value) is hidden
    assert (shown_id(value) != value) is (hidden or not re.fullmatch(r"[\d-]+|[0-9a-f-]{36}", value))


async def test_the_overview_draws_each_queues_trend_from_its_samples(
    browser: httpx.AsyncClient, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One sample per view at most every 5 s (the clock is moved here): three views, three points."""
    from supporterflow.entrypoints.http.admin import trends

    now = [1000.0]
    monkeypatch.setattr(trends, "monotonic", lambda: now[0])
    queue = container.queues["apple-subscriptions-to-fetch"]
    for sent in range(3):
        await queue.send(b"{}")
        await browser.get("/admin")
        now[0] += 10 if sent else 1  # the second view comes too soon: no sample
    page = (await browser.get("/admin")).text
    row = page[page.index('data-queue="apple-subscriptions-to-fetch"') :]
    points = re.search(r'<polyline points="([^"]+)"', row)
    assert points is not None
    assert len(points.group(1).split()) == 3


async def test_the_timeline_shows_each_fetch_state_change_link_and_expiry_recorded(
    browser: httpx.AsyncClient, container: Container
) -> None:
    """The activity subscriptions (``record_activity``) and the soft opt-in's note, run as the
    runtime runs them."""
    assert isinstance(container.clock, FrozenClock)
    clock = container.clock
    subscriptions = container.tables["subscriptions"]
    row = {
        "subscriptionId": APPLE_ID,
        "platform": "ios",
        "status": "active",
        "endTimestamp": "2026-04-01T12:00:00.000Z",
        "fetchedAt": "2026-03-01T12:00:00.000Z",
    }
    await subscriptions.put({**row, "receipt": RECEIPT})
    clock.advance(60)
    await subscriptions.put(
        {**row, "receipt": RECEIPT, "fetchedAt": "2026-03-01T12:01:00.000Z"}
    )  # same state
    clock.advance(60)
    await subscriptions.put({**row, "status": "billing_retry", "fetchedAt": "2026-03-01T12:02:00.000Z"})
    clock.advance(60)
    await container.tables["user-subscriptions"].put({"userId": "user-9", "subscriptionId": APPLE_ID})
    activity = container.tables["subscription-activity"]

    async def recorded() -> bool:
        return len((await activity.query(APPLE_ID)).items) == 5

    await drive(Runtime(container, http=False), recorded)

    found = await browser.post("/admin/search", data={"q": APPLE_ID})
    html = (await browser.get(found.headers["location"])).text
    timeline = html[html.index('id="timeline"') :]
    titles = re.findall(r"<strong>([^<]+)</strong>", timeline)
    user = user_hash("user-9", identity_key(container.settings))[:12]
    assert titles == [
        "fetched: active",
        "fetched: active",
        "state: active → billing_retry",
        f"linked to user #{user}",
        f"soft opt-in for user #{user}: Acquisition sent to the consent setter",
    ]
    assert f"user-9</a> (#{user})" in html
    assert_nothing_sensitive(html)
    rows = (await activity.query(APPLE_ID)).items
    assert all("receipt" not in json.dumps(r) and "user-9" not in json.dumps(r) for r in rows)
