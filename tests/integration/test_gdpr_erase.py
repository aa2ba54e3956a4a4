"""GDPR erasure of a mobile user (``supporterflow gdpr erase``, ``DELETE /user/{userId}``): links
deleted with a Cancellation each, queued messages holding the user id or email removed (others
kept), an audit entry without the id; afterwards no table row or queue message holds the id or
the email but the Cancellations; a second run is harmless. Over the real SQLite tables and
queues of the service's topology."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from supporterflow.adapters.clock import FrozenClock
from supporterflow.bootstrap import Container
from supporterflow.domain.subscriptions.dates import date_to_ms, to_iso
from supporterflow.entrypoints.cli import app
from supporterflow.entrypoints.cli_common import out
from supporterflow.entrypoints.http import create_app
from supporterflow.entrypoints.http.gdpr import erase
from supporterflow.functions.gdpr_erase import holds_user, user_hash
from supporterflow.functions.soft_opt_in import braze_email, soi_event
from supporterflow.ports import ChangeRecord, Queue
from supporterflow.runtime.dispatcher import encode_record
from supporterflow.topology import TOPOLOGY
from tests.support import open_container

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
USER = "u-4242"
EMAIL = "erase.me@example.com"
# A prefix of USER: matching is on fields, so OTHER's messages are never taken for USER's.
OTHER = "u-42"
OTHER_EMAIL = "someone.else@example.com"
ADMIN = {"x-api-key": "test-admin-key"}

SOI = "soft-opt-in-consent-setter-queue"
SOI_DLQ = "soft-opt-in-acquisitions-dlq"
BRAZE = "braze-emails"
RETRY = "user-subscriptions-soft-opt-in-retry"
RETRY_DLQ = "user-subscriptions-soft-opt-in-retry-dlq"

CANCELLATIONS = sorted(
    [
        soi_event(USER, "Cancellation", "ios", "s1").decode(),
        soi_event(USER, "Cancellation", "ios-feast", "s2").decode(),
        soi_event(USER, "Cancellation", None, "s3").decode(),  # its subscription is not stored
    ]
)


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    opened = open_container(tmp_path, TOPOLOGY, FrozenClock(NOW))
    yield opened
    opened.close()


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def link_record(user_id: str, subscription_id: str) -> bytes:
    link = {"userId": user_id, "subscriptionId": subscription_id, "creationTimestamp": to_iso(NOW)}
    return encode_record(
        ChangeRecord(
            sequence=7,
            table="user-subscriptions",
            event_name="INSERT",
            keys={"userId": user_id, "subscriptionId": subscription_id},
            old_image=None,
            new_image=link,
            principal=None,
            committed_at=NOW,
        )
    )


async def populate(container: Container) -> None:
    """USER linked to three subscriptions (one not stored yet) and present on every queue that can
    hold a user; OTHER linked and present on the same queues."""
    tables, queues = container.tables, container.queues
    await tables["subscriptions"].batch_write(
        puts=[{"subscriptionId": "s1", "platform": "ios"}, {"subscriptionId": "s2", "platform": "ios-feast"}]
    )
    await tables["user-subscriptions"].batch_write(
        puts=[
            {"userId": u, "subscriptionId": s, "creationTimestamp": to_iso(NOW)}
            for u, s in [(USER, "s1"), (USER, "s2"), (USER, "s3"), (OTHER, "s1")]
        ]
    )
    for user_id in (USER, OTHER):
        dlq_entry = {"subscriptionId": "s3", "identityId": user_id, "timestamp": date_to_ms(NOW)}
        await queues[SOI_DLQ].send(json.dumps(dlq_entry).encode())
        await queues[SOI].send(soi_event(user_id, "Acquisition", "ios", "s1"))
        await queues[RETRY].send(link_record(user_id, "s1"))
        await queues[RETRY_DLQ].send(link_record(user_id, "s2"))
    await queues[BRAZE].send(braze_email(EMAIL, USER, "ios"))
    await queues[BRAZE].send(braze_email(OTHER_EMAIL, OTHER, "ios"))
    # Not the user's: left as they are.
    await queues["apple-subscriptions-to-fetch"].send(b'{"subscriptionId":"s1"}')
    await queues[RETRY].send(b"not json")


async def bodies(queue: Queue) -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        page = await queue.list(limit=2, cursor=cursor)
        found += [m.body.decode() for m in page.messages]
        if page.cursor is None:
            return found
        cursor = page.cursor


async def everything(container: Container) -> dict[str, list[str]]:
    """Every row of every table and every message of every queue, as text."""
    state: dict[str, list[str]] = {}
    for name, table in container.tables.items():
        rows: list[str] = []
        cursor = None
        while True:
            page = await table.scan(limit=2, cursor=cursor)
            rows += [json.dumps(item, sort_keys=True) for item in page.items]
            if page.cursor is None:
                break
            cursor = page.cursor
        state["table:" + name] = sorted(rows)
    for name, queue in container.queues.items():
        state["queue:" + name] = sorted(await bodies(queue))
    return state


async def links_of(container: Container, user_id: str) -> list[str]:
    page = await container.tables["user-subscriptions"].query(user_id, limit=100)
    return [item["subscriptionId"] for item in page.items]


async def audit(container: Container) -> list[dict[str, object]]:
    page = await container.tables["gdpr-erasures"].scan(limit=100)
    return sorted(page.items, key=lambda item: str(item["id"]))


def assert_erased(state: dict[str, list[str]]) -> None:
    """Only the Cancellations on the consent setter's queue still hold the user id; nothing holds
    the email."""
    holding = {
        (where, text) for where, texts in state.items() for text in texts if USER in text or EMAIL in text
    }
    assert holding == {("queue:" + SOI, c) for c in CANCELLATIONS}


EXPECTED_REMOVED = {SOI_DLQ: 1, SOI: 1, BRAZE: 1, RETRY: 1, RETRY_DLQ: 1}


def expected_hash(container: Container) -> str:
    """The audit's ``userHash``: keyed with the container's identity-hash key."""
    return user_hash(USER, container.collaborators["identity_key"])


async def test_erasure_unlinks_cancels_removes_the_users_messages_and_keeps_the_others(
    container: Container,
) -> None:
    await populate(container)
    before = await everything(container)

    summary = await erase(container, USER)

    assert (summary.links, summary.removed, summary.messages) == (3, EXPECTED_REMOVED, 5)
    assert summary.user_hash == expected_hash(container)
    assert summary.erased_at == to_iso(NOW)
    assert await links_of(container, USER) == []
    assert await links_of(container, OTHER) == ["s1"]
    after = await everything(container)
    # The consent setter's queue: USER's Acquisition gone, one Cancellation per link sent.
    assert after["queue:" + SOI] == sorted(
        [soi_event(OTHER, "Acquisition", "ios", "s1").decode(), *CANCELLATIONS]
    )
    # OTHER's messages and messages of no user are all kept, unchanged.
    for where in ("queue:" + SOI_DLQ, "queue:" + BRAZE, "queue:" + RETRY, "queue:" + RETRY_DLQ):
        assert after[where] == [text for text in before[where] if USER not in text]
        assert len(after[where]) == len(before[where]) - 1
    assert after["queue:apple-subscriptions-to-fetch"] == ['{"subscriptionId":"s1"}']
    assert "not json" in after["queue:" + RETRY]
    assert after["table:subscriptions"] == before["table:subscriptions"]
    assert_erased(after)


async def test_the_audit_entry_has_counts_and_the_hash_never_the_id(container: Container) -> None:
    await populate(container)

    summary = await erase(container, USER)

    (entry,) = await audit(container)
    assert entry == {
        "id": summary.erasure_id,
        "erasedAt": to_iso(NOW),
        "userHash": expected_hash(container),
        "linksDeleted": 3,
        "cancellationsSent": 3,
        "messagesRemoved": 5,
        "messagesRemovedByQueue": EXPECTED_REMOVED,
    }
    assert USER not in json.dumps(entry)


async def test_a_second_run_is_harmless(container: Container) -> None:
    await populate(container)
    first = await erase(container, USER)
    after_first = await everything(container)

    second = await erase(container, USER)

    assert (second.links, second.removed, second.messages) == (0, {}, 0)
    assert second.erasure_id != first.erasure_id
    after_second = await everything(container)
    # Nothing changed but a second audit entry, with zero counts; no Cancellation sent twice.
    assert {k: v for k, v in after_second.items() if k != "table:gdpr-erasures"} == {
        k: v for k, v in after_first.items() if k != "table:gdpr-erasures"
    }
    entries = {str(e["id"]): e for e in await audit(container)}
    assert set(entries) == {first.erasure_id, second.erasure_id}
    assert entries[second.erasure_id]["linksDeleted"] == 0
    assert entries[second.erasure_id]["messagesRemoved"] == 0
    assert entries[second.erasure_id]["userHash"] == first.user_hash
    assert_erased(after_second)


async def test_a_user_with_nothing_stored_gets_an_audit_entry_only(container: Container) -> None:
    summary = await erase(container, USER)

    assert (summary.links, summary.removed) == (0, {})
    assert [e["id"] for e in await audit(container)] == [summary.erasure_id]
    assert await bodies(container.queues[SOI]) == []


async def test_an_empty_user_id_is_refused(container: Container) -> None:
    with pytest.raises(ValueError, match="user id"):
        await erase(container, "")


@pytest.mark.parametrize(
    ("body", "held"),
    [
        (b'{"identityId":"u-4242","eventType":"Acquisition"}', True),
        (b'{"identityId":"u-4242","eventType":"Cancellation"}', False),
        (b'{"subscriptionId":"s","identityId":"u-4242","timestamp":1}', True),
        (b'{"IdentityUserId":"u-4242","To":{"Address":"x@example.com"}}', True),
        (b'{"table":"user-subscriptions","keys":{"userId":"u-4242"},"old_image":null}', True),
        (b'{"table":"user-subscriptions","keys":{},"old_image":{"userId":"u-4242"}}', True),
        (b'{"identityId":"u-42424"}', False),
        (b'{"identityId":"u-42"}', False),
        (b'{"keys":{"userId":"u-4242"}}', False),  # not a change record
        (b'"u-4242"', False),
        (b"u-4242", False),
        (b"\xff\xfe", False),
    ],
)
def test_messages_are_matched_on_their_fields(body: bytes, held: bool) -> None:
    assert holds_user(body, USER) is held


# the queue port's remove ---------------------------------------------------------------------


async def test_remove_deletes_the_named_messages_of_that_queue_only(container: Container) -> None:
    braze, soi = container.queues[BRAZE], container.queues[SOI]
    ids = await braze.send_batch([b"1", b"2", b"3"])
    (elsewhere,) = await soi.send_batch([b"4"])
    (held,) = await braze.receive(1, 30)  # in flight: removed all the same

    assert await braze.remove([ids[0], ids[2], elsewhere, "999999"]) == 2

    assert await bodies(braze) == ["2"]
    assert held.message_id == ids[0]
    assert await bodies(soi) == ["4"]
    assert await braze.remove([]) == 0
    assert await braze.remove([ids[0]]) == 0


# DELETE /user/{userId} -------------------------------------------------------------------------


async def test_the_route_erases_and_answers_the_summary_without_the_id(
    container: Container, client: httpx.AsyncClient
) -> None:
    await populate(container)

    response = await client.delete(f"/user/{USER}", headers=ADMIN)

    assert response.status_code == 200
    body = response.json()
    (entry,) = await audit(container)
    assert body == {
        "erasureId": entry["id"],
        "erasedAt": to_iso(NOW),
        "userHash": expected_hash(container),
        "linksDeleted": 3,
        "cancellationsSent": 3,
        "messagesRemoved": 5,
        "messagesRemovedByQueue": EXPECTED_REMOVED,
    }
    assert USER not in response.text
    assert_erased(await everything(container))
    again = await client.delete(f"/user/{USER}", headers=ADMIN)
    assert (again.status_code, again.json()["linksDeleted"], again.json()["messagesRemoved"]) == (200, 0, 0)


@pytest.mark.parametrize("headers", [{}, {"x-api-key": "wrong"}, {"authorization": "Bearer test-admin-key"}])
async def test_the_route_needs_an_admin_key(
    container: Container, client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await populate(container)
    before = await everything(container)

    response = await client.delete(f"/user/{USER}", headers=headers)

    assert response.status_code == 401
    assert response.json()["status"] == 401
    assert await everything(container) == before


# supporterflow gdpr erase ----------------------------------------------------------------------


def summary_rows(output: str) -> dict[str, str]:
    """The two-column rows of the printed rich table."""
    rows: dict[str, str] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    return rows


def test_the_cli_erases_and_prints_the_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_DATABASE", str(tmp_path / "supporterflow.sqlite3"))
    monkeypatch.setenv("SF_OBJECT_STORE_DIR", str(tmp_path / "objects"))
    monkeypatch.delenv("SF_TOPOLOGY", raising=False)

    async def prepare() -> None:
        container = open_container(tmp_path, TOPOLOGY, FrozenClock(NOW))
        try:
            await populate(container)
        finally:
            container.close()

    async def check() -> tuple[dict[str, list[str]], list[dict[str, object]]]:
        container = open_container(tmp_path, TOPOLOGY, FrozenClock(NOW))
        try:
            return await everything(container), await audit(container)
        finally:
            container.close()

    asyncio.run(prepare())

    # The console is made at import, before CliRunner's environment: its width is set directly.
    monkeypatch.setattr(out, "width", 200)
    result = CliRunner().invoke(app, ["gdpr", "erase", USER])

    assert result.exit_code == 0, result.output
    rows = summary_rows(result.output)
    state, entries = asyncio.run(check())
    (entry,) = entries
    assert rows["erasure id"] == entry["id"]
    assert rows["user hash"] == user_hash(USER, (tmp_path / "identity-hash.key").read_text().strip().encode())
    assert (rows["links deleted"], rows["cancellations sent"], rows["messages removed"]) == ("3", "3", "5")
    assert {name: rows[name] for name in EXPECTED_REMOVED} == {q: str(n) for q, n in EXPECTED_REMOVED.items()}
    assert USER not in result.output
    assert_erased(state)

    again = CliRunner().invoke(app, ["gdpr", "erase", USER], env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    repeat = summary_rows(again.output)
    assert (repeat["links deleted"], repeat["messages removed"]) == ("0", "0")
    assert repeat["erasure id"] != rows["erasure id"]
    assert len(asyncio.run(check())[1]) == 2
