"""Date helpers with the exact JavaScript semantics of mobile-purchases' ``utils/dates.ts`` (spec §2.1).

Why: TTLs, ISO columns and sort orders are compared byte-for-byte by the acceptance tests and by
rows already in DynamoDB, and JavaScript's ``Date`` differs from Python's ``datetime`` in
``parseInt`` prefix parsing, month overflow and millisecond precision. All functions are pure:
the current time is always passed in as an aware ``datetime``; results are aware UTC datetimes.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Final

from supporterflow.domain.subscriptions.js import parse_int
from supporterflow.domain.supporters.schema.dates import parse_date

__all__ = [
    "date_to_ms",
    "date_to_second_timestamp",
    "iso_day",
    "js_date_parse",
    "ms_to_date",
    "optional_ms_to_date",
    "plus_days",
    "plus_hours",
    "plus_months",
    "thirty_months",
    "to_iso",
]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: ECMA-262 time value range: |t| <= 8.64e15 ms. Python's datetime stops at year 9999, so
#: instants JavaScript accepts beyond that are also reported as invalid (None).
_MAX_JS_MS: Final = 8_640_000_000_000_000


def _utc(moment: datetime) -> datetime:
    """Reject naive datetimes: a JavaScript Date is an instant, never a wall-clock time."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got naive {moment!r}")
    return moment.astimezone(UTC)


def ms_to_date(ms: float | None) -> datetime | None:
    """``new Date(ms)``, or None where JavaScript would produce an Invalid Date (NaN / out of range)."""
    if ms is None or (isinstance(ms, float) and not math.isfinite(ms)) or abs(ms) > _MAX_JS_MS:
        return None
    try:
        return _EPOCH + timedelta(milliseconds=int(ms))
    except OverflowError:
        return None


def date_to_ms(moment: datetime) -> int:
    """``date.getTime()``: epoch milliseconds, sub-millisecond precision truncated like JavaScript."""
    delta = _utc(moment) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def optional_ms_to_date(text: str | None) -> datetime | None:
    """``optionalMsToDate``: null/''/unparsable -> None, else ``new Date(parseInt(text))`` (spec §2.1).

    ``parseInt`` reads leading digits only, so ``"12345abc"`` is 12345 ms and ``"abc"`` is None.
    """
    if text is None or text == "":
        return None
    return ms_to_date(parse_int(text))


def plus_months(moment: datetime, months: int) -> datetime:
    """``d.setUTCMonth(d.getUTCMonth() + months)``: the day of month overflows forward.

    JavaScript keeps the day number and lets it roll into the next month, so Aug 31 + 30 months is
    Mar 3 (Feb has 28 days), not Feb 28 as ``dateutil.relativedelta`` would give (spec §2.1).
    Emulated by moving to the 1st of the target month and adding ``day - 1`` days.
    """
    utc = _utc(moment)
    year, month_index = divmod(utc.year * 12 + utc.month - 1 + months, 12)
    first = utc.replace(year=year, month=month_index + 1, day=1)
    return first + timedelta(days=utc.day - 1)


def thirty_months(moment: datetime) -> datetime:
    """``thirtyMonths``: the TTL horizon of every table (spec §1.1)."""
    return plus_months(moment, 30)


def plus_days(moment: datetime, days: int) -> datetime:
    """``plusDays``: plain UTC arithmetic (24-hour days, no calendar or DST effects)."""
    return _utc(moment) + timedelta(days=days)


def plus_hours(moment: datetime, hours: int) -> datetime:
    """``plusHours``: plain UTC arithmetic."""
    return _utc(moment) + timedelta(hours=hours)


def date_to_second_timestamp(moment: datetime) -> int:
    """``dateToSecondTimestamp``: ``Math.ceil(ms / 1000)``, rounding *up* (spec §2.1).

    2019-01-01T00:00:00.032Z -> 1546300801: TTLs written by Node must match to the second.
    """
    return -(-date_to_ms(moment) // 1000)


def to_iso(moment: datetime) -> str:
    """``toISOString()``: ``YYYY-MM-DDTHH:mm:ss.sssZ``, always three millisecond digits and ``Z``."""
    utc = _utc(moment)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def iso_day(moment: datetime) -> str:
    """``toISOString().substring(0, 10)``: the UTC ``YYYY-MM-DD`` used by the events ``date`` column."""
    return to_iso(moment)[:10]


def js_date_parse(text: str) -> datetime | None:
    """``new Date(Date.parse(text))`` as V8 reads it; None where JavaScript gives NaN.

    Accepts ISO (``2019-01-01T00:00:00.032Z``) and V8's legacy forms such as
    ``2023-03-14 07:24:38 UTC`` (spec §2.1, §12.4). Delegates to the V8 ``DateParser`` port of the
    supporters engine; strings without a zone are read as UTC, the zone Lambda runs in.
    """
    return ms_to_date(parse_date(text))
