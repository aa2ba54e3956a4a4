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

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

_APPLE_SECRETS: Final = ("password", "latest_receipt", "unified_receipt.latest_receipt")

# Document paths left out of each row (``Table.read_snapshot(omit=...)``).
EVENT_OMIT: Final[tuple[str, ...]] = tuple(f"applePayload.{path}" for path in _APPLE_SECRETS)
SUBSCRIPTION_OMIT: Final[tuple[str, ...]] = ("receipt", *EVENT_OMIT)
HISTORICAL_OMIT: Final[tuple[str, ...]] = tuple(f"payload.{path}" for path in _APPLE_SECRETS)

SUBSCRIPTION_TABLE_NAME: Final = "subscriptions"
_PAYLOADS: Final = ("googlePayload", "applePayload")

# An empty string *value* of compact JSON: after ``:`` ``,`` or ``[`` and before ``,`` ``}`` or
# ``]`` (a key is followed by ``:``). Inside a string a quote is always escaped, so two quotes in a
# row with these neighbours can only be an empty string token.
_EMPTY_STRING_VALUE: Final = re.compile(r'(?<=[:,\[])""(?=[,}\]])')


def nulled_empty_strings(line: str) -> str:
    """Every empty string value of a compact JSON document replaced by ``null`` (DynamoDB NULL)."""
    if '""' not in line:
        return line
    # The common case first, as a plain replace (the regex costs ten times more per row): after a
    # key, ``""`` is always a value, since a closing quote is never followed by another quote.
    line = line.replace(':""', ":null")
    # What is left is rare: array elements, empty keys, an escaped quote ending a string.
    return _EMPTY_STRING_VALUE.sub("null", line) if '""' in line else line


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
