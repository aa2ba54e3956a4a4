"""The few JavaScript value semantics that yup 0.29.3 leaks into its results.

Why: the engine must give the same decisions and the same error text as yup running on
Node. Those depend on JavaScript's conversions (``String(x)``, ``+"0x1A"``, ``parseFloat``),
its definition of whitespace, its strict equality, and on yup's ``printValue`` (which is
``JSON.stringify`` with a replacer). Python's own conversions differ on exactly the inputs a
hostile or sloppy caller sends, so they are written out here once.

Values are the ones ``json.loads`` produces (dict, list, str, int, float, bool, None) plus
:data:`UNDEFINED`, JavaScript's ``undefined`` (a key that is absent).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Final


class _Undefined:
    """JavaScript's ``undefined``: an absent key, never a JSON value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = _Undefined()

#: ECMAScript WhiteSpace and LineTerminator code points: what ``\s`` and ``trim()`` mean.
#: Python's ``str.isspace`` differs (it includes U+001C..U+001F and U+0085, not U+FEFF).
JS_WHITESPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
#: ``\s`` as a regular-expression character class body.
JS_SPACE_CLASS: Final = re.escape(JS_WHITESPACE)

_ALL_SPACE = re.compile(f"[{JS_SPACE_CLASS}]+")
_DECIMAL = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_RADIX = {"x": 16, "o": 8, "b": 2}
_RADIX_LITERAL = re.compile(r"0([xXoObB])([0-9a-fA-F]+)")
_FLOAT_PREFIX = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_MAX_SAFE = 2**53


def is_number(value: object) -> bool:
    """``typeof value === 'number'`` (a Python bool is not a number here)."""
    kind = type(value)
    return kind is int or kind is float


def js_trim(text: str) -> str:
    return text.strip(JS_WHITESPACE)


def remove_whitespace(text: str) -> str:
    """``text.replace(/\\s/g, '')``."""
    return _ALL_SPACE.sub("", text)


def js_truthy(value: object) -> bool:
    """JavaScript truthiness: ``undefined``, null, false, 0, NaN and "" are falsy."""
    if value is None or value is UNDEFINED or value is False:
        return False
    if type(value) is float:
        return value == value and value != 0.0
    if type(value) is int or type(value) is str:
        return bool(value)
    return True


def number_to_string(number: float) -> str:
    """``Number.prototype.toString()``: shortest round-trip digits, JavaScript layout."""
    if number != number:
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if type(number) is int and abs(number) < 10**21:
        return str(number)
    number = float(number)
    if number == 0:
        return "0"
    sign, digit_tuple, exponent = Decimal(repr(number)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    assert isinstance(exponent, int)  # finite numbers only, checked above
    point = len(digits) + exponent  # the n of ECMA-262 Number::toString
    if len(digits) <= point <= 21:
        text = digits + "0" * (point - len(digits))
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = f"{mantissa}e{'+' if point > 0 else '-'}{abs(point - 1)}"
    return "-" + text if sign else text


def js_to_string(value: object) -> str:
    """``String(value)`` for JSON values."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if is_number(value):
        return number_to_string(value)  # type: ignore[arg-type]
    if isinstance(value, list):
        return ",".join("" if item is None or item is UNDEFINED else js_to_string(item) for item in value)
    return "[object Object]"


def _integral(number: float) -> int | float:
    """Integral doubles come back as ``int`` so that ``"5"`` casts to ``5``, as in JSON."""
    if number == number and not math.isinf(number) and number == int(number) and abs(number) < _MAX_SAFE:
        return int(number)
    return number


def string_to_number(text: str) -> int | float:
    """Unary ``+text`` for a string that has no whitespace left in it (yup removes it first)."""
    if _DECIMAL.fullmatch(text):
        return _integral(float(text))
    radix = _RADIX_LITERAL.fullmatch(text)
    if radix:
        try:
            return _integral(float(int(radix.group(2), _RADIX[radix.group(1).lower()])))
        except ValueError:  # e.g. "0b12": digits outside the radix
            return math.nan
    return math.nan


def js_number(value: object) -> int | float:
    """``Number(value)`` for JSON values."""
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if is_number(value):
        return value  # type: ignore[return-value]
    if isinstance(value, str | list):
        text = js_trim(js_to_string(value))
        return 0 if text == "" else string_to_number(text)
    return math.nan


def parse_float(value: object) -> int | float:
    """``parseFloat(value)``: the longest decimal prefix of ``String(value)``, else NaN."""
    match = _FLOAT_PREFIX.match(js_trim(js_to_string(value)))
    return _integral(float(match.group())) if match else math.nan


def strict_equals(left: object, right: object) -> bool:
    """``left === right``: primitives by value and kind, containers by identity."""
    if left is right:
        return type(left) is not float or left == left  # NaN is never equal to itself
    if isinstance(left, dict | list) or isinstance(right, dict | list):
        return left is right
    if is_number(left) and is_number(right):
        return left == right  # NaN is never equal to itself, as in JavaScript
    return type(left) is type(right) and left == right


def _print_simple(value: object, quote_strings: bool) -> str | None:
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if is_number(value):
        if value != value:
            return "NaN"
        if value == 0 and type(value) is float and math.copysign(1.0, value) < 0:
            return "-0"
        return number_to_string(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        return f'"{value}"' if quote_strings else value
    return None


_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")


def js_key_order(keys: Iterable[str]) -> list[str]:
    """The order JavaScript enumerates an object's keys in: array indices first, ascending."""
    indices, names = [], []
    for key in keys:
        if key[:1].isdigit() and _ARRAY_INDEX.fullmatch(key) and int(key) < 2**32 - 1:
            indices.append(key)
        else:
            names.append(key)
    return sorted(indices, key=int) + names if indices else names


def _printable(value: object, quote_strings: bool) -> object:
    """What yup's ``JSON.stringify`` replacer turns each value into: leaves become strings."""
    if isinstance(value, dict):
        return {
            key: _printable(value[key], quote_strings)
            for key in js_key_order(value)
            if value[key] is not UNDEFINED
        }
    if isinstance(value, list):
        return [_printable(item, quote_strings) for item in value]
    simple = _print_simple(value, quote_strings)
    return simple if simple is not None else js_to_string(value)


def print_value(value: object, quote_strings: bool = False) -> str:
    """yup's ``printValue``: how a value appears inside an error message."""
    simple = _print_simple(value, quote_strings)
    if simple is not None:
        return simple
    if isinstance(value, dict | list):
        return json.dumps(_printable(value, quote_strings), indent=2, ensure_ascii=False)
    return str(value)
