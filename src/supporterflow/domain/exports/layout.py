"""Where exports go: the original's keys for NDJSON, a parallel tree for Parquet.

The original writes ``<prefix>/date=<date>/<date>.json.gz`` (``prefix`` = ``data`` in PROD, else
``code-data``) into one bucket per dataset; an Airflow job loads every file of a date folder.
Parquet files therefore live under ``parquet/`` beside that tree, never inside the folders the
loader globs, and their partition is named ``export_date`` because the events already have a
``date`` column: Spark and BigQuery refuse a partition key that is also a column of the files.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal

Dataset = Literal[
    "subscription-events", "subscriptions", "user-subscriptions", "apple-historical", "google-historical"
]
Format = Literal["ndjson", "parquet"]

DATASETS: Final[tuple[Dataset, ...]] = (
    "subscription-events",
    "subscriptions",
    "user-subscriptions",
    "apple-historical",
    "google-historical",
)
FORMATS: Final[tuple[Format, ...]] = ("ndjson", "parquet")

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def data_prefix(stage: str) -> str:
    """``data`` for PROD, ``code-data`` for every other stage (spec §9)."""
    return "data" if stage == "PROD" else "code-data"


def export_date(text: str | None, now: datetime) -> str:
    """The date to export: ``text`` checked as a calendar date, or yesterday (UTC) when None."""
    if text is None:
        return (now.astimezone(UTC) - timedelta(days=1)).date().isoformat()
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {text!r}") from None
    return text


def object_key(fmt: Format, *, stage: str, day: str, part: str | None = None) -> str:
    """The key of one export file. ``part`` names one of several files of a date (historical
    drains add a file per run instead of replacing the date's output)."""
    name = day if part is None else f"{day}-{part}"
    prefix = data_prefix(stage)
    if fmt == "ndjson":
        return f"{prefix}/date={day}/{name}.json.gz"
    return f"parquet/{prefix}/export_date={day}/{name}.parquet"
