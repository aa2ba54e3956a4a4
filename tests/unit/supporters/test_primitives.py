"""The JavaScript pieces behind the fields: Date parsing, number text, UK postcodes, phones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from supporterflow.domain.supporters import ERP_PRODUCER_REQUEST, mocks, postcode
from supporterflow.domain.supporters.schema.dates import parse_date
from supporterflow.domain.supporters.schema.js import number_to_string, print_value
from tests.unit.supporters.helpers import run


def _epoch_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp() * 1000


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-02-08T08:31:02.160Z", _epoch_ms(2021, 2, 8, 8, 31, 2) + 160),
        ("2020-07-20T00:00+01:00", _epoch_ms(2020, 7, 19, 23, 0)),
        ("2020-02-31T00:00:00Z", _epoch_ms(2020, 3, 2)),  # days overflow, as in V8
        ("Mon, 25 Dec 1995 13:30:00 GMT", _epoch_ms(1995, 12, 25, 13, 30)),
        ("foo 2020", _epoch_ms(2020, 1, 1)),  # words before the first number are ignored
        ("12", _epoch_ms(2001, 12, 1)),  # a lone month: V8 defaults the year to 2001
    ],
)
def test_v8_date_strings_are_read_as_node_reads_them(text: str, expected: float) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", ["2020-13-01", "1603660247", "abc", "2020-01-01T25:00", "", "13"])
def test_strings_node_cannot_read_are_not_dates(text: str) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize(
    ("number", "text"),
    [(5, "5"), (100.0, "100"), (0.1, "0.1"), (1e21, "1e+21"), (1e-7, "1e-7"), (1e16, "10000000000000000")],
)
def test_numbers_print_as_javascript_prints_them(number: float, text: str) -> None:
    assert number_to_string(number) == text


def test_nested_values_print_as_yups_print_value() -> None:
    assert (
        print_value({"a": [1, None, "x"]}, quote_strings=True)
        == '{\n  "a": [\n    "1",\n    "null",\n    "\\"x\\""\n  ]\n}'
    )


@pytest.mark.parametrize(
    ("text", "normalised"),
    [("se17tp", "SE1 7TP"), ("SE1 7TP", "SE1 7TP"), ("ec1a1bb", "EC1A 1BB"), ("m11ae", "M1 1AE")],
)
def test_uk_postcodes_are_normalised(text: str, normalised: str) -> None:
    assert postcode.to_normalised(text) == normalised


@pytest.mark.parametrize("text", ["SE1", "12345", " se17tp", "SE1 7TPX"])
def test_malformed_postcodes_are_invalid(text: str) -> None:
    assert postcode.to_normalised(text) is None


def _giftaid(**data: object) -> dict[str, object]:
    action = mocks.action("giftaid:submit")
    action["data"].update(data)
    return {"actions": [action]}


def test_the_postcode_field_trims_and_normalises() -> None:
    value = run(ERP_PRODUCER_REQUEST, _giftaid(postcode="  se17tp ")).value
    assert value["actions"][0]["data"]["postcode"] == "SE1 7TP"


def test_the_postcode_field_rejects_what_the_library_rejects() -> None:
    assert run(ERP_PRODUCER_REQUEST, _giftaid(postcode="nope")).errors == (
        "actions[0].data.postcode is not a valid postcode: 'nope'",
    )


def test_the_timestamp_field_rejects_what_node_cannot_read() -> None:
    assert run(ERP_PRODUCER_REQUEST, _giftaid(submission_date="not a date")).errors == (
        "actions[0].data.submission_date is not a valid timestamp: 'not a date'",
    )


@pytest.mark.parametrize(
    ("phone", "valid"), [("020 7820 2000", True), ("+44 20 7820 2000", True), ("12345", False)]
)
def test_the_phone_field_accepts_uk_formats_only(phone: str, valid: bool) -> None:
    signup = mocks.action("fundraiser:signup:submit")
    signup["data"]["phone"] = phone
    result = run(ERP_PRODUCER_REQUEST, {"actions": [signup]})
    assert result.errors == (
        () if valid else (f"actions[0].data.phone is not a valid phone number: '{phone}'",)
    )
