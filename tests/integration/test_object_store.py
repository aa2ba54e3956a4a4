"""The local object store: a directory with atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from supporterflow.adapters.objects import DirectoryObjectStore


class Boom(Exception):
    pass


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "bucket"


@pytest.fixture
def objects(root: Path) -> DirectoryObjectStore:
    return DirectoryObjectStore(root)


async def write_and_fail(objects: DirectoryObjectStore, key: str, chunk: bytes) -> None:
    """Stream a chunk into ``key``, then fail inside the block."""
    async with objects.open_write(key) as writer:
        await writer.write(chunk)
        raise Boom


def files_under(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


async def all_keys(objects: DirectoryObjectStore, prefix: str = "") -> list[str]:
    page = await objects.list(prefix, limit=10_000)
    assert page.cursor is None
    return [info.key for info in page.objects]


async def test_a_put_object_is_read_back(objects: DirectoryObjectStore) -> None:
    await objects.put("exports/2026/01/report.csv", b"a,b\n1,2\n")

    assert await objects.get("exports/2026/01/report.csv") == b"a,b\n1,2\n"


async def test_a_put_replaces_the_object(objects: DirectoryObjectStore) -> None:
    await objects.put("k", b"a longer first version")

    await objects.put("k", b"v2")

    assert await objects.get("k") == b"v2"


async def test_getting_a_missing_key_returns_none(objects: DirectoryObjectStore) -> None:
    assert await objects.get("nothing/here") is None


async def test_an_empty_object_is_an_object(objects: DirectoryObjectStore) -> None:
    await objects.put("empty", b"")

    assert await objects.get("empty") == b""
    assert [(info.key, info.size) for info in (await objects.list()).objects] == [("empty", 0)]


async def test_open_write_streams_chunks_and_shows_the_object_only_when_the_block_exits(
    objects: DirectoryObjectStore,
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


async def test_while_an_object_is_rewritten_readers_see_the_old_one(objects: DirectoryObjectStore) -> None:
    await objects.put("state.json", b'{"v": 1}')

    async with objects.open_write("state.json") as writer:
        await writer.write(b'{"v": 2')
        assert await objects.get("state.json") == b'{"v": 1}'
        await writer.write(b"}")

    assert await objects.get("state.json") == b'{"v": 2}'


async def test_an_error_inside_open_write_leaves_no_object_and_no_partial_file(
    objects: DirectoryObjectStore, root: Path
) -> None:
    await objects.put("kept", b"k")

    with pytest.raises(Boom):
        await write_and_fail(objects, "dir/broken.bin", b"half of it")

    assert await objects.get("dir/broken.bin") is None
    assert await all_keys(objects) == ["kept"]
    assert files_under(root) == ["kept"]


async def test_an_error_while_rewriting_keeps_the_old_object(
    objects: DirectoryObjectStore, root: Path
) -> None:
    await objects.put("state.json", b"old")

    with pytest.raises(Boom):
        await write_and_fail(objects, "state.json", b"new but broken")

    assert await objects.get("state.json") == b"old"
    assert files_under(root) == ["state.json"]


async def test_iter_chunks_reads_an_object_in_chunks(objects: DirectoryObjectStore) -> None:
    await objects.put("k", b"abcdefghij")

    chunks = [chunk async for chunk in objects.iter_chunks("k", chunk_size=4)]

    assert chunks == [b"abcd", b"efgh", b"ij"]


async def test_list_returns_keys_in_order_with_their_sizes(objects: DirectoryObjectStore) -> None:
    await objects.put("b/2", b"22")
    await objects.put("a", b"1")
    await objects.put("b/1", b"333")

    page = await objects.list()

    assert [(info.key, info.size) for info in page.objects] == [("a", 1), ("b/1", 3), ("b/2", 2)]
    assert page.cursor is None


async def test_list_of_an_empty_or_missing_bucket_is_empty(objects: DirectoryObjectStore) -> None:
    page = await objects.list()

    assert page.objects == []
    assert page.cursor is None


async def test_list_with_a_prefix_returns_only_the_keys_that_start_with_it(
    objects: DirectoryObjectStore,
) -> None:
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


async def test_paging_a_listing_visits_every_key_once(objects: DirectoryObjectStore) -> None:
    expected = [f"p/{i:03d}" for i in range(23)]
    for key in expected:
        await objects.put(key, b".")
    await objects.put("q/outside", b".")

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        page = await objects.list("p/", limit=5, cursor=cursor)
        pages.append([info.key for info in page.objects])
        cursor = page.cursor
        if cursor is None:
            break

    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [key for p in pages for key in p] == expected


@pytest.mark.parametrize(
    "key",
    ["../outside", "a/../../outside", "/etc/passwd", "", "dir/"],
)
async def test_keys_that_escape_the_root_or_name_no_object_are_refused(
    objects: DirectoryObjectStore, root: Path, key: str
) -> None:
    with pytest.raises(ValueError, match="not an object key"):
        await objects.put(key, b"x")
    with pytest.raises(ValueError, match="not an object key"):
        await objects.get(key)

    assert files_under(root.parent) == []


async def test_an_object_whose_key_ends_in_partial_is_listed(objects: DirectoryObjectStore) -> None:
    await objects.put("uploads/video.partial", b"data")

    assert await objects.get("uploads/video.partial") == b"data"
    assert await all_keys(objects) == ["uploads/video.partial"]


async def test_getting_a_key_that_is_only_a_prefix_of_other_keys_returns_none(
    objects: DirectoryObjectStore,
) -> None:
    await objects.put("exports/2026/report.csv", b"x")

    assert await objects.get("exports/2026") is None


@pytest.mark.parametrize("key", [".", "a/.."])
async def test_keys_that_name_the_root_itself_are_refused(
    objects: DirectoryObjectStore, root: Path, key: str
) -> None:
    with pytest.raises(ValueError, match="not an object key"):
        await objects.put(key, b"x")

    assert not root.is_file()
