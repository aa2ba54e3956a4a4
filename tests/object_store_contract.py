"""The ``ObjectStore`` port's contract, stated once and run against every adapter.

The directory store (tests/integration/test_object_store.py) and the S3 store
(tests/aws/test_s3_objects.py) promise the same thing to the code that uses them: put and get,
atomic streamed writes, chunked reads and paged listings in key order. Each check here takes a
fresh, empty ``ObjectStore`` and asserts one part of that promise, so that both adapters are held
to the same words; each test file runs every check in ``CHECKS`` against its own adapter and keeps
only what is particular to it (temporary files, multipart uploads, the calls made).

Some writes are ``LARGE``: more than one part of a store that uploads in parts (S3's smallest part
is 5 MiB), so that atomicity is checked where a store cannot hold the object in one buffer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC

import pytest

from supporterflow.ports import ObjectStore

Check = Callable[[ObjectStore], Awaitable[None]]

CHECKS: list[Check] = []

LARGE = 6 * 1024 * 1024 + 1

# Keys that are not plain segments (or would leave the store): every adapter refuses them.
REFUSED_KEYS = [
    "../outside",
    "a/../../outside",
    "a/../b",
    "/etc/passwd",
    "",
    "dir/",
    "a//b",
    ".",
    "a/.",
    "a/..",
]


def check(function: Check) -> Check:
    """Add ``function`` to ``CHECKS``."""
    CHECKS.append(function)
    return function


def name_of(function: Check) -> str:
    """A check's test id: its name."""
    return getattr(function, "__name__", repr(function))


class Boom(Exception):
    pass


async def write_and_fail(
    objects: ObjectStore, key: str, data: bytes, during: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Stream ``data`` into ``key``, run the checks of ``during`` while the write is open, then
    fail inside the block."""
    async with objects.open_write(key) as writer:
        await writer.write(data)
        if during is not None:
            await during()
        raise Boom


async def all_keys(objects: ObjectStore, prefix: str = "") -> list[str]:
    """Every key under ``prefix``, from a listing of one page."""
    page = await objects.list(prefix, limit=10_000)
    assert page.cursor is None
    return [info.key for info in page.objects]


async def pages_of(objects: ObjectStore, prefix: str, limit: int) -> list[list[str]]:
    """The keys of each page of a listing, following its cursor."""
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(100):  # bounded: a cursor that is not followed would page for ever
        page = await objects.list(prefix, limit=limit, cursor=cursor)
        pages.append([info.key for info in page.objects])
        cursor = page.cursor
        if cursor is None:
            return pages
    raise AssertionError(f"the listing of {prefix!r} did not end")


# put, get, overwrite -----------------------------------------------------------------------------


@check
async def a_put_object_is_read_back(objects: ObjectStore) -> None:
    await objects.put("exports/2026/01/report.csv", b"a,b\n1,2\n")

    assert await objects.get("exports/2026/01/report.csv") == b"a,b\n1,2\n"


@check
async def a_put_replaces_the_object(objects: ObjectStore) -> None:
    await objects.put("k", b"a longer first version")

    await objects.put("k", b"v2")

    assert await objects.get("k") == b"v2"


@check
async def getting_a_missing_key_returns_none(objects: ObjectStore) -> None:
    await objects.put("exports/2026/report.csv", b"x")

    assert await objects.get("nothing/here") is None
    assert await objects.get("exports/2026") is None  # only a prefix of other keys


@check
async def an_empty_object_is_an_object(objects: ObjectStore) -> None:
    await objects.put("empty-put", b"")
    async with objects.open_write("empty-write"):
        pass

    assert await objects.get("empty-put") == b""
    assert await objects.get("empty-write") == b""
    assert [(info.key, info.size) for info in (await objects.list()).objects] == [
        ("empty-put", 0),
        ("empty-write", 0),
    ]


# open_write --------------------------------------------------------------------------------------


@check
async def open_write_streams_chunks_and_shows_the_object_only_when_the_block_exits(
    objects: ObjectStore,
) -> None:
    await objects.put("other", b"x")

    async with objects.open_write("big/data.bin") as writer:
        await writer.write(b"first ")
        await writer.write(b"second ")
        assert await objects.get("big/data.bin") is None
        assert await all_keys(objects) == ["other"]
        await writer.write(b"third")

    assert await objects.get("big/data.bin") == b"first second third"
    assert await all_keys(objects) == ["big/data.bin", "other"]


@check
async def while_an_object_is_rewritten_readers_see_the_old_one(objects: ObjectStore) -> None:
    await objects.put("state.json", b'{"v": 1}')
    padding = b" " * LARGE

    async with objects.open_write("state.json") as writer:
        await writer.write(b'{"v": 2' + padding)
        assert await objects.get("state.json") == b'{"v": 1}'
        await writer.write(b"}")

    assert await objects.get("state.json") == b'{"v": 2' + padding + b"}"


@check
async def an_error_inside_open_write_leaves_no_object(objects: ObjectStore) -> None:
    await objects.put("kept", b"k")

    with pytest.raises(Boom):
        await write_and_fail(objects, "dir/broken.bin", b"h" * LARGE)

    assert await objects.get("dir/broken.bin") is None
    assert await all_keys(objects) == ["kept"]


@check
async def an_error_while_rewriting_keeps_the_old_object(objects: ObjectStore) -> None:
    await objects.put("state.json", b"old")

    async def old_one_readable() -> None:
        assert await objects.get("state.json") == b"old"

    with pytest.raises(Boom):
        await write_and_fail(objects, "state.json", b"n" * LARGE, old_one_readable)

    assert await objects.get("state.json") == b"old"
    assert await all_keys(objects) == ["state.json"]


# reading -----------------------------------------------------------------------------------------


@check
async def iter_chunks_reads_an_object_in_chunks(objects: ObjectStore) -> None:
    await objects.put("k", b"abcdefghij")

    chunks = [chunk async for chunk in objects.iter_chunks("k", chunk_size=4)]

    assert chunks == [b"abcd", b"efgh", b"ij"]


@check
async def iter_chunks_of_a_missing_object_raises_file_not_found(objects: ObjectStore) -> None:
    with pytest.raises(FileNotFoundError):
        async for _ in objects.iter_chunks("missing"):
            pass


# listing -----------------------------------------------------------------------------------------


@check
async def list_returns_keys_in_order_with_their_sizes_and_utc_times(objects: ObjectStore) -> None:
    await objects.put("b/2", b"22")
    await objects.put("a", b"1")
    await objects.put("b/1", b"333")

    page = await objects.list()

    assert [(info.key, info.size) for info in page.objects] == [("a", 1), ("b/1", 3), ("b/2", 2)]
    assert {info.modified_at.tzinfo for info in page.objects} == {UTC}
    assert page.cursor is None


@check
async def list_of_an_empty_store_is_empty(objects: ObjectStore) -> None:
    page = await objects.list()

    assert page.objects == []
    assert page.cursor is None


@check
async def list_with_a_prefix_returns_only_the_keys_that_start_with_it(objects: ObjectStore) -> None:
    for key in ["exports/2026-01.csv", "exports/2026-02.csv", "exports-old/x", "imports/2026-01.csv"]:
        await objects.put(key, b".")

    assert await all_keys(objects, "exports/") == ["exports/2026-01.csv", "exports/2026-02.csv"]
    assert await all_keys(objects, "exports") == [
        "exports-old/x",
        "exports/2026-01.csv",
        "exports/2026-02.csv",
    ]
    assert await all_keys(objects, "exports/2026-02") == ["exports/2026-02.csv"]
    assert await all_keys(objects, "nothing") == []


@check
async def paging_a_listing_visits_every_key_once(objects: ObjectStore) -> None:
    expected = [f"p/{i:03d}" for i in range(23)]
    for key in expected:
        await objects.put(key, b".")
    await objects.put("q/outside", b".")

    pages = await pages_of(objects, "p/", limit=5)

    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [key for p in pages for key in p] == expected


# keys --------------------------------------------------------------------------------------------


@check
async def keys_that_are_not_plain_segments_are_refused(objects: ObjectStore) -> None:
    for key in REFUSED_KEYS:
        with pytest.raises(ValueError, match="not an object key"):
            await objects.put(key, b"x")
        with pytest.raises(ValueError, match="not an object key"):
            await objects.get(key)
        with pytest.raises(ValueError, match="not an object key"):
            async for _ in objects.iter_chunks(key):
                pass
