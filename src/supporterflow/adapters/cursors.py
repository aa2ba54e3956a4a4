"""Opaque pagination cursors: the last position seen, as URL-safe text."""

from __future__ import annotations

import base64
import json
from typing import Any


class BadCursor(ValueError):
    """A cursor that this adapter did not hand out."""


def encode(position: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str, length: int) -> list[Any]:
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError as error:
        raise BadCursor("not a cursor of this listing") from error
    if not isinstance(position, list) or len(position) != length:
        raise BadCursor("not a cursor of this listing")
    return position
