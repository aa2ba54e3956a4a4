"""A subscription removed by TTL loses its user links, and each linked user's consents are
recalculated: one ``Cancellation`` per user (spec §5.11, §8.4, §12.7; the original sent one for
the first user only, §13.1.7). Over the real SQLite tables and queues, then through the runtime
with the TTL sweeper."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from supporterflow.adapters.clock import FrozenClock
from supporterflow.bootstrap import Container
from supporterflow.declare import Topology
from supporterflow.domain.subscriptions.dates import date_to_second_timestamp, thirty_months, to_iso
from supporterflow.functions.delete_links import LinkDeletions, delete_links
from supporterflow.functions.soft_opt_in import soft_opt_in
from supporterflow.ports import TTL_PRINCIPAL, ChangeEvent, ChangeRecord
from supporterflow.runtime.process import Runtime
from supporterflow.topology import TOPOLOGY
from tests.support import drive, open_container

NOW = datetime(2023, 3, 14, tzinfo=UTC)  # the original tests' frozen clock
SOI = "soft-opt-in-consent-setter-queue"


def cancellation(identity_id: str, subscription_id: str, product: str = "InAppPurchase") -> str:
    return (
        f'{{"identityId":"{identity_id}","eventType":"Cancellation","productName":"{product}",'
        f'"subscriptionId":"{subscription_id}"}}'
    )


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    opened = open_container(tmp_path, TOPOLOGY, FrozenClock(NOW))
    yield opened
    opened.close()


def removed(
    subscription_id: str,
    platform: str | None = "ios",
    *,
    principal: str | None = TTL_PRINCIPAL,
    event: ChangeEvent = "REMOVE",
) -> ChangeRecord:
    """The spec's ``buildRemovedDynamoRecord(id, platform)``: a TTL removal by default."""
    row: dict[str, Any] = {"subscriptionId": subscription_id}
    if platform is not None:
        row["platform"] = platform
    return ChangeRecord(
        sequence=1,
        table="subscriptions",
        event_name=event,
        keys={"subscriptionId": subscription_id},
        old_image=row,
        new_image=None if event == "REMOVE" else row,
        principal=principal,
        committed_at=NOW,
    )


async def link(container: Container, *pairs: tuple[str, str]) -> None:
    await container.tables["user-subscriptions"].batch_write(
        puts=[{"userId": u, "subscriptionId": s, "creationTimestamp": to_iso(NOW)} for u, s in pairs]
    )


async def links_of(container: Container, subscription_id: str) -> list[str]:
    page = await container.tables["user-subscriptions"].query(
        subscription_id, index="subscriptionId-userId", limit=1000
    )
    return [item["userId"] for item in page.items]


async def sent(container: Container) -> list[str]:
    return [m.body.decode() for m in (await container.queues[SOI].list(limit=1000)).messages]


async def handle(container: Container, record: ChangeRecord) -> LinkDeletions:
    result: LinkDeletions = await container.inject(delete_links, leading=1)(record)
    return result


async def test_spec_12_7_a_ttl_removal_deletes_the_link_and_sends_a_cancellation(
    container: Container,
) -> None:
    await link(container, ("123", "1"), ("999", "other"))

    assert await handle(container, removed("1", "ios")) == LinkDeletions(records=1, rows=1)

    assert await links_of(container, "1") == []
    assert await links_of(container, "other") == ["999"]
    assert await sent(container) == [
        '{"identityId":"123","eventType":"Cancellation","productName":"InAppPurchase","subscriptionId":"1"}'
    ]


async def test_spec_12_7_a_feast_removal_cancels_feast_in_app_purchase(container: Container) -> None:
    await link(container, ("123", "1"))

    assert await handle(container, removed("1", "ios-feast")) == LinkDeletions(records=1, rows=1)

    assert await sent(container) == [cancellation("123", "1", "FeastInAppPurchase")]


@pytest.mark.parametrize("event", ["MODIFY", "INSERT"])
async def test_spec_12_7_other_changes_are_not_processed(container: Container, event: ChangeEvent) -> None:
    await link(container, ("123", "1"))

    assert await handle(container, removed("1", event=event)) == LinkDeletions(records=0, rows=0)

    assert await links_of(container, "1") == ["123"]
    assert await sent(container) == []


async def test_every_linked_user_gets_a_cancellation(container: Container) -> None:
    """Fixes spec §13.1.7: the original told the consent setter about the first user only."""
    await link(container, ("456", "1"), ("123", "1"))

    assert await handle(container, removed("1", "android")) == LinkDeletions(records=1, rows=2)

    assert await links_of(container, "1") == []
    assert await sent(container) == [cancellation("123", "1"), cancellation("456", "1")]


async def test_a_manual_delete_keeps_the_links_and_sends_nothing(container: Container) -> None:
    await link(container, ("123", "1"))

    assert await handle(container, removed("1", principal=None)) == LinkDeletions(records=0, rows=0)

    assert await links_of(container, "1") == ["123"]
    assert await sent(container) == []


async def test_a_subscription_nobody_linked_is_counted_with_nothing_sent(container: Container) -> None:
    assert await handle(container, removed("1", None)) == LinkDeletions(records=1, rows=0)
    assert await sent(container) == []


async def test_links_are_read_page_by_page(container: Container) -> None:
    users = [f"{n:03d}" for n in range(250)]
    await link(container, *((user, "1") for user in users))

    assert await handle(container, removed("1")) == LinkDeletions(records=1, rows=250)

    assert await links_of(container, "1") == []
    assert await sent(container) == [cancellation(user, "1") for user in users]


async def test_a_record_handled_again_sends_nothing_twice(container: Container) -> None:
    """A retry after a failure part-way: the links already deleted went with their
    Cancellation; only the rest are deleted and sent."""
    await link(container, ("123", "1"), ("456", "1"))
    await handle(container, removed("1"))
    await link(container, ("789", "1"))  # as if its delete had not happened yet

    assert await handle(container, removed("1")) == LinkDeletions(records=1, rows=1)

    assert await sent(container) == [
        cancellation("123", "1"),
        cancellation("456", "1"),
        cancellation("789", "1"),
    ]


async def test_a_subscription_expiring_by_ttl_through_the_runtime(tmp_path: Path) -> None:
    """Linked: an Acquisition per user. Expired by TTL (the sweeper, as principal ``ttl``): the
    links go and a Cancellation per user follows."""
    streams = tuple(
        dataclasses.replace(s, backoff_base_s=0.001, backoff_max_s=0.01)
        for s in TOPOLOGY.streams
        if s.handler in (soft_opt_in, delete_links)
    )
    clock = FrozenClock(NOW)
    container = open_container(
        tmp_path,
        Topology(tables=TOPOLOGY.tables, queues=TOPOLOGY.queues, streams=streams),
        clock,
        ttl_sweep_seconds=1,
    )
    try:
        end = NOW + timedelta(days=30)
        ttl = date_to_second_timestamp(thirty_months(end))
        await container.tables["subscriptions"].put(
            {
                "subscriptionId": "1",
                "startTimestamp": to_iso(NOW - timedelta(hours=1)),
                "endTimestamp": to_iso(end),
                "platform": "ios",
                "ttl": ttl,
            }
        )
        await link(container, ("123", "1"), ("456", "1"))

        async def acquired() -> bool:
            return len(await sent(container)) == 2

        await drive(Runtime(container, http=False), acquired)
        assert [m.split(",")[1] for m in await sent(container)] == ['"eventType":"Acquisition"'] * 2

        clock.set(datetime.fromtimestamp(ttl, UTC))

        async def cancelled() -> bool:
            return len(await sent(container)) == 4

        async def later() -> None:
            clock.advance(2)  # the sweeper runs when the frozen clock says so

        await drive(Runtime(container, http=False), cancelled, between=later)
        assert await container.tables["subscriptions"].get({"subscriptionId": "1"}) is None
        assert await links_of(container, "1") == []
        assert (await sent(container))[2:] == [cancellation("123", "1"), cancellation("456", "1")]
        assert (await container.queues["subscriptions-delete-links-retry"].depth()).total == 0
    finally:
        await container.aclose()
