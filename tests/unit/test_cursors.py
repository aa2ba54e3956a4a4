"""Opaque pagination cursors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from supporterflow.adapters import cursors
from supporterflow.adapters.cursors import BadCursor


@pytest.mark.parametrize(
    "position",
    [
        ["sk-1"],
        [42],
        [1.5, "pk", ""],
        ["2026-01-01", "user#ünïcødé", 7],
        [None, True, -3],
        ["a/b+c=d?&"],
    ],
)
def test_a_cursor_decodes_to_the_position_it_encodes(position: list[Any]) -> None:
    assert cursors.decode(cursors.encode(position), len(position)) == position


def test_a_cursor_is_url_safe_text() -> None:
    cursor = cursors.encode(["???>>>", "ÿÿÿ", 10**12])

    assert cursor.isascii()
    assert not set(cursor) & set("+/=")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!not base64!!!",
        "é",
        _b64("not json"),
        _b64(json.dumps({"sk": 1})),
        _b64(json.dumps("sk")),
        base64.urlsafe_b64encode(b"\xff\xfe\x00").decode(),
    ],
    ids=["empty", "not-base64", "not-ascii", "not-json", "object", "string", "not-utf8"],
)
def test_garbage_is_a_bad_cursor(cursor: str) -> None:
    with pytest.raises(BadCursor):
        cursors.decode(cursor, 1)


def test_a_cursor_of_another_listing_shape_is_a_bad_cursor() -> None:
    cursor = cursors.encode(["sort", "pk", "sk"])

    with pytest.raises(BadCursor):
        cursors.decode(cursor, 2)


def test_a_bad_cursor_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a cursor"):
        cursors.decode("garbage", 1)
