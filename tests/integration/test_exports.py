"""The datalake exports on a real SQLite database: both formats against the tables, the clean-up
of secrets, the date partitions, atomic replacement, historical drains and their failures."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from supporterflow.adapters.clock import FrozenClock
from supporterflow.adapters.objects import DirectoryObjectStore
from supporterflow.bootstrap import Container
from supporterflow.domain.exports.columns import (
    EVENT_COLUMNS,
    HISTORICAL_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    USER_SUBSCRIPTION_COLUMNS,
)
from supporterflow.domain.subscriptions.apple_v1 import to_dynamo_event
from supporterflow.functions.export_historical import (
    DrainBusy,
    export_apple_historical,
    export_google_historical,
)
from supporterflow.functions.export_subscription_events import export_subscription_events
from supporterflow.functions.export_tables import export_subscriptions, export_user_subscriptions
from supporterflow.functions.exporting import ExportSummary
from supporterflow.ports import ObjectStore, ObjectWriter
from supporterflow.topology import TOPOLOGY
from tests.support import fast_retries, open_container
from tests.unit.subscriptions.fixtures import apple_notification

NOW = datetime(2026, 12, 2, 0, 3, tzinfo=UTC)
DAY = "2026-12-01"


def on_day(ms: int) -> datetime:
    """A moment of DAY, ``ms`` milliseconds after midnight."""
    return datetime(2026, 12, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def container(tmp_path: Path, clock: FrozenClock) -> Iterator[Container]:
    c = open_container(tmp_path, fast_retries(TOPOLOGY), clock, export_out=str(tmp_path / "export"))
    yield c
    c.close()


def apple_event(at: datetime, transaction: str) -> dict[str, Any]:
    notification = apple_notification()
    notification["unified_receipt"]["latest_receipt_info"][0]["original_transaction_id"] = transaction
    notification["unified_receipt"]["latest_receipt"] = "UkVDRUlQVA=="
    notification["latest_receipt"] = "T0xEUkVDRUlQVA=="
    return to_dynamo_event(notification, now=at, extra='{"guType":"apple-extra"}')


def google_event(at: datetime, token: str) -> dict[str, Any]:
    iso = at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    return {
        "subscriptionId": token,
        "timestampAndType": f"{iso}|SUBSCRIPTION_RENEWED",
        "date": iso[:10],
        "timestamp": iso,
        "eventType": "SUBSCRIPTION_RENEWED",
        "platform": "android",
        "appId": "com.guardian",
        "freeTrial": False,
        "googlePayload": {"version": "1.0", "developerPayload": "", "list": ["", "x", ""]},
        "applePayload": None,
        "ttl": 1_900_000_000,
        "promotional_offer_id": None,
        "promotional_offer_name": None,
        "product_id": "com.guardian.subscription.monthly",
        "extra": "",
        "messageId": "m-" + token,
    }


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    text = gzip.decompress(path.read_bytes()).decode()
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def event_files(root: Path, day: str = DAY) -> tuple[Path, Path]:
    base = root / "export" / "subscription-events"
    return (
        base / "code-data" / f"date={day}" / f"{day}.json.gz",
        base / "parquet" / "code-data" / f"export_date={day}" / f"{day}.parquet",
    )


async def export(container: Container, flow: Any, **arguments: Any) -> ExportSummary:
    summary: ExportSummary = await container.inject(flow)(**arguments)
    return summary


# events --------------------------------------------------------------------------------------


async def test_events_of_a_date_in_both_formats_equal_the_rows_without_secrets(
    container: Container, tmp_path: Path
) -> None:
    events = container.tables["subscription-events"]
    apple = apple_event(datetime(2026, 12, 1, 10, tzinfo=UTC), "1000")
    google = google_event(datetime(2026, 12, 1, 9, 30, 0, 250_000, tzinfo=UTC), "tok-1")
    other_day = google_event(datetime(2026, 11, 30, 23, 59, tzinfo=UTC), "tok-2")
    await events.batch_write([apple, google, other_day])

    summary = await export(container, export_subscription_events, date=DAY)

    ndjson_path, parquet_path = event_files(tmp_path)
    lines = read_ndjson(ndjson_path)
    assert summary.rows == 2
    assert len(lines) == 2
    # In timestamp order (the index's), every attribute kept, secrets gone, '' -> null.
    assert [line["subscriptionId"] for line in lines] == ["tok-1", "1000"]
    expected_google = {
        **google,
        "extra": None,
        "googlePayload": {"version": "1.0", "developerPayload": None, "list": [None, "x", None]},
    }
    assert lines[0] == expected_google
    payload = lines[1]["applePayload"]
    assert "password" not in payload
    assert "latest_receipt" not in payload
    assert "latest_receipt" not in payload["unified_receipt"]
    assert (
        payload["unified_receipt"]["latest_receipt_info"]
        == apple["applePayload"]["unified_receipt"]["latest_receipt_info"]
    )
    price_consent = payload["unified_receipt"]["pending_renewal_info"][0]["price_consent_status"]
    assert price_consent is None  # '' in the row
    kept = {k: v for k, v in apple.items() if k != "applePayload"}
    assert {k: v for k, v in lines[1].items() if k != "applePayload"} == kept

    table = pq.read_table(parquet_path)
    assert table.schema.names == [c.name for c in EVENT_COLUMNS]
    rows = table.to_pylist()
    assert [r["subscriptionId"] for r in rows] == ["tok-1", "1000"]
    assert rows[0]["timestamp"] == datetime(2026, 12, 1, 9, 30, 0, 250_000, tzinfo=UTC)
    assert rows[0]["date"] == date(2026, 12, 1)
    assert rows[0]["extra"] is None
    assert rows[0]["applePayload"] is None
    assert json.loads(rows[0]["googlePayload"]) == expected_google["googlePayload"]
    assert json.loads(rows[1]["applePayload"]) == payload
    assert rows[1]["ttl"] == apple["ttl"]
    assert rows[1]["freeTrial"] is apple["freeTrial"]
    assert rows[0]["messageId"] == "m-tok-1"
    assert rows[1]["notificationUUID"] is None
    assert summary.mismatches == 0

    # DuckDB reads it (and its hive partition) as an analyst would.
    glob = str(tmp_path / "export/subscription-events/parquet/code-data/*/*.parquet")
    found = duckdb.sql(
        "SELECT subscriptionId, export_date, applePayload->>'$.notification_type' "
        f"FROM read_parquet('{glob}', hive_partitioning = true) ORDER BY timestamp"
    ).fetchall()
    assert found == [("tok-1", date(2026, 12, 1), None), ("1000", date(2026, 12, 1), "INITIAL_BUY")]


async def test_a_day_without_events_still_gets_its_files(container: Container, tmp_path: Path) -> None:
    summary = await export(container, export_subscription_events, date=DAY)
    ndjson_path, parquet_path = event_files(tmp_path)
    assert summary.rows == 0
    assert read_ndjson(ndjson_path) == []
    assert pq.read_table(parquet_path).num_rows == 0


async def test_the_default_date_is_yesterday_utc(container: Container, tmp_path: Path) -> None:
    summary = await export(container, export_subscription_events)
    assert summary.date == DAY
    assert all(p.exists() for p in event_files(tmp_path))


async def test_running_a_date_again_replaces_its_files(container: Container, tmp_path: Path) -> None:
    events = container.tables["subscription-events"]
    await events.put(google_event(datetime(2026, 12, 1, 1, tzinfo=UTC), "tok-1"))
    await export(container, export_subscription_events, date=DAY)
    await events.put(google_event(datetime(2026, 12, 1, 2, tzinfo=UTC), "tok-2"))
    await export(container, export_subscription_events, date=DAY)
    ndjson_path, parquet_path = event_files(tmp_path)
    assert [line["subscriptionId"] for line in read_ndjson(ndjson_path)] == ["tok-1", "tok-2"]
    assert pq.read_table(parquet_path).num_rows == 2
    assert list((tmp_path / "export/subscription-events/.partial").iterdir()) == []


class FailingStore:
    """An object store whose writes fail after ``good`` chunks: the export dies mid-upload."""

    def __init__(self, inner: ObjectStore, good: int) -> None:
        self.inner = inner
        self.good = good

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @asynccontextmanager
    async def open_write(self, key: str) -> AsyncIterator[ObjectWriter]:
        async with self.inner.open_write(key) as writer:
            yield _FailingWriter(writer, self)


class _FailingWriter:
    def __init__(self, inner: ObjectWriter, store: FailingStore) -> None:
        self.inner = inner
        self.store = store

    async def write(self, chunk: bytes) -> None:
        if self.store.good <= 0:
            raise OSError("disk on fire")
        self.store.good -= 1
        await self.inner.write(chunk)


class Targets:
    def __init__(self, store: ObjectStore) -> None:
        self.stores = store

    def store(self, dataset: str) -> ObjectStore:
        return self.stores


async def test_a_failed_export_leaves_the_previous_files_whole(container: Container, tmp_path: Path) -> None:
    events = container.tables["subscription-events"]
    await events.batch_write([google_event(on_day(i * 1000), f"tok-{i}") for i in range(3000)])
    await export(container, export_subscription_events, date=DAY, formats=["ndjson"])
    ndjson_path, _ = event_files(tmp_path)
    before = ndjson_path.read_bytes()
    await events.put(google_event(datetime(2026, 12, 1, 5, tzinfo=UTC), "tok-late"))
    directory = DirectoryObjectStore(tmp_path / "export" / "subscription-events")
    failing = container.inject(export_subscription_events, leading=0)
    with pytest.raises(OSError, match="disk on fire"):
        await failing.func(  # type: ignore[attr-defined]
            **{**failing.keywords, "export_targets": Targets(FailingStore(directory, good=1))},  # type: ignore[attr-defined]
            date=DAY,
            formats=["ndjson"],
        )
    assert ndjson_path.read_bytes() == before
    assert list((tmp_path / "export/subscription-events/.partial").iterdir()) == []


async def test_exporting_while_writers_write_gives_complete_valid_rows(
    container: Container, tmp_path: Path
) -> None:
    events = container.tables["subscription-events"]
    await events.batch_write([apple_event(on_day(i), f"t{i}") for i in range(2000)])
    stop = asyncio.Event()

    async def write_more() -> int:
        written = 0
        while not stop.is_set():
            batch = [google_event(on_day(43_200_000 + written + i), f"w{written + i}") for i in range(50)]
            await events.batch_write(batch)
            written += len(batch)
            await asyncio.sleep(0)
        return written

    writer = asyncio.create_task(write_more())
    await asyncio.sleep(0.05)
    summary = await export(container, export_subscription_events, date=DAY)
    stop.set()
    written = await writer
    ndjson_path, parquet_path = event_files(tmp_path)
    lines = read_ndjson(ndjson_path)
    assert 2000 <= len(lines) == summary.rows <= 2000 + written
    required = {"subscriptionId", "timestampAndType", "date", "timestamp", "eventType", "ttl"}
    assert all(required <= set(line) and line["date"] == DAY for line in lines)
    assert len({(line["subscriptionId"], line["timestampAndType"]) for line in lines}) == len(lines)
    table = pq.read_table(parquet_path)
    assert table.num_rows == len(lines)
    assert table.column("subscriptionId").null_count == 0
    assert table.column("timestamp").null_count == 0


# tables --------------------------------------------------------------------------------------


async def test_the_subscriptions_table_like_the_legacy_export_without_receipts(
    container: Container, tmp_path: Path
) -> None:
    apple = {
        "subscriptionId": "1000",
        "startTimestamp": "2026-01-01T00:00:00.000Z",
        "endTimestamp": "2027-01-01T00:00:00.000Z",
        "autoRenewing": True,
        "productId": "uk.co.guardian.gla.12months",
        "platform": "ios",
        "freeTrial": False,
        "billingPeriod": "P1Y",
        "googlePayload": None,
        "receipt": "UkVDRUlQVA==",
        "applePayload": {
            "status": 0,
            "latest_receipt": "UkVDRUlQVA==",
            "receipt": {"bundle_id": "x", "note": ""},
        },
        "ttl": 1_900_000_000,
        "extra": "",
        "status": "active",
        "fetchedAt": "2026-12-01T00:00:00.000Z",
    }
    google = {
        "subscriptionId": "purchase-token",
        "startTimestamp": "2026-01-01T00:00:00.000Z",
        "endTimestamp": "2026-02-01T00:00:00.000Z",
        "autoRenewing": False,
        "productId": "monthly",
        "googlePayload": {"developerPayload": "", "paymentState": 1},
        "applePayload": None,
        "ttl": 1_900_000_000,
        "linkedPurchaseToken": "older-token",
        "mystery": 1,
    }
    await container.tables["subscriptions"].batch_write([apple, google])
    summary = await export(container, export_subscriptions, date=DAY)
    assert summary.rows == 2
    base = tmp_path / "export" / "subscriptions"
    lines = {
        line["subscriptionId"]: line for line in read_ndjson(base / f"code-data/date={DAY}/{DAY}.json.gz")
    }
    assert lines["1000"] == {
        **{k: v for k, v in apple.items() if k != "receipt"},
        "applePayload": {"status": 0, "receipt": {"bundle_id": "x", "note": None}},
        "tableName": "subscriptions",
    }
    assert lines["purchase-token"] == {
        **google,
        "googlePayload": {"developerPayload": None, "paymentState": 1},
        "tableName": "subscriptions",
    }
    rows = {
        r["subscriptionId"]: r
        for r in pq.read_table(base / f"parquet/code-data/export_date={DAY}/{DAY}.parquet").to_pylist()
    }
    assert list(rows["1000"]) == [c.name for c in SUBSCRIPTION_COLUMNS]
    assert rows["1000"]["endTimestamp"] == datetime(2027, 1, 1, tzinfo=UTC)
    assert rows["1000"]["extra"] == ""
    assert rows["1000"]["status"] == "active"
    assert rows["purchase-token"]["linkedPurchaseToken"] == "older-token"
    assert rows["purchase-token"]["cancellationTimestamp"] is None


async def test_the_user_subscriptions_table(container: Container, tmp_path: Path) -> None:
    links = [
        {"userId": f"user-{i}", "subscriptionId": f"sub-{i}", "creationTimestamp": "2026-11-30T10:00:00.000Z"}
        for i in range(2500)
    ]
    await container.tables["user-subscriptions"].batch_write(links)
    summary = await export(container, export_user_subscriptions, date=DAY)
    base = tmp_path / "export" / "user-subscriptions"
    lines = read_ndjson(base / f"code-data/date={DAY}/{DAY}.json.gz")
    assert summary.rows == 2500
    assert sorted(lines, key=lambda line: line["userId"]) == sorted(links, key=lambda link: link["userId"])
    table = pq.read_table(base / f"parquet/code-data/export_date={DAY}/{DAY}.parquet")
    assert table.schema.names == [c.name for c in USER_SUBSCRIPTION_COLUMNS]
    assert table.num_rows == 2500


# historical ----------------------------------------------------------------------------------


def snapshot(subscription_id: str, when: str, payload: dict[str, Any]) -> bytes:
    return json.dumps({"subscriptionId": subscription_id, "snapshotDate": when, "payload": payload}).encode()


def historical_files(root: Path, dataset: str, fmt: str) -> list[Path]:
    base = root / "export" / dataset
    if fmt == "ndjson":
        return sorted((base / f"code-data/date={DAY}").glob("*.json.gz"))
    return sorted((base / f"parquet/code-data/export_date={DAY}").glob("*.parquet"))


async def test_a_historical_drain_writes_snapshots_up_to_the_date_and_leaves_later_ones(
    container: Container, tmp_path: Path, clock: FrozenClock
) -> None:
    queue = container.queues["apple-historical-subscriptions"]
    receipt_payload = {"status": 0, "latest_receipt": "UkVDRUlQVA==", "latest_receipt_info": [{"a": "1"}]}
    await queue.send_batch(
        [snapshot(f"s{i}", "2026-12-01T23:59:59.000Z", receipt_payload) for i in range(120)]
        + [snapshot("old", "2026-11-20T00:00:00.000Z", {"status": 0})]
        + [snapshot("later", "2026-12-02T00:01:00.000Z", {"status": 0})]
        + [b"not json"]
    )
    summary = await export(container, export_apple_historical, date=DAY)
    assert (summary.rows, summary.received, summary.left) == (121, 123, 1)
    (ndjson_path,) = historical_files(tmp_path, "apple-historical", "ndjson")
    assert ndjson_path.name.startswith(f"{DAY}-")
    lines = read_ndjson(ndjson_path)
    assert len(lines) == 121
    assert lines[0] == {
        "subscriptionId": "s0",
        "snapshotDate": "2026-12-01T23:59:59.000Z",
        "payload": {"status": 0, "latest_receipt_info": [{"a": "1"}]},
    }
    (parquet_path,) = historical_files(tmp_path, "apple-historical", "parquet")
    table = pq.read_table(parquet_path)
    assert table.schema.names == [c.name for c in HISTORICAL_COLUMNS]
    assert table.num_rows == 121
    # Written ones are gone, the later one waits (held), the unreadable one is dead-lettered.
    depth = await queue.depth()
    assert (depth.visible, depth.in_flight) == (0, 1)
    assert (await container.queues["apple-historical-subscriptions-dlq"].depth()).total == 1
    clock.advance(seconds=901)
    assert (await queue.depth()).visible == 1
    # The next day's run writes it, in a file of its own beside the first.
    summary = await export(container, export_apple_historical, date="2026-12-02")
    assert summary.rows == 1


async def test_a_drain_that_fails_mid_upload_loses_no_snapshot(
    container: Container, tmp_path: Path, clock: FrozenClock
) -> None:
    queue = container.queues["google-historical-subscriptions"]
    await queue.send_batch(
        [
            snapshot(f"token-{i}", "2026-12-01T10:00:00.000Z", {"paymentState": 1, "pad": "x" * 2000})
            for i in range(3000)
        ]
    )
    directory = DirectoryObjectStore(tmp_path / "export" / "google-historical")
    drain = container.inject(export_google_historical)
    with pytest.raises(OSError, match="disk on fire"):
        await drain.func(  # type: ignore[attr-defined]
            **{**drain.keywords, "export_targets": Targets(FailingStore(directory, good=1))},  # type: ignore[attr-defined]
            date=DAY,
        )
    assert historical_files(tmp_path, "google-historical", "ndjson") == []
    assert (await queue.depth()).total == 3000
    clock.advance(seconds=901)
    summary = await export(container, export_google_historical, date=DAY)
    assert summary.rows == 3000
    lines = read_ndjson(historical_files(tmp_path, "google-historical", "ndjson")[0])
    assert sorted(line["subscriptionId"] for line in lines) == sorted(f"token-{i}" for i in range(3000))
    assert (await queue.depth()).total == 0


async def test_a_second_drain_of_the_same_queue_is_refused(container: Container) -> None:
    assert await container.coordination.acquire("export:google-historical", "someone-else", 60)
    with pytest.raises(DrainBusy, match="google-historical-subscriptions"):
        await export(container, export_google_historical, date=DAY)
    # The other queue's drain is another lease.
    assert (await export(container, export_apple_historical, date=DAY)).rows == 0


async def test_max_bounds_the_messages_received(container: Container) -> None:
    queue = container.queues["google-historical-subscriptions"]
    await queue.send_batch([snapshot(f"t{i}", "2026-12-01T10:00:00.000Z", {}) for i in range(250)])
    summary = await export(container, export_google_historical, date=DAY, max_messages=130)
    assert (summary.received, summary.rows) == (130, 130)
    assert (await queue.depth()).visible == 120


# the Parquet worker process ---------------------------------------------------------------------


@pytest.fixture
def worker_container(tmp_path: Path, clock: FrozenClock) -> Iterator[Container]:
    c = open_container(
        tmp_path / "worker",
        fast_retries(TOPOLOGY),
        clock,
        export_out=str(tmp_path / "worker" / "export"),
        export_process_after_rows=1000,
    )
    yield c
    c.close()


async def test_a_large_export_converts_in_a_worker_process_to_the_same_file(
    container: Container, worker_container: Container, tmp_path: Path
) -> None:
    rows = [
        apple_event(on_day(i), f"a{i}") if i % 3 else google_event(on_day(i), f"g{i}") for i in range(5000)
    ]
    for c in (container, worker_container):
        await c.tables["subscription-events"].batch_write(rows)
    here = await export(container, export_subscription_events, date=DAY)
    there = await export(worker_container, export_subscription_events, date=DAY)
    assert here.worker_peak_rss_mb is None
    assert there.worker_peak_rss_mb is not None
    assert there.worker_peak_rss_mb > 0
    (_, in_thread), (_, in_worker) = event_files(tmp_path), event_files(tmp_path / "worker")
    assert pq.read_table(in_worker).equals(pq.read_table(in_thread))
    assert pq.read_table(in_worker).num_rows == 5000


async def test_a_worker_that_dies_fails_the_export_and_leaves_nothing(
    worker_container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    from supporterflow.runtime import export_worker

    def dying_worker(dataset: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-c", "import sys; sys.stdin.buffer.read(100); sys.exit(3)"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    monkeypatch.setattr(export_worker, "_start_worker", dying_worker)
    await worker_container.tables["subscription-events"].batch_write(
        [google_event(on_day(i), f"g{i}") for i in range(5000)]
    )
    with pytest.raises(RuntimeError, match="export worker exited with status 3"):
        await export(worker_container, export_subscription_events, date=DAY)
    base = tmp_path / "worker" / "export" / "subscription-events"
    assert [p for p in base.rglob("*") if p.is_file()] == []


# the daily schedule ------------------------------------------------------------------------------


async def test_at_0003_utc_the_runtime_exports_yesterday_for_every_dataset(tmp_path: Path) -> None:
    from supporterflow.declare import Cron, Topology
    from supporterflow.runtime.process import Runtime
    from tests.support import drive

    clock = FrozenClock(datetime(2026, 12, 2, 0, 2, 58, tzinfo=UTC))
    exports = tuple(s for s in TOPOLOGY.schedules if isinstance(s, Cron) and s.name.startswith("export_"))
    assert {s.name for s in exports} == {
        "export_subscription_events",
        "export_subscriptions",
        "export_user_subscriptions",
        "export_apple_historical",
        "export_google_historical",
    }
    assert {s.expression for s in exports} == {"3 0 * * *"}
    topology = Topology(tables=TOPOLOGY.tables, queues=TOPOLOGY.queues, schedules=exports)
    container = open_container(tmp_path, topology, clock, export_out=str(tmp_path / "export"))
    await container.tables["subscription-events"].put(google_event(on_day(5), "tok-1"))
    await container.queues["google-historical-subscriptions"].send(
        snapshot("tok-1", "2026-12-01T12:00:00.000Z", {"paymentState": 1})
    )
    registry = container.metrics.registry

    async def all_done() -> bool:
        return all(
            registry.get_sample_value(
                "supporterflow_export_last_success_timestamp_seconds", {"dataset": dataset}
            )
            for dataset in (
                "subscription-events",
                "subscriptions",
                "user-subscriptions",
                "apple-historical",
                "google-historical",
            )
        )

    async def later() -> None:
        clock.advance(seconds=1)

    await drive(Runtime(container, http=False), all_done, between=later, timeout_s=30)
    container.close()
    assert read_ndjson(event_files(tmp_path)[0])[0]["subscriptionId"] == "tok-1"
    (google,) = historical_files(tmp_path, "google-historical", "ndjson")
    assert read_ndjson(google)[0]["subscriptionId"] == "tok-1"
    for dataset in ("subscriptions", "user-subscriptions"):
        assert (tmp_path / "export" / dataset / "code-data" / f"date={DAY}" / f"{DAY}.json.gz").exists()
