"""yup's scalar types: ``mixed``, ``string``, ``number``, ``boolean``, ``date``.

Each type starts with yup's own coercion as its first transform (yup adds it in the
constructor), so ``string()`` turns ``12`` into ``"12"`` and ``number()`` turns ``" 5 "`` into
``5``; the builders below add yup's tests with yup's names, messages and replacement rules.
Regular expressions are yup's, rewritten for Python: ``[a-z]`` under JavaScript's ``/i`` means
ASCII letters only, ``\\d`` means ASCII digits, and ``$`` means the very end of the string.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Final, Self

from supporterflow.domain.supporters.schema.base import Check, JsCrash, Message, Schema, Test, Transform
from supporterflow.domain.supporters.schema.dates import INVALID_DATE, from_milliseconds, yup_parse_iso
from supporterflow.domain.supporters.schema.js import (
    UNDEFINED,
    is_number,
    js_to_string,
    js_trim,
    parse_float,
    remove_whitespace,
    string_to_number,
)

_UNICODE = "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
_ALPHA = f"a-zA-Z{_UNICODE}"
_ALNUM = f"a-zA-Z0-9{_UNICODE}"
_LOCAL_ATOM = rf"[a-zA-Z0-9!#$%&'*+\-/=?^_`{{|}}~{_UNICODE}]"
_QUOTED = (
    r"\x22(?:(?:(?:[\x20\x09]*\x0d\x0a)?[\x20\x09]+)?(?:[\x01-\x08\x0b\x0c\x0e-\x1f\x7f\x21\x23-\x5b\x5d-\x7e"
    rf"{_UNICODE}]|\\[\x01-\x09\x0b\x0c\x0d-\x7f{_UNICODE}]))*(?:(?:[\x20\x09]*\x0d\x0a)?[\x20\x09]+)?\x22"
)
_LABEL = rf"(?:[{_ALNUM}]|[{_ALNUM}][{_ALNUM}\-._~]*[{_ALNUM}])"
_TOP_LABEL = rf"(?:[{_ALPHA}]|[{_ALPHA}][{_ALNUM}\-._~]*[{_ALPHA}])"
#: yup's rEmail (string.js).
EMAIL: Final = re.compile(rf"(?:{_LOCAL_ATOM}+(?:\.{_LOCAL_ATOM}+)*|{_QUOTED})@(?:{_LABEL}\.)+{_TOP_LABEL}\Z")
_URL_CHAR = rf"(?:[{_ALNUM}\-._~]|%[0-9a-fA-F]{{2}}|[!$&'()*+,;=]|:|@)"
_OCTET = r"(?:[0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])"
#: yup's rUrl (string.js).
URL: Final = re.compile(
    rf"(?:(?:https?|ftp):)?//(?:(?:[{_ALNUM}\-._~]|%[0-9a-fA-F]{{2}}|[!$&'()*+,;=]|:)*@)?"
    rf"(?:{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}|(?:{_LABEL}\.)+{_TOP_LABEL}\.?)(?::[0-9]*)?"
    rf"(?:/(?:{_URL_CHAR}+(?:/{_URL_CHAR}*)*)?)?(?:\?(?:{_URL_CHAR}|[\ue000-\uf8ff]|/|\?)*)?"
    rf"(?:#(?:{_URL_CHAR}|/|\?)*)?\Z"
)
#: yup's rUUID (string.js): version nibble 0-5, variant 0/8/9/a/b.
UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-5][0-9a-fA-F]{3}-[089abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}\Z"
)

_TRUE: Final = re.compile(r"(?:[tT][rR][uU][eE]|1)\Z")
_FALSE: Final = re.compile(r"(?:[fF][aA][lL][sS][eE]|0)\Z")


@dataclass(frozen=True, slots=True)
class Mixed(Schema):
    """yup's ``mixed()``: no type, no coercion."""


def _coerce_string(schema: Schema, value: object, _original: object) -> object:
    if schema.is_type(value) or value is None or value is UNDEFINED:
        return value
    return js_to_string(value)


def _trim(_schema: Schema, value: object, _original: object) -> object:
    return _string_method(value, js_trim)


def _lowercase(_schema: Schema, value: object, _original: object) -> object:
    return _string_method(value, str.lower)


def _uppercase(_schema: Schema, value: object, _original: object) -> object:
    return _string_method(value, str.upper)


def _string_method(value: object, method: Callable[[str], str]) -> object:
    """``value.trim()`` and friends: absent values pass, non-strings crash as in JavaScript."""
    if value is None or value is UNDEFINED:
        return value
    if isinstance(value, str):
        return method(value)
    raise JsCrash(f"{type(value).__name__} has no string methods")


def _matches(pattern: re.Pattern[str], exclude_empty: bool) -> Check:
    def check(value: object) -> bool:
        if value is None or value is UNDEFINED or (exclude_empty and value == ""):
            return True
        return isinstance(value, str) and pattern.match(value) is not None

    return check


@dataclass(frozen=True, slots=True)
class String(Schema):
    """yup's ``string()``."""

    type_name: ClassVar[str] = "string"
    native_types: ClassVar[tuple[type, ...]] = (str,)
    coercion: ClassVar[Transform | None] = _coerce_string

    def is_type(self, value: object) -> bool:
        return type(value) is str or (value is None and self.nullable_)

    def _present(self, value: object) -> bool:
        return value is not None and value is not UNDEFINED and len(value) > 0  # type: ignore[arg-type]

    def email(self) -> Self:
        return self.with_test(Test("email", Message("${path} must be a valid email"), _matches(EMAIL, True)))

    def url(self) -> Self:
        return self.with_test(Test("url", Message("${path} must be a valid URL"), _matches(URL, True)))

    def uuid(self) -> Self:
        return self.with_test(Test("uuid", Message("${path} must be a valid UUID"), _matches(UUID, False)))

    def max(self, limit: int) -> Self:
        def check(value: object) -> bool:
            return value is None or value is UNDEFINED or len(value) <= limit  # type: ignore[arg-type]

        return self.with_test(
            Test("max", Message("${path} must be at most ${max} characters"), check, True, {"max": limit})
        )

    def trim(self) -> Self:
        def is_trimmed(value: object) -> bool:
            return value is None or value is UNDEFINED or value == js_trim(value)  # type: ignore[arg-type]

        return self.transform(_trim).with_test(
            Test("trim", Message("${path} must be a trimmed string"), is_trimmed)
        )

    def lowercase(self) -> Self:
        def is_lower(value: object) -> bool:
            return value is None or value is UNDEFINED or value == value.lower()  # type: ignore[attr-defined]

        message = Message("${path} must be a lowercase string")
        return self.transform(_lowercase).with_test(Test("string_case", message, is_lower, exclusive=True))

    def uppercase(self) -> Self:
        def is_upper(value: object) -> bool:
            return value is None or value is UNDEFINED or value == value.upper()  # type: ignore[attr-defined]

        message = Message("${path} must be a upper case string")
        return self.transform(_uppercase).with_test(Test("string_case", message, is_upper, exclusive=True))

    def ensure(self) -> Self:
        """yup's ``ensure()``: default ``""`` and ``null`` read as ``""``."""
        return self.default("").transform(_null_to_empty)


def _null_to_empty(_schema: Schema, value: object, _original: object) -> object:
    return "" if value is None else value


def _coerce_number(schema: Schema, value: object, _original: object) -> object:
    parsed = value
    if isinstance(parsed, str):
        parsed = remove_whitespace(parsed)
        if parsed == "":
            return math.nan
        parsed = string_to_number(parsed)
    if schema.is_type(parsed):
        return parsed
    return parse_float(parsed)


@dataclass(frozen=True, slots=True)
class Number(Schema):
    """yup's ``number()``: finite or infinite doubles, never NaN."""

    type_name: ClassVar[str] = "number"
    native_types: ClassVar[tuple[type, ...]] = (int,)  # floats may be NaN, which is no number
    coercion: ClassVar[Transform | None] = _coerce_number

    def is_type(self, value: object) -> bool:
        if is_number(value):
            return value == value
        return value is None and self.nullable_

    def _bound(self, name: str, template: str, key: str, limit: float, check: Check) -> Self:
        return self.with_test(Test(name, Message(template), check, True, {key: limit}))

    def min(self, limit: float) -> Self:
        def check(value: object) -> bool:
            return value is None or value is UNDEFINED or value >= limit  # type: ignore[operator]

        return self._bound("min", "${path} must be greater than or equal to ${min}", "min", limit, check)

    def positive(self) -> Self:
        """yup's ``positive()`` is ``moreThan(0)`` under the test name ``min``."""

        def check(value: object) -> bool:
            return value is None or value is UNDEFINED or value > 0  # type: ignore[operator]

        return self._bound("min", "${path} must be a positive number", "more", 0, check)

    def integer(self) -> Self:
        def check(value: object) -> bool:
            if value is None or value is UNDEFINED:
                return True
            return type(value) is int or (
                type(value) is float and math.isfinite(value) and value.is_integer()
            )

        return self.with_test(Test("integer", Message("${path} must be an integer"), check))


def _coerce_boolean(schema: Schema, value: object, _original: object) -> object:
    if not schema.is_type(value):
        text = js_to_string(value)
        if _TRUE.match(text):
            return True
        if _FALSE.match(text):
            return False
    return value


@dataclass(frozen=True, slots=True)
class Boolean(Schema):
    """yup's ``boolean()``: ``"true"``, ``"1"``, ``1`` and their false twins are cast."""

    type_name: ClassVar[str] = "boolean"
    native_types: ClassVar[tuple[type, ...]] = (bool,)
    coercion: ClassVar[Transform | None] = _coerce_boolean

    def is_type(self, value: object) -> bool:
        return type(value) is bool or (value is None and self.nullable_)


def _coerce_date(schema: Schema, value: object, _original: object) -> object:
    if schema.is_type(value):
        return value
    milliseconds = yup_parse_iso(js_to_string(value))
    return INVALID_DATE if milliseconds is None else from_milliseconds(milliseconds)


@dataclass(frozen=True, slots=True)
class Date(Schema):
    """yup's ``date()``: values are aware ``datetime`` objects (JavaScript ``Date``)."""

    type_name: ClassVar[str] = "date"
    native_types: ClassVar[tuple[type, ...]] = (datetime,)
    coercion: ClassVar[Transform | None] = _coerce_date

    def is_type(self, value: object) -> bool:
        return isinstance(value, datetime) or (value is None and self.nullable_)


def mixed() -> Mixed:
    return Mixed()


def string() -> String:
    return String(transforms=(_coerce_string,))


def number() -> Number:
    return Number(transforms=(_coerce_number,))


def boolean() -> Boolean:
    return Boolean(transforms=(_coerce_boolean,))


def date() -> Date:
    return Date(transforms=(_coerce_date,))
