"""The datalake exports written to S3 (moto): the original's keys and ACL, both formats, and a
drain whose upload fails keeps its snapshots."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from supporterflow.adapters.clock import FrozenClock
from supporterflow.bootstrap import Container
from supporterflow.functions.export_historical import export_google_historical
from supporterflow.functions.export_subscription_events import export_subscription_events
from supporterflow.functions.exporting import ExportSummary
from supporterflow.ports import Retry
from supporterflow.topology import TOPOLOGY
from tests.aws.conftest import s3_with_bucket
from tests.integration.test_exports import DAY, NOW, google_event, on_day, snapshot
from tests.support import fast_retries, open_container

BUCKET = "mobile-purchases-exports"


@pytest.fixture
def s3(aws: None) -> Any:
    return s3_with_bucket(BUCKET)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def container(tmp_path: Path, s3: Any, clock: FrozenClock) -> Iterator[Container]:
    c = open_container(
        tmp_path,
        fast_retries(TOPOLOGY),
        clock,
        export_out=f"s3://{BUCKET}/exports",
        export_destinations={"google-historical": f"s3://{BUCKET}"},
        stage="PROD",
    )
    yield c
    c.close()


def body(s3: Any, key: str) -> bytes:
    data: bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    return data


async def test_events_go_to_s3_under_the_originals_keys(container: Container, s3: Any) -> None:
    events = [google_event(on_day(i * 1000), f"tok-{i}") for i in range(2500)]
    await container.tables["subscription-events"].batch_write(events)
    summary: ExportSummary = await container.inject(export_subscription_events)(date=DAY)
    assert summary.rows == 2500
    ndjson_key = f"exports/subscription-events/data/date={DAY}/{DAY}.json.gz"
    parquet_key = f"exports/subscription-events/parquet/data/export_date={DAY}/{DAY}.parquet"
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]) == [
        ndjson_key,
        parquet_key,
    ]
    lines = [json.loads(line) for line in gzip.decompress(body(s3, ndjson_key)).splitlines()]
    assert [line["subscriptionId"] for line in lines] == [f"tok-{i}" for i in range(2500)]
    assert pq.read_table(io.BytesIO(body(s3, parquet_key))).num_rows == 2500
    grants = s3.get_object_acl(Bucket=BUCKET, Key=ndjson_key)["Grants"]
    assert grants  # written with the ACL bucket-owner-full-control


async def test_a_drain_to_s3_that_fails_keeps_its_snapshots(
    container: Container, s3: Any, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = container.queues["google-historical-subscriptions"]
    await queue.send_batch(
        [snapshot(f"t{i}", "2026-12-01T08:00:00.000Z", {"paymentState": 1}) for i in range(40)]
    )
    s3.delete_bucket(Bucket=BUCKET)  # the upload fails at its commit
    with pytest.raises(Retry):
        await container.inject(export_google_historical)(date=DAY)
    assert (await queue.depth()).total == 40
    s3_with_bucket(BUCKET)
    clock.advance(seconds=901)
    summary: ExportSummary = await container.inject(export_google_historical)(date=DAY)
    assert summary.rows == 40
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    (ndjson_key,) = [k for k in keys if k.endswith(".json.gz")]
    assert ndjson_key.startswith(f"data/date={DAY}/{DAY}-")
    assert len(gzip.decompress(body(s3, ndjson_key)).splitlines()) == 40
    assert (await queue.depth()).total == 0
