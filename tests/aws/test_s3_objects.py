"""S3ObjectStore against moto's S3: the ObjectStore port's behaviour on the S3 API.

The port's contract (tests/object_store_contract.py) runs here against an ``S3ObjectStore``; the
tests below it are S3's own: multipart uploads and their aborts, the ACL, the calls made (through
``Spy``), a store under a key prefix, URLs and settings, and errors as ``Retry``."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from supporterflow.adapters.aws import s3
from supporterflow.adapters.aws.s3 import MIB, S3ObjectStore
from supporterflow.ports import ObjectStore, Retry
from tests import object_store_contract as contract
from tests.aws.conftest import s3_with_bucket
from tests.object_store_contract import Boom, all_keys, write_and_fail

BUCKET = "supporter-exports"
PART = 5 * MIB


class Spy:
    """A boto3 client that records every call's operation and keyword arguments (not bodies), and
    can make the next call of an operation fail."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[str, str] = {}  # operation -> error code of its next call

    def __getattr__(self, operation: str) -> Any:
        method = getattr(self.client, operation)

        def call(**kwargs: Any) -> Any:
            self.calls.append((operation, {k: v for k, v in kwargs.items() if k != "Body"}))
            if operation in self.fail:
                code = self.fail.pop(operation)
                raise ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)
            return method(**kwargs)

        return call

    def of(self, operation: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == operation]

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]


@pytest.fixture
def client(aws: None) -> Any:
    return s3_with_bucket(BUCKET)


@pytest.fixture
def spy(client: Any) -> Spy:
    return Spy(client)


@pytest.fixture
def objects(spy: Spy) -> S3ObjectStore:
    return S3ObjectStore(spy, BUCKET, part_size=PART)


def bucket_keys(client: Any) -> list[str]:
    return [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def pending_uploads(client: Any) -> list[dict[str, Any]]:
    uploads: list[dict[str, Any]] = client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    return uploads


@pytest.mark.parametrize("check", contract.CHECKS, ids=contract.name_of)
async def test_the_object_store_contract(objects: S3ObjectStore, check: contract.Check) -> None:
    await check(objects)


# put, get, overwrite -----------------------------------------------------------------------------


def test_is_an_object_store(objects: S3ObjectStore) -> None:
    store: ObjectStore = objects  # checked by mypy
    assert store is objects


async def test_a_put_is_one_put_object_with_the_acl(objects: S3ObjectStore, spy: Spy) -> None:
    await contract.a_put_object_is_read_back(objects)

    assert spy.of("put_object") == [
        {"Bucket": BUCKET, "Key": "exports/2026/01/report.csv", "ACL": "bucket-owner-full-control"}
    ]
    assert bucket_keys(spy.client) == ["exports/2026/01/report.csv"]


async def test_an_empty_object_is_one_put_object(objects: S3ObjectStore, spy: Spy) -> None:
    await contract.an_empty_object_is_an_object(objects)  # one put, one open_write with no chunk

    assert spy.operations().count("put_object") == 2
    assert spy.of("create_multipart_upload") == []


# open_write --------------------------------------------------------------------------------------


async def test_open_write_of_several_parts_is_a_multipart_upload_with_the_exact_bytes(
    objects: S3ObjectStore, spy: Spy
) -> None:
    data = os.urandom(12 * MIB + 123)
    step = MIB // 2

    async with objects.open_write("big/data.bin") as writer:
        for start in range(0, len(data), step):
            await writer.write(data[start : start + step])
            if start == 8 * MIB:
                assert len(spy.of("upload_part")) == 1  # one part sent, the rest buffered
                assert await objects.get("big/data.bin") is None
                assert bucket_keys(spy.client) == []

    assert await objects.get("big/data.bin") == data
    assert [info.size for info in (await objects.list()).objects] == [len(data)]
    [create] = spy.of("create_multipart_upload")
    assert create["ACL"] == "bucket-owner-full-control"
    assert [call["PartNumber"] for call in spy.of("upload_part")] == [1, 2, 3]
    [complete] = spy.of("complete_multipart_upload")
    assert [part["PartNumber"] for part in complete["MultipartUpload"]["Parts"]] == [1, 2, 3]
    assert spy.of("put_object") == []
    assert pending_uploads(spy.client) == []


async def test_exactly_one_part_is_a_single_put(objects: S3ObjectStore, spy: Spy) -> None:
    data = os.urandom(PART)

    await objects.put("one-part", data)

    assert await objects.get("one-part") == data
    assert spy.of("create_multipart_upload") == []
    assert len(spy.of("put_object")) == 1


async def test_a_single_large_write_is_cut_into_parts(objects: S3ObjectStore, spy: Spy) -> None:
    data = os.urandom(2 * PART + 1)

    await objects.put("large", data)

    assert await objects.get("large") == data
    assert len(spy.of("upload_part")) == 3  # 5 MiB, 5 MiB and the last byte


async def test_an_error_inside_open_write_leaves_no_object_and_no_pending_upload(
    objects: S3ObjectStore, spy: Spy
) -> None:
    await objects.put("kept", b"k")

    async def one_upload_pending() -> None:
        assert len(pending_uploads(spy.client)) == 1

    with pytest.raises(Boom):
        await write_and_fail(objects, "dir/broken.bin", os.urandom(PART + MIB), one_upload_pending)

    assert bucket_keys(spy.client) == ["kept"]
    assert pending_uploads(spy.client) == []
    assert len(spy.of("abort_multipart_upload")) == 1
    assert spy.of("complete_multipart_upload") == []


async def test_an_error_before_the_first_part_sends_nothing(objects: S3ObjectStore, spy: Spy) -> None:
    with pytest.raises(Boom):
        await write_and_fail(objects, "small", b"half of it")

    assert await objects.get("small") is None
    assert spy.operations() == ["get_object"]


async def test_cancelling_a_write_aborts_its_upload(objects: S3ObjectStore, spy: Spy) -> None:
    parts_sent = asyncio.Event()

    async def write_forever() -> None:
        async with objects.open_write("cancelled") as writer:
            await writer.write(os.urandom(PART + 1))
            parts_sent.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(write_forever())
    await asyncio.wait_for(parts_sent.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await objects.get("cancelled") is None
    assert pending_uploads(spy.client) == []
    assert len(spy.of("abort_multipart_upload")) == 1


async def test_a_failed_completion_raises_retry_and_aborts(objects: S3ObjectStore, spy: Spy) -> None:
    spy.fail["complete_multipart_upload"] = "InternalError"

    with pytest.raises(
        Retry, match=rf"S3 CompleteMultipartUpload of s3://{BUCKET}/late failed: InternalError"
    ):
        await objects.put("late", os.urandom(PART + 1))

    assert await objects.get("late") is None
    assert pending_uploads(spy.client) == []
    assert len(spy.of("abort_multipart_upload")) == 1


async def test_a_write_after_the_block_is_refused(objects: S3ObjectStore) -> None:
    async with objects.open_write("done") as writer:
        await writer.write(b"x")

    with pytest.raises(RuntimeError, match="is over"):
        await writer.write(b"more")
    assert await objects.get("done") == b"x"


async def test_more_parts_than_s3_allows_are_refused_and_aborted(
    objects: S3ObjectStore, spy: Spy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "MAX_PARTS", 2)

    with pytest.raises(ValueError, match="more than 2 parts"):
        await objects.put("huge", os.urandom(3 * PART))

    assert await objects.get("huge") is None
    assert pending_uploads(spy.client) == []


# reading and listing -----------------------------------------------------------------------------


async def test_a_missing_object_s_error_names_its_url(objects: S3ObjectStore) -> None:
    with pytest.raises(FileNotFoundError, match=f"s3://{BUCKET}/missing"):
        async for _ in objects.iter_chunks("missing"):
            pass


async def test_paging_a_listing_follows_continuation_tokens(objects: S3ObjectStore, spy: Spy) -> None:
    await contract.paging_a_listing_visits_every_key_once(objects)  # 5 pages of 5 keys at most

    calls = spy.of("list_objects_v2")
    assert [call["MaxKeys"] for call in calls] == [5] * 5
    assert "ContinuationToken" not in calls[0]
    assert all(call["ContinuationToken"] for call in calls[1:])


# a store under a prefix --------------------------------------------------------------------------


async def test_keys_are_relative_to_the_store_prefix(spy: Spy) -> None:
    objects = S3ObjectStore(spy, BUCKET, prefix="/tenants/a/", part_size=PART)
    spy.client.put_object(Bucket=BUCKET, Key="tenants/ab", Body=b"outside")
    spy.client.put_object(Bucket=BUCKET, Key="tenants/b/x", Body=b"outside")

    await objects.put("exports/report.csv", b"inside")
    async with objects.open_write("exports/big.bin") as writer:
        await writer.write(b"z" * (PART + 1))

    assert bucket_keys(spy.client) == [
        "tenants/a/exports/big.bin",
        "tenants/a/exports/report.csv",
        "tenants/ab",
        "tenants/b/x",
    ]
    assert await objects.get("exports/report.csv") == b"inside"
    assert [chunk async for chunk in objects.iter_chunks("exports/report.csv")] == [b"inside"]
    assert await all_keys(objects) == ["exports/big.bin", "exports/report.csv"]
    assert await all_keys(objects, "exports/r") == ["exports/report.csv"]
    assert spy.of("list_objects_v2")[-1]["Prefix"] == "tenants/a/exports/r"
    assert objects.prefix == "tenants/a"


# keys, URLs, settings, errors --------------------------------------------------------------------


async def test_refused_keys_make_no_s3_call(objects: S3ObjectStore, spy: Spy) -> None:
    await contract.keys_that_are_not_plain_segments_are_refused(objects)

    assert spy.calls == []


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://supporter-exports", "supporter-exports", ""),
        ("s3://supporter-exports/", "supporter-exports", ""),
        ("s3://supporter-exports/daily/ophan", "supporter-exports", "daily/ophan"),
        ("s3://my.bucket-2/daily/", "my.bucket-2", "daily"),
    ],
)
def test_from_url(url: str, bucket: str, prefix: str) -> None:
    objects = S3ObjectStore.from_url(url, object(), acl=None, part_size=PART)

    assert (objects.bucket, objects.prefix, objects.acl, objects.part_size) == (bucket, prefix, None, PART)
    assert objects.url() == f"s3://{bucket}/{prefix}"


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("https://supporter-exports/daily", "not an S3 URL"),
        ("supporter-exports/daily", "not an S3 URL"),
        ("s3://", "not an S3 URL"),
        ("s3:///daily", "not an S3 URL"),
        ("s3://supporter-exports/daily?versionId=1", "not an S3 URL"),
        ("s3://supporter-exports/daily#top", "not an S3 URL"),
        ("s3://Supporter_Exports/daily", "not an S3 bucket name"),
        ("s3://user@supporter-exports/daily", "not an S3 bucket name"),
        ("s3://ab", "not an S3 bucket name"),
        ("s3://supporter-exports/a//b", "not a key prefix"),
        ("s3://supporter-exports/a/../b", "not a key prefix"),
    ],
)
def test_from_url_refuses_what_is_not_a_bucket_and_prefix(url: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        S3ObjectStore.from_url(url, object())


@pytest.mark.parametrize("part_size", [5 * MIB - 1, 0, 5 * 1024 * MIB + 1])
def test_part_sizes_s3_would_refuse_are_refused(part_size: int) -> None:
    with pytest.raises(ValueError, match="part_size must be in"):
        S3ObjectStore(object(), BUCKET, part_size=part_size)


def test_a_prefix_must_be_plain_segments() -> None:
    with pytest.raises(ValueError, match="not a key prefix"):
        S3ObjectStore(object(), BUCKET, prefix="a//b")


async def test_client_errors_are_retry_naming_the_operation_and_object(spy: Spy) -> None:
    objects = S3ObjectStore(spy, "no-such-bucket", part_size=PART)

    with pytest.raises(Retry, match="S3 PutObject of s3://no-such-bucket/k failed: NoSuchBucket") as raised:
        await objects.put("k", b"secret")
    assert "secret" not in str(raised.value)
    with pytest.raises(Retry, match="S3 GetObject of s3://no-such-bucket/k failed: NoSuchBucket"):
        await objects.get("k")
    with pytest.raises(Retry, match="S3 ListObjectsV2 of s3://no-such-bucket/ failed: NoSuchBucket"):
        await objects.list()
