"""The local object store: a directory with atomic writes.

The port's contract (tests/object_store_contract.py) runs here against ``DirectoryObjectStore``;
the tests below it are the directory's own: what is left on disk, the ``.partial`` folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from supporterflow.adapters.objects import DirectoryObjectStore
from tests import object_store_contract as contract


@pytest.fixture
def root(tmp_path: Path) -> Path:
    # Not created: the contract's empty listing is then that of a folder that does not exist yet.
    return tmp_path / "bucket"


@pytest.fixture
def objects(root: Path) -> DirectoryObjectStore:
    return DirectoryObjectStore(root)


def files_under(path: Path) -> list[str]:
    return sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())


@pytest.mark.parametrize("check", contract.CHECKS, ids=contract.name_of)
async def test_the_object_store_contract(objects: DirectoryObjectStore, check: contract.Check) -> None:
    await check(objects)


# the directory's own -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "check",
    [
        contract.an_error_inside_open_write_leaves_no_object,
        contract.an_error_while_rewriting_keeps_the_old_object,
    ],
    ids=contract.name_of,
)
async def test_a_failed_write_leaves_no_temporary_file(
    objects: DirectoryObjectStore, root: Path, check: contract.Check
) -> None:
    await check(objects)

    assert files_under(root) == await contract.all_keys(objects)


async def test_refused_keys_write_nothing_anywhere(objects: DirectoryObjectStore, root: Path) -> None:
    await contract.keys_that_are_not_plain_segments_are_refused(objects)

    assert files_under(root.parent) == []  # nothing outside the root, and the root is not a file


async def test_an_object_whose_key_ends_in_partial_is_listed(objects: DirectoryObjectStore) -> None:
    await objects.put("uploads/video.partial", b"data")

    assert await objects.get("uploads/video.partial") == b"data"
    assert await contract.all_keys(objects) == ["uploads/video.partial"]


async def test_the_partial_folder_is_not_a_key(objects: DirectoryObjectStore) -> None:
    with pytest.raises(ValueError, match="not an object key"):
        await objects.put(".partial/x", b"x")
