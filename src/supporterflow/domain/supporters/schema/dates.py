"""``new Date(string)`` as V8 (Node.js) parses it, and yup's own ISO date reader.

Why: the ``Timestamp`` field of data-models accepts any string for which
``new Date(value).getTime()`` is not NaN, and V8 accepts far more than ISO 8601 (``"foo
2020"``, ``"12"``, ``"Mon, 25 Dec 1995 13:30:00 GMT"``). Accept/reject decisions must match, so
this is a port of V8's ``DateParser`` (src/date/dateparser*.{h,cc}): the ES5 ISO reader first,
then the legacy reader for whatever is left. yup's ``date()`` type first tries its own ISO
regular expression (util/isodate.js) and falls back to the same parser.

Assumption (documented in docs/supporter-validation.md): strings without a time zone are read
as UTC, the zone AWS Lambda runs in; V8 would use the process's local zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from supporterflow.domain.supporters.schema.js import JS_WHITESPACE

_NONE: Final = 2**31 - 1  # V8's kNone
_MAX_DIGITS: Final = 9
_MAX_TIME_MS: Final = 8.64e15
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# Token kinds; keyword kinds are V8's KeywordType values.
_INVALID, _MONTH_NAME, _TIME_ZONE_NAME, _TIME_SEPARATOR, _AM_PM = 0, 1, 2, 3, 4
_NUMBER, _SYMBOL, _WHITESPACE, _END, _UNKNOWN, _BAD = "number", "symbol", "space", "end", "unknown", "bad"

_KEYWORDS: Final = (
    *(
        (name, _MONTH_NAME, index + 1)
        for index, name in enumerate(
            ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
        )
    ),
    ("am", _AM_PM, 0),
    ("pm", _AM_PM, 12),
    ("ut", _TIME_ZONE_NAME, 0),
    ("utc", _TIME_ZONE_NAME, 0),
    ("z", _TIME_ZONE_NAME, 0),
    ("gmt", _TIME_ZONE_NAME, 0),
    ("cdt", _TIME_ZONE_NAME, -5),
    ("cst", _TIME_ZONE_NAME, -6),
    ("edt", _TIME_ZONE_NAME, -4),
    ("est", _TIME_ZONE_NAME, -5),
    ("mdt", _TIME_ZONE_NAME, -6),
    ("mst", _TIME_ZONE_NAME, -7),
    ("pdt", _TIME_ZONE_NAME, -7),
    ("pst", _TIME_ZONE_NAME, -8),
    ("t", _TIME_SEPARATOR, 0),
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str | int  # one of the string kinds above, or a keyword type
    value: int = -1
    length: int = 0

    def is_symbol(self, symbol: str) -> bool:
        return self.kind == _SYMBOL and self.value == ord(symbol)

    def is_sign(self) -> bool:
        return self.kind == _SYMBOL and self.value in (ord("+"), ord("-"))

    def sign(self) -> int:
        return 44 - self.value  # '+' is 43, '-' is 45

    def is_fixed_number(self, length: int) -> bool:
        return self.kind == _NUMBER and self.length == length

    def is_keyword_z(self) -> bool:
        return self.kind == _TIME_ZONE_NAME and self.length == 1 and self.value == 0


def _lookup_keyword(word: str) -> tuple[int, int]:
    """V8's KeywordTable::Lookup: the first three characters, lower-cased by ``| 0x20``."""
    prefix = "".join(chr(ord(char) | 0x20) for char in word[:3]).ljust(3, "\0")
    for name, kind, value in _KEYWORDS:
        if prefix == name.ljust(3, "\0") and (len(word) <= 3 or kind == _MONTH_NAME):
            return kind, value
    return _INVALID, 0


class _Scanner:
    """V8's DateStringTokenizer over an InputReader, one token of look-ahead."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._next = self._scan()

    def _char(self) -> str:
        return self._text[self._pos] if self._pos < len(self._text) else "\0"

    def _scan(self) -> _Token:
        char = self._char()
        start = self._pos
        if char == "\0":
            return _Token(_END)
        if "0" <= char <= "9":
            number = 0
            while "0" <= self._char() <= "9":
                if self._pos - start < _MAX_DIGITS:
                    number = number * 10 + ord(self._char()) - 48
                self._pos += 1
            return _Token(_NUMBER, number, self._pos - start)
        if char in ":-+.)":
            self._pos += 1
            return _Token(_SYMBOL, ord(char), 1)
        if char >= "A":
            while self._char() >= "A":
                self._pos += 1
            word = self._text[start : self._pos]
            kind, value = _lookup_keyword(word)
            return _Token(kind, value, len(word))
        if char in JS_WHITESPACE:
            self._pos += 1
            return _Token(_WHITESPACE, -1, 1)
        if char == "(":
            balance = 0
            while True:
                current = self._char()
                if current == ")":
                    balance -= 1
                elif current == "(":
                    balance += 1
                self._pos += 1
                if balance <= 0 or self._char() == "\0":
                    break
            return _Token(_UNKNOWN)
        self._pos += 1
        return _Token(_UNKNOWN)

    def next(self) -> _Token:
        token = self._next
        self._next = self._scan()
        return token

    def peek(self) -> _Token:
        return self._next

    def skip_symbol(self, symbol: str) -> bool:
        if self._next.is_symbol(symbol):
            self._next = self._scan()
            return True
        return False


def _between(value: int, low: int, high: int) -> bool:
    return low <= value <= high


class _Day:
    def __init__(self) -> None:
        self.comp: list[int] = []
        self.named_month = _NONE
        self.iso = False

    def add(self, number: int) -> bool:
        if len(self.comp) < 3:
            self.comp.append(number)
            return True
        return False

    def write(self) -> tuple[int, int, int] | None:
        if not self.comp:
            return None
        # V8 pads the missing components with 1 *before* choosing an order, so its
        # "index_ == 3" and "index_ == 1" tests always see 3: a lone "12" is December 2001.
        comp = self.comp + [1] * (3 - len(self.comp))
        if self.named_month == _NONE:
            if self.iso or not _between(comp[0], 1, 31):
                year, month, day = comp
            else:
                month, day, year = comp
        else:
            month = self.named_month
            if not _between(comp[0], 1, 31):
                year, day = comp[0], comp[1]
            else:
                day, year = comp[0], comp[1]
        if not self.iso:
            year += 2000 if _between(year, 0, 49) else 1900 if _between(year, 50, 99) else 0
        if not (_between(month, 1, 12) and _between(day, 1, 31)):
            return None
        return year, month, day


class _Time:
    def __init__(self) -> None:
        self.comp: list[int] = []
        self.hour_offset = _NONE

    def empty(self) -> bool:
        return not self.comp

    def expecting(self, number: int) -> bool:
        index = len(self.comp)
        return (
            (index == 1 and _between(number, 0, 59))
            or (index == 2 and _between(number, 0, 59))
            or (index == 3 and _between(number, 0, 999))
        )

    def add(self, number: int) -> bool:
        if len(self.comp) < 4:
            self.comp.append(number)
            return True
        return False

    def add_final(self, number: int) -> bool:
        if not self.add(number):
            return False
        self.comp += [0] * (4 - len(self.comp))
        return True

    def write(self) -> tuple[int, int, int, int] | None:
        hour, minute, second, millisecond = self.comp + [0] * (4 - len(self.comp))
        if self.hour_offset != _NONE:
            if not _between(hour, 0, 12):
                return None
            hour = hour % 12 + self.hour_offset
        if not (
            _between(hour, 0, 23)
            and _between(minute, 0, 59)
            and _between(second, 0, 59)
            and _between(millisecond, 0, 999)
        ) and (hour != 24 or minute or second or millisecond):
            return None
        return hour, minute, second, millisecond


class _Zone:
    def __init__(self) -> None:
        self.sign = _NONE
        self.hour = _NONE
        self.minute = _NONE

    def set(self, hours: int) -> None:
        self.sign = -1 if hours < 0 else 1
        self.hour = abs(hours)
        self.minute = 0

    def expecting(self, number: int) -> bool:
        return self.hour != _NONE and self.minute == _NONE and _between(number, 0, 59)

    def is_utc(self) -> bool:
        return self.hour == 0 and self.minute == 0

    def write(self) -> int | None:
        """Offset in seconds, or None when no zone was given."""
        if self.sign == _NONE:
            return None
        hour = 0 if self.hour == _NONE else self.hour
        minute = 0 if self.minute == _NONE else self.minute
        total = hour * 3600 + minute * 60
        if total > 2**30 - 1:
            return None
        return -total if self.sign < 0 else total


def _milliseconds(token: _Token) -> int:
    number, length = token.value, token.length
    if length == 1:
        return number * 100
    if length == 2:
        return number * 10
    divisor: int = 10 ** (min(length, _MAX_DIGITS) - 3)
    return number // divisor


def _time_part_ok(token: _Token, hour_is_24: bool) -> bool:
    """Minutes and seconds: two digits, 00..59, and 00 after an hour of 24."""
    return token.is_fixed_number(2) and _between(token.value, 0, 59) and not (hour_is_24 and token.value > 0)


def _parse_es5(scanner: _Scanner, day: _Day, time: _Time, zone: _Zone) -> _Token:
    """V8's ParseES5DateTime: returns END when done, BAD on failure, else the next token."""
    if scanner.peek().is_sign():
        sign_token = scanner.next()
        if not scanner.peek().is_fixed_number(6):
            return sign_token
        year = scanner.next().value
        if sign_token.sign() < 0 and year == 0:
            return sign_token
        day.add(sign_token.sign() * year)
    elif scanner.peek().is_fixed_number(4):
        day.add(scanner.next().value)
    else:
        return scanner.next()
    if scanner.skip_symbol("-"):
        if not scanner.peek().is_fixed_number(2) or not _between(scanner.peek().value, 1, 12):
            return scanner.next()
        day.add(scanner.next().value)
        if scanner.skip_symbol("-"):
            if not scanner.peek().is_fixed_number(2) or not _between(scanner.peek().value, 1, 31):
                return scanner.next()
            day.add(scanner.next().value)
    if scanner.peek().kind != _TIME_SEPARATOR:
        if scanner.peek().kind != _END:
            return scanner.next()
    else:
        scanner.next()
        bad = _Token(_BAD)
        if not scanner.peek().is_fixed_number(2) or not _between(scanner.peek().value, 0, 24):
            return bad
        hour_is_24 = scanner.peek().value == 24
        time.add(scanner.next().value)
        if not scanner.skip_symbol(":") or not _time_part_ok(scanner.peek(), hour_is_24):
            return bad
        time.add(scanner.next().value)
        if scanner.skip_symbol(":"):
            if not _time_part_ok(scanner.peek(), hour_is_24):
                return bad
            time.add(scanner.next().value)
            if scanner.skip_symbol("."):
                if scanner.peek().kind != _NUMBER or (hour_is_24 and scanner.peek().value > 0):
                    return bad
                time.add(_milliseconds(scanner.next()))
        if scanner.peek().is_keyword_z():
            scanner.next()
            zone.set(0)
        elif scanner.peek().is_sign():
            zone.sign = scanner.next().sign()
            if scanner.peek().is_fixed_number(4):
                hour, minute = divmod(scanner.next().value, 100)
                if not (_between(hour, 0, 23) and _between(minute, 0, 59)):
                    return bad
                zone.hour, zone.minute = hour, minute
            else:
                if not scanner.peek().is_fixed_number(2) or not _between(scanner.peek().value, 0, 23):
                    return bad
                zone.hour = scanner.next().value
                if not scanner.skip_symbol(":"):
                    return bad
                if not scanner.peek().is_fixed_number(2) or not _between(scanner.peek().value, 0, 59):
                    return bad
                zone.minute = scanner.next().value
        if scanner.peek().kind != _END:
            return bad
    if zone.hour == _NONE and time.empty():
        zone.set(0)
    day.iso = True
    return _Token(_END)


def _parse_legacy(scanner: _Scanner, token: _Token, day: _Day, time: _Time, zone: _Zone) -> bool:
    """The loop of V8's DateParser::Parse after the ES5 reader gave up (or finished)."""
    has_read_number = bool(day.comp)
    while token.kind != _END:
        if token.kind == _NUMBER:
            has_read_number = True
            number = token.value
            if scanner.skip_symbol(":"):
                if scanner.skip_symbol(":"):
                    if not time.empty():
                        return False
                    time.add(number)
                    time.add(0)
                else:
                    if not time.add(number):
                        return False
                    if scanner.peek().is_symbol("."):
                        scanner.next()
            elif scanner.peek().is_symbol(".") and time.expecting(number):
                scanner.next()
                time.add(number)
                if scanner.peek().kind != _NUMBER:
                    return False
                time.add_final(_milliseconds(scanner.next()))
            elif zone.expecting(number):
                zone.minute = number
            elif time.expecting(number):
                time.add_final(number)
                peek = scanner.peek()
                if peek.kind not in (_END, _WHITESPACE) and not peek.is_keyword_z() and not peek.is_sign():
                    return False
            else:
                if not day.add(number):
                    return False
                scanner.skip_symbol("-")
        elif isinstance(token.kind, int):
            if token.kind == _AM_PM and not time.empty():
                time.hour_offset = token.value
            elif token.kind == _MONTH_NAME:
                day.named_month = token.value
                scanner.skip_symbol("-")
            elif token.kind == _TIME_ZONE_NAME and has_read_number:
                zone.set(token.value)
            elif has_read_number or scanner.peek().kind == _NUMBER:
                return False
        elif token.is_sign() and (zone.is_utc() or not time.empty()):
            zone.sign = token.sign()
            number, length = 0, 0
            if scanner.peek().kind == _NUMBER:
                number_token = scanner.next()
                number, length = number_token.value, number_token.length
            has_read_number = True
            if scanner.peek().is_symbol(":"):
                zone.hour, zone.minute = number, _NONE
            elif length in (1, 2):
                zone.hour, zone.minute = number, 0
            elif length in (3, 4):
                zone.hour, zone.minute = divmod(number, 100)
            else:
                return False
        elif (token.is_sign() or token.is_symbol(")")) and has_read_number:
            return False
        token = scanner.next()
    return True


def _make_time(
    year: int, month: int, day: int, clock: tuple[int, int, int, int], offset_s: int
) -> float | None:
    """ECMAScript MakeDate/TimeClip, as milliseconds since the epoch (months overflow forward)."""
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    if not -271821 <= year <= 275760:
        return None
    days = _days_from_civil(year, month, 1) + day - 1
    hour, minute, second, millisecond = clock
    value = days * 86_400_000.0 + ((hour * 60 + minute) * 60 + second) * 1000 + millisecond
    value -= offset_s * 1000
    return value if abs(value) <= _MAX_TIME_MS else None


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a proleptic Gregorian date (any year, unlike ``datetime``)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def parse_date(text: str) -> float | None:
    """``Date.parse(text)``: milliseconds since the epoch, or None where V8 gives NaN."""
    scanner = _Scanner(text)
    day, time, zone = _Day(), _Time(), _Zone()
    token = _parse_es5(scanner, day, time, zone)
    if token.kind == _BAD or not _parse_legacy(scanner, token, day, time, zone):
        return None
    date, clock = day.write(), time.write()
    if date is None or clock is None:
        return None
    offset = zone.write()
    return _make_time(*date, clock, offset or 0)


_YUP_ISO: Final = re.compile(
    r"(\d{4}|[+\-]\d{6})(?:-?(\d{2})(?:-?(\d{2}))?)?(?:[ T]?(\d{2}):?(\d{2})(?::?(\d{2})"
    r"(?:[,\.](\d{1,}))?)?(?:(Z)|([+\-])(\d{2})(?::?(\d{2}))?)?)?",
    re.ASCII,
)


def yup_parse_iso(text: str) -> float | None:
    """yup's util/isodate.js: its own ISO reading (months and days may be absent or overflow)."""
    found = _YUP_ISO.fullmatch(text)
    if found is None:
        return parse_date(text)
    year = int(found.group(1))
    year += 1900 if 0 <= year <= 99 else 0  # Date.UTC and new Date(y, ...) read 0..99 as 19xx
    month = int(found.group(2) or 0) or 1
    day = int(found.group(3) or 0) or 1
    hour, minute, second = (int(found.group(index) or 0) for index in (4, 5, 6))
    millisecond = int(found.group(7)[:3]) if found.group(7) else 0
    offset_s = 0
    if found.group(9):
        offset_s = (int(found.group(10)) * 60 + int(found.group(11) or 0)) * 60
        offset_s = offset_s if found.group(9) == "+" else -offset_s
    return _make_time(year, month, day, (hour, minute, second, millisecond), offset_s)


class InvalidDate:
    """A JavaScript ``Date`` whose time is NaN (``new Date('')``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Invalid Date"


INVALID_DATE: Final = InvalidDate()


def from_milliseconds(value: float) -> datetime:
    return _EPOCH + timedelta(milliseconds=value)


def to_iso_string(moment: datetime) -> str:
    """``Date.prototype.toISOString``: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
