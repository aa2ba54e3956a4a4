"""``Retry-After`` (RFC 9110 §10.2.3) read from an answer: seconds or an HTTP date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from supporterflow.adapters.outbound import Reply, retry_after


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), ("0", 0.0), (" 7 ", 7.0), ("", None), ("soon", None), ("-5", None), ("1.5", None)],
)
def test_delay_seconds(value: str, expected: float | None) -> None:
    assert retry_after(Reply(429, b"", {"retry-after": value})) == expected


def test_no_header() -> None:
    assert retry_after(Reply(503, b"")) is None


def test_an_http_date_is_the_time_left_until_then() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    seconds = retry_after(Reply(503, b"", {"retry-after": later}))
    assert seconds is not None
    assert 85 <= seconds <= 90


def test_a_date_in_the_past_means_now() -> None:
    earlier = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert retry_after(Reply(503, b"", {"retry-after": earlier})) == 0.0
