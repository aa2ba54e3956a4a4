"""Apple receipt revalidation (spec §5.16, §12.9) over the real SQLite tables and queues."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from supporterflow.adapters.clock import FrozenClock
from supporterflow.bootstrap import Container
from supporterflow.functions.apple_revalidate import RevalidationSummary, apple_revalidate, revalidation_delay
from supporterflow.ports import StoredMessage
from supporterflow.topology import TOPOLOGY
from tests.support import open_container

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# The default window as the flow compares it: now - 60 days .. now + 13 hours, exclusive.
WINDOW_START = "2025-12-31T12:00:00.000Z"
WINDOW_END = "2026-03-02T01:00:00.000Z"
INSIDE = "2026-03-01T18:00:00.000Z"

LIVE = "apple-subscriptions-to-fetch"
FEAST = "feast-apple-subscriptions-to-fetch"


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    opened = open_container(tmp_path, TOPOLOGY, FrozenClock(NOW))
    yield opened
    opened.close()


def row(subscription_id: str, **fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "subscriptionId": subscription_id,
        "endTimestamp": INSIDE,
        "autoRenewing": True,
        "platform": "ios",
        "receipt": f"RECEIPT-{subscription_id}",
        **fields,
    }
    return {k: v for k, v in values.items() if v is not None}


async def store(container: Container, *rows: dict[str, Any]) -> None:
    await container.tables["subscriptions"].batch_write(puts=rows)


async def run(container: Container, **arguments: Any) -> RevalidationSummary:
    summary: RevalidationSummary = await container.inject(apple_revalidate)(**arguments)
    return summary


async def messages(container: Container, queue: str) -> list[StoredMessage]:
    found: list[StoredMessage] = []
    cursor = None
    while True:
        page = await container.queues[queue].list(limit=1000, cursor=cursor)
        found += page.messages
        if page.cursor is None:
            return found
        cursor = page.cursor


def delay(message: StoredMessage) -> float:
    return (message.visible_at - message.sent_at).total_seconds()


async def test_spec_12_9_each_receipt_goes_to_its_apps_queue_without_delay(container: Container) -> None:
    await store(
        container,
        row("12345", platform="ios-feast", receipt="FEAST-RECEIPT"),
        row("67890", platform="ios", receipt="LIVE-RECEIPT"),
    )

    summary = await run(container)

    assert summary == RevalidationSummary(
        scanned=2, live=1, feast=1, skipped=0, start=WINDOW_START, end=WINDOW_END
    )
    (feast,) = await messages(container, FEAST)
    (live,) = await messages(container, LIVE)
    assert (feast.body, delay(feast)) == (b'{"receipt":"FEAST-RECEIPT"}', 0)
    assert (live.body, delay(live)) == (b'{"receipt":"LIVE-RECEIPT"}', 0)


async def test_only_auto_renewing_rows_with_a_receipt_strictly_inside_the_window(
    container: Container,
) -> None:
    await store(
        container,
        row("just-after-start", endTimestamp="2025-12-31T12:00:00.001Z"),
        row("just-before-end", endTimestamp="2026-03-02T00:59:59.999Z"),
        row("at-start", endTimestamp=WINDOW_START),
        row("at-end", endTimestamp=WINDOW_END),
        row("before", endTimestamp="2025-11-01T00:00:00.000Z"),
        row("after", endTimestamp="2026-04-01T00:00:00.000Z"),
        row("cancelled", autoRenewing=False),
        row("no-end", endTimestamp=None),
        row("empty-receipt", receipt=""),
        row("google", platform="android", receipt=None),
    )

    summary = await run(container)

    assert sorted(m.body for m in await messages(container, LIVE)) == [
        b'{"receipt":"RECEIPT-just-after-start"}',
        b'{"receipt":"RECEIPT-just-before-end"}',
    ]
    assert await messages(container, FEAST) == []
    assert (summary.scanned, summary.live, summary.feast, summary.skipped) == (10, 2, 0, 2)


async def test_apple_rows_without_receipt_are_warned_about_and_receipts_never_logged(
    container: Container,
) -> None:
    await store(
        container,
        row("1000000001", receipt=""),
        row("1000000002", platform="newsstand", receipt=None),
        row("google-token", platform="android", receipt=None),
        row("1000000003", receipt="SECRET-RECEIPT"),
    )

    with capture_logs() as logs:
        summary = await run(container)

    warned = [entry["subscription_id"] for entry in logs if entry["log_level"] == "warning"]
    assert warned == ["1000000001", "1000000002"]
    assert summary.skipped == 3
    assert "SECRET-RECEIPT" not in repr(logs)


async def test_explicit_bounds_replace_the_default_window(container: Container) -> None:
    await store(
        container,
        row("old", endTimestamp="2025-06-15T00:00:00.000Z"),
        row("recent", endTimestamp=INSIDE),
    )

    summary = await run(
        container, start=datetime(2025, 6, 1, tzinfo=UTC), end=datetime(2025, 7, 1, tzinfo=UTC)
    )

    assert [m.body for m in await messages(container, LIVE)] == [b'{"receipt":"RECEIPT-old"}']
    assert (summary.start, summary.end) == ("2025-06-01T00:00:00.000Z", "2025-07-01T00:00:00.000Z")


async def test_a_row_from_the_app_store_server_api_is_referenced_by_transaction_and_bundle(
    container: Container,
) -> None:
    await store(
        container,
        row("2000000123", receipt=None, bundleId="uk.co.guardian.iphone2"),
        row("2000000456", receipt=None, platform="ios-feast", bundleId="uk.co.guardian.Feast"),
    )

    await run(container)

    assert [m.body for m in await messages(container, LIVE)] == [
        b'{"originalTransactionId":"2000000123","bundleId":"uk.co.guardian.iphone2"}'
    ]
    assert [m.body for m in await messages(container, FEAST)] == [
        b'{"originalTransactionId":"2000000456","bundleId":"uk.co.guardian.Feast"}'
    ]


async def test_messages_of_each_bucket_are_spread_at_ten_a_second(container: Container) -> None:
    await store(
        container,
        *(row(f"live-{n:02d}") for n in range(25)),
        *(row(f"feast-{n:02d}", platform="ios-feast") for n in range(3)),
    )

    await run(container)

    assert sorted(delay(m) for m in await messages(container, LIVE)) == [0] * 10 + [1] * 10 + [2] * 5
    # The Feast bucket counts on its own.
    assert [delay(m) for m in await messages(container, FEAST)] == [0, 0, 0]
    depth = await container.queues[LIVE].depth()
    assert (depth.visible, depth.delayed) == (10, 15)


def test_delays_stop_at_sqs_maximum() -> None:
    assert [revalidation_delay(n) for n in (0, 9, 10, 8_999, 9_000, 9_009, 50_000)] == [
        0,
        0,
        1,
        899,
        900,
        900,
        900,
    ]


async def test_every_page_of_the_table_is_read(container: Container) -> None:
    await store(container, *(row(f"sub-{n:04d}") for n in range(2_500)))
    pages: list[int] = []

    summary = await run(container, progress=pages.append)

    assert sum(pages) == summary.scanned == 2_500
    assert len(pages) > 1
    queued = await messages(container, LIVE)
    assert len(queued) == summary.live == 2_500
    assert {json.loads(m.body)["receipt"] for m in queued} == {f"RECEIPT-sub-{n:04d}" for n in range(2_500)}
    assert max(delay(m) for m in queued) == 249


async def test_an_empty_table_queues_nothing(container: Container) -> None:
    summary = await run(container)

    assert (summary.scanned, summary.live, summary.feast, summary.skipped) == (0, 0, 0, 0)
    assert await messages(container, LIVE) == []
