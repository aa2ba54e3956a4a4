"""S3ObjectStore against moto's S3: the ObjectStore port's behaviour on the S3 API."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from supporterflow.adapters.aws import s3
from supporterflow.adapters.aws.s3 import MIB, S3ObjectStore
from supporterflow.ports import ObjectStore, Retry
from tests.aws.conftest import s3_with_bucket

BUCKET = "supporter-exports"
PART = 5 * MIB


class Boom(Exception):
    pass


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


async def write_and_fail(
    objects: S3ObjectStore, key: str, data: bytes, during: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Stream ``data`` into ``key``, run the checks of ``during`` while the write is open, then
    fail inside the block."""
    async with objects.open_write(key) as writer:
        await writer.write(data)
        if during is not None:
            await during()
        raise Boom


async def all_keys(objects: S3ObjectStore, prefix: str = "") -> list[str]:
    page = await objects.list(prefix)
    assert page.cursor is None
    return [info.key for info in page.objects]


# put, get, overwrite -----------------------------------------------------------------------------


def test_is_an_object_store(objects: S3ObjectStore) -> None:
    store: ObjectStore = objects  # checked by mypy
    assert store is objects


async def test_a_put_object_is_read_back_with_the_acl(objects: S3ObjectStore, spy: Spy) -> None:
    await objects.put("exports/2026/01/report.csv", b"a,b\n1,2\n")

    assert await objects.get("exports/2026/01/report.csv") == b"a,b\n1,2\n"
    assert spy.of("put_object") == [
        {"Bucket": BUCKET, "Key": "exports/2026/01/report.csv", "ACL": "bucket-owner-full-control"}
    ]
    assert bucket_keys(spy.client) == ["exports/2026/01/report.csv"]


async def test_without_an_acl_none_is_sent(spy: Spy) -> None:
    objects = S3ObjectStore(spy, BUCKET, acl=None, part_size=PART)
    await objects.put("small", b"x")
    async with objects.open_write("big") as writer:
        await writer.write(b"y" * (PART + 1))

    assert spy.of("put_object") == [{"Bucket": BUCKET, "Key": "small"}]
    [create] = spy.of("create_multipart_upload")
    assert "ACL" not in create
    assert await objects.get("big") == b"y" * (PART + 1)


async def test_a_put_replaces_the_object(objects: S3ObjectStore) -> None:
    await objects.put("k", b"a longer first version")

    await objects.put("k", b"v2")

    assert await objects.get("k") == b"v2"


async def test_getting_a_missing_key_returns_none(objects: S3ObjectStore) -> None:
    await objects.put("exports/2026/report.csv", b"x")

    assert await objects.get("nothing/here") is None
    assert await objects.get("exports/2026") is None  # only a prefix of other keys


async def test_an_empty_object_is_an_object(objects: S3ObjectStore, spy: Spy) -> None:
    async with objects.open_write("empty"):
        pass

    assert await objects.get("empty") == b""
    assert [(info.key, info.size) for info in (await objects.list()).objects] == [("empty", 0)]
    assert spy.operations().count("put_object") == 1


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

    assert await objects.get("dir/broken.bin") is None
    assert bucket_keys(spy.client) == ["kept"]
    assert pending_uploads(spy.client) == []
    assert len(spy.of("abort_multipart_upload")) == 1
    assert spy.of("complete_multipart_upload") == []


async def test_an_error_before_the_first_part_sends_nothing(objects: S3ObjectStore, spy: Spy) -> None:
    with pytest.raises(Boom):
        await write_and_fail(objects, "small", b"half of it")

    assert await objects.get("small") is None
    assert spy.operations() == ["get_object"]


async def test_an_error_while_rewriting_keeps_the_old_object(objects: S3ObjectStore) -> None:
    await objects.put("state.json", b"old")

    async def old_one_readable() -> None:
        assert await objects.get("state.json") == b"old"

    with pytest.raises(Boom):
        await write_and_fail(objects, "state.json", os.urandom(PART + 1), old_one_readable)

    assert await objects.get("state.json") == b"old"


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


# reading -----------------------------------------------------------------------------------------


async def test_iter_chunks_reads_an_object_in_chunks(objects: S3ObjectStore) -> None:
    await objects.put("k", b"abcdefghij")

    chunks = [chunk async for chunk in objects.iter_chunks("k", chunk_size=4)]

    assert chunks == [b"abcd", b"efgh", b"ij"]


async def test_iter_chunks_of_a_missing_object(objects: S3ObjectStore) -> None:
    with pytest.raises(FileNotFoundError, match=f"s3://{BUCKET}/missing"):
        async for _ in objects.iter_chunks("missing"):
            pass


# listing -----------------------------------------------------------------------------------------


async def test_list_returns_keys_in_order_with_their_sizes_and_times(objects: S3ObjectStore) -> None:
    await objects.put("b/2", b"22")
    await objects.put("a", b"1")
    await objects.put("b/1", b"333")

    page = await objects.list()

    assert [(info.key, info.size) for info in page.objects] == [("a", 1), ("b/1", 3), ("b/2", 2)]
    assert {info.modified_at.tzinfo for info in page.objects} == {UTC}
    assert page.cursor is None


async def test_list_with_a_prefix_returns_only_the_keys_that_start_with_it(objects: S3ObjectStore) -> None:
    for key in ["exports/2026-01.csv", "exports/2026-02.csv", "exports-old/x", "imports/2026-01.csv"]:
        await objects.put(key, b".")

    assert await all_keys(objects, "exports/") == ["exports/2026-01.csv", "exports/2026-02.csv"]
    assert await all_keys(objects, "exports") == [
        "exports-old/x",
        "exports/2026-01.csv",
        "exports/2026-02.csv",
    ]
    assert await all_keys(objects, "nothing") == []


async def test_paging_a_listing_visits_every_key_once(objects: S3ObjectStore, spy: Spy) -> None:
    expected = [f"p/{i:03d}" for i in range(23)]
    for key in expected:
        await objects.put(key, b".")
    await objects.put("q/outside", b".")

    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(10):  # bounded: a cursor that is not followed would page for ever
        page = await objects.list("p/", limit=5, cursor=cursor)
        pages.append([info.key for info in page.objects])
        cursor = page.cursor
        if cursor is None:
            break

    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [key for p in pages for key in p] == expected
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


@pytest.mark.parametrize("key", ["../outside", "a/../b", "/etc/passwd", "", "dir/", "a//b", ".", "a/."])
async def test_keys_that_are_not_plain_segments_are_refused(
    objects: S3ObjectStore, spy: Spy, key: str
) -> None:
    with pytest.raises(ValueError, match="not an object key"):
        await objects.put(key, b"x")
    with pytest.raises(ValueError, match="not an object key"):
        await objects.get(key)
    with pytest.raises(ValueError, match="not an object key"):
        async for _ in objects.iter_chunks(key):
            pass

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
