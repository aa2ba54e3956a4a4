"""JS-compatible date helpers (spec §2.1), including every case of spec §12.14."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from supporterflow.domain.subscriptions.dates import (
    date_to_ms,
    date_to_second_timestamp,
    iso_day,
    js_date_parse,
    ms_to_date,
    optional_ms_to_date,
    plus_days,
    plus_hours,
    plus_months,
    thirty_months,
    to_iso,
)


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def test_thirty_months_after_2019_01_01_is_2021_07_01() -> None:
    assert thirty_months(at(2019, 1, 1)) == at(2021, 7, 1)


def test_date_to_second_timestamp_of_a_whole_second_is_exact() -> None:
    assert date_to_second_timestamp(at(2019, 1, 1)) == 1546300800


def test_date_to_second_timestamp_rounds_32_milliseconds_up() -> None:
    assert date_to_second_timestamp(at(2019, 1, 1, 0, 0, 0, 32_000)) == 1546300801


@pytest.mark.parametrize("value", [None, ""])
def test_optional_ms_to_date_of_nothing_is_none(value: str | None) -> None:
    assert optional_ms_to_date(value) is None


def test_optional_ms_to_date_of_letters_is_none() -> None:
    assert optional_ms_to_date("abc") is None


def test_optional_ms_to_date_of_digits_is_that_many_milliseconds() -> None:
    assert optional_ms_to_date("12345") == ms_to_date(12345)
    assert date_to_ms(optional_ms_to_date("12345") or at(2000, 1, 1)) == 12345


def test_optional_ms_to_date_reads_only_the_leading_digits_like_parse_int() -> None:
    assert optional_ms_to_date("12345abc") == ms_to_date(12345)


def test_optional_ms_to_date_out_of_the_javascript_range_is_none() -> None:
    assert optional_ms_to_date("8640000000000001") is None


def test_ms_to_date_of_nan_is_none() -> None:
    assert ms_to_date(float("nan")) is None


def test_plus_months_lets_the_day_overflow_into_the_next_month_like_set_utc_month() -> None:
    assert thirty_months(at(2019, 8, 31)) == at(2022, 3, 3)


def test_plus_months_overflow_in_a_leap_year_lands_one_day_earlier() -> None:
    assert plus_months(at(2021, 8, 31), 30) == at(2024, 3, 2)


def test_plus_months_keeps_the_time_of_day_and_converts_to_utc() -> None:
    moment = datetime(2019, 1, 1, 2, 30, tzinfo=timezone(timedelta(hours=2)))
    assert plus_months(moment, 1) == at(2019, 2, 1, 0, 30)


def test_naive_datetimes_are_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        thirty_months(datetime(2019, 1, 1))


def test_plus_days_and_plus_hours_are_plain_utc_arithmetic() -> None:
    assert plus_days(at(2019, 12, 31), 1) == at(2020, 1, 1)
    assert plus_hours(at(2019, 12, 31, 23), 13) == at(2020, 1, 1, 12)


def test_to_iso_always_has_three_millisecond_digits_and_z() -> None:
    assert to_iso(at(2017, 8, 21, 21, 6, 6, 168_000)) == "2017-08-21T21:06:06.168Z"
    assert to_iso(at(2019, 1, 1)) == "2019-01-01T00:00:00.000Z"
    assert iso_day(at(2017, 8, 21, 21, 6, 6)) == "2017-08-21"


def test_google_event_ttl_of_spec_12_1_is_1582319167() -> None:
    event_time = ms_to_date(1503349566168)
    assert event_time is not None
    assert to_iso(event_time) == "2017-08-21T21:06:06.168Z"
    assert date_to_second_timestamp(thirty_months(event_time)) == 1582319167


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-03-14 07:24:38 UTC", at(2023, 3, 14, 7, 24, 38)),
        ("2019-01-01T00:00:00.032Z", at(2019, 1, 1, 0, 0, 0, 32_000)),
        ("2019-01-01", at(2019, 1, 1)),
        ("not a date", None),
        ("", None),
    ],
)
def test_js_date_parse_reads_what_v8_reads(text: str, expected: datetime | None) -> None:
    assert js_date_parse(text) == expected
