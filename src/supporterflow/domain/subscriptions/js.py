"""The JavaScript value semantics that mobile-purchases leaks into rows, logs and queue messages.

Why: the TypeScript code converts with ``parseInt``, ``Number()``, loose ``==`` and
``JSON.stringify``; Python's own conversions differ on exactly the sloppy inputs the original
test-suite feeds (``purchase_date_ms: "TEST"``, spec §12.1.4). The number conversions and key
ordering already exist, ported from V8, in the supporters engine; this module re-exports them so
the subscriptions code has a single place to depend on.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Final

from supporterflow.domain.supporters.schema.js import (
    JS_WHITESPACE,
    is_number,
    js_key_order,
    js_number,
    js_truthy,
    number_to_string,
)

__all__ = [
    "is_number",
    "js_json_stringify",
    "js_key_order",
    "js_number",
    "js_truthy",
    "loosely_equals_one",
    "number_to_string",
    "parse_int",
]

_PARSE_INT: Final = re.compile(r"([+-]?)(?:0[xX]([0-9a-fA-F]+)|([0-9]+))")


def parse_int(value: object) -> int | None:
    """``parseInt(String(value))`` with radix 10/16 auto-detection; None where JavaScript gives NaN.

    Leading whitespace is skipped and only the leading digits count: ``"12345abc"`` -> 12345,
    ``"abc"`` -> None, ``"2019-09-10 11:09:54 Etc/GMT"`` -> 2019 (spec §2.1, §3.5 step 1).
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = number_to_string(value)
    else:
        text = str(value)
    found = _PARSE_INT.match(text.lstrip(JS_WHITESPACE))
    if found is None:
        return None
    sign, hex_digits, decimal_digits = found.groups()
    number = int(hex_digits, 16) if hex_digits else int(decimal_digits)
    return -number if sign == "-" else number


def loosely_equals_one(value: object) -> bool:
    """``value == 1`` with JavaScript's loose equality (``"1" == 1`` and ``true == 1`` hold)."""
    if value is True:
        return True
    if value is None or value is False:
        return False
    if is_number(value) or isinstance(value, str):
        return js_number(value) == 1
    return False


def _js_value(value: object) -> object:
    """Reshape a JSON value so that ``json.dumps`` prints it the way ``JSON.stringify`` does.

    Integral floats print without ``.0`` (JavaScript has one number type); NaN and infinities
    become ``null``. Exponent layouts of very small/large non-integral floats still differ (not
    seen in the data this code handles).
    """
    if isinstance(value, Mapping):
        return {key: _js_value(value[key]) for key in js_key_order(value)}
    if isinstance(value, list | tuple):
        return [_js_value(item) for item in value]
    if type(value) is float:
        if math.isnan(value) or math.isinf(value):
            return None  # JSON.stringify(NaN) === "null"
        if value.is_integer() and abs(value) < 1e21:
            return int(value)
    return value


def js_json_stringify(value: object) -> str:
    """``JSON.stringify(value)``: compact, integer-like keys first, JavaScript number format.

    Used for the ``extra`` column (spec §3.7), which is stored as a JSON *string* and so must be
    byte-identical to what Node wrote.
    """
    return json.dumps(_js_value(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
