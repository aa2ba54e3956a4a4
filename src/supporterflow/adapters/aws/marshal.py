"""Items to DynamoDB's typed attribute values and back, as the original's data-mapper wrote them
(spec/mobile-purchases.md §1.2).

Writing (``to_dynamo``):

- ``str`` -> ``S``, except ``''`` -> ``{"NULL": True}``, at the top level and at any depth inside
  maps and lists (the data-mapper's "nullify");
- ``bool`` -> ``BOOL``; ``int`` and ``float`` -> ``N`` (ints exactly, floats as ``repr``, the
  shortest text that reads back as the same float; NaN and infinities are refused);
- ``None`` -> ``NULL``; ``dict`` -> ``M``; ``list`` (and tuple) -> ``L``.

Reading (``from_dynamo``): ``NULL`` of a top-level attribute named in ``strings`` (the
data-mapper's declared ``string`` attributes) -> ``''``; every other ``NULL`` -> None; ``N`` ->
``int`` when its text is integral, else ``float``; ``M``/``L`` recursively.

The round trip is lossy where the original's was: an empty string inside a map or a list, or in
a top-level attribute not declared as a string, comes back as None.

An attribute absent from an item is absent from its DynamoDB image, and the other way round.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

AttributeValue = dict[str, Any]

NULL: AttributeValue = {"NULL": True}
_INTEGRAL = re.compile(r"-?\d+")


def number_text(value: int | float) -> str:
    """The ``N`` text of a number: ints exactly (never ``1.0``), floats with ``repr``."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ValueError(f"DynamoDB cannot store the number {value!r}")
    return repr(value)


def number_value(text: str) -> int | float:
    """The number of an ``N`` text: an int when the text is integral, else a float."""
    return int(text) if _INTEGRAL.fullmatch(text) else float(text)


def to_value(value: Any, path: str = "") -> AttributeValue:
    """One value as a DynamoDB attribute value (``path`` names it in errors)."""
    if value is None:
        return dict(NULL)
    if isinstance(value, str):
        return {"S": value} if value else dict(NULL)
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        try:
            return {"N": number_text(value)}
        except ValueError as error:
            raise ValueError(f"{path or 'value'}: {error}") from None
    if isinstance(value, Mapping):
        members: dict[str, AttributeValue] = {}
        for name, member in value.items():
            if not isinstance(name, str):
                raise ValueError(f"{path or 'value'}: map keys must be strings, got {name!r}")
            members[name] = to_value(member, f"{path}.{name}" if path else name)
        return {"M": members}
    if isinstance(value, list | tuple):
        return {"L": [to_value(member, f"{path}[{i}]") for i, member in enumerate(value)]}
    raise ValueError(f"{path or 'value'}: {type(value).__name__} cannot be stored in DynamoDB")


def from_value(attribute: Mapping[str, Any], path: str = "") -> Any:
    """The plain value of a DynamoDB attribute value; ``NULL`` -> None."""
    if len(attribute) != 1:
        raise ValueError(f"{path or 'value'}: not a DynamoDB attribute value: {attribute!r}")
    ((kind, content),) = attribute.items()
    if kind == "S":
        return content
    if kind == "N":
        return number_value(content)
    if kind == "BOOL":
        return bool(content)
    if kind == "NULL":
        return None
    if kind == "M":
        return {
            name: from_value(member, f"{path}.{name}" if path else name) for name, member in content.items()
        }
    if kind == "L":
        return [from_value(member, f"{path}[{i}]") for i, member in enumerate(content)]
    if kind == "SS":
        return list(content)
    if kind == "NS":
        return [number_value(text) for text in content]
    raise ValueError(f"{path or 'value'}: DynamoDB type {kind} is not supported")


def to_dynamo(item: Mapping[str, Any], strings: frozenset[str] = frozenset()) -> dict[str, AttributeValue]:
    """An item as a DynamoDB image (``Item`` of ``PutItem``). ``strings`` does not change what is
    written (``''`` is NULL whatever the attribute's declared type); it is accepted so that both
    directions are called alike."""
    del strings
    return {name: to_value(value, name) for name, value in item.items()}


def from_dynamo(
    attributes: Mapping[str, Mapping[str, Any]], strings: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """A DynamoDB image as an item: NULL reads back as ``''`` for the top-level attributes named
    in ``strings``, as None everywhere else."""
    item: dict[str, Any] = {}
    for name, attribute in attributes.items():
        if name in strings and attribute.get("NULL") is True:
            item[name] = ""
        else:
            item[name] = from_value(attribute, name)
    return item
