"""What one exported line holds, per dataset (spec §9.1, §9.3, §9.4), and the clean-up of secrets.

Events (§9.1) are read from DynamoDB and unmarshalled, so every value the data-mapper stored as
NULL comes out as ``null``: every empty string, top-level or nested (§1.2). Subscriptions follow the
legacy table export (§9.3): data-mapper objects, where a ``String`` attribute reads back as ``''`` but
an empty string inside the ``Any`` payloads stayed NULL, and ``"tableName":"subscriptions"`` leaks
in. Rows here keep their empty strings (mapping them to NULL is the DynamoDB adapter's job), so the
export applies those rules itself and a line is the same whichever store it came from.

Receipts and the App Store shared secret never leave the service: the events export of the
original drops ``password`` and both ``latest_receipt`` of ``applePayload``; supporterflow drops the
same from every dataset that carries them (see docs/compatibility.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, Final

_APPLE_SECRETS: Final = ("password", "latest_receipt", "unified_receipt.latest_receipt")

# Document paths left out of each row (``Table.read_snapshot(omit=...)``).
EVENT_OMIT: Final[tuple[str, ...]] = tuple(f"applePayload.{path}" for path in _APPLE_SECRETS)
SUBSCRIPTION_OMIT: Final[tuple[str, ...]] = ("receipt", *EVENT_OMIT)
HISTORICAL_OMIT: Final[tuple[str, ...]] = tuple(f"payload.{path}" for path in _APPLE_SECRETS)

SUBSCRIPTION_TABLE_NAME: Final = "subscriptions"
_PAYLOADS: Final = ("googlePayload", "applePayload")


def nulled_empty_strings(text: bytes) -> bytes:
    """Every empty string value of compact JSON (one document, or lines of them, UTF-8) replaced
    by ``null``, as DynamoDB stored it (NULL).

    ``""`` is a value after ``:`` and after ``[``; after ``,`` it is an array element when ``,`` or
    ``]`` follows (in an object a comma is followed by a key, then ``:``). Inside a string every
    quote is escaped, so two quotes in a row there are always preceded by a backslash. The common
    case, an attribute whose value is ``""``, is one plain replace; the others are rare and get a
    pass of their own. (A regex over the whole text costs ten times more.)"""
    text = text.replace(b':""', b":null")
    return _nulled_others(text) if b'""' in text else text


def _nulled_others(text: bytes) -> bytes:
    parts = text.split(b'""')
    out = [parts[0]]
    for before, after in itertools.pairwise(parts):
        value = before[-1:] in (b":", b",", b"[") and after[:1] in (b",", b"]", b"}")
        out.append(b"null" if value else b'""')
        out.append(after)
    return b"".join(out)


def nullify(value: Any) -> Any:
    """A decoded JSON value with every empty string, at any depth, replaced by None."""
    if value == "":
        return None
    if isinstance(value, dict):
        return {key: nullify(member) for key, member in value.items()}
    if isinstance(value, list):
        return [nullify(member) for member in value]
    return value


def subscription_line(item: Mapping[str, Any]) -> dict[str, Any]:
    """A Subscription row as the legacy export writes it: payload empty strings as null, and the
    data-mapper's ``tableName``."""
    line = {key: nullify(value) if key in _PAYLOADS else value for key, value in item.items()}
    line["tableName"] = SUBSCRIPTION_TABLE_NAME
    return line


def without(document: Mapping[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """A copy of ``document`` without the dotted ``paths`` (missing ones are ignored)."""
    copy = dict(document)
    for path in paths:
        *parents, leaf = path.split(".")
        target: Any = copy
        chain = [copy]
        for name in parents:
            target = target.get(name) if isinstance(target, dict) else None
            if not isinstance(target, dict):
                break
            chain.append(target)
        else:
            if leaf in target:
                # Copy the parents on the way down so that the input is never changed.
                rebuilt = {key: value for key, value in target.items() if key != leaf}
                for name, parent in zip(reversed(parents), reversed(chain[:-1]), strict=True):
                    rebuilt = {**parent, name: rebuilt}
                copy = rebuilt
    return copy
