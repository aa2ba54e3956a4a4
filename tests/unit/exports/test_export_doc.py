"""docs/export.md shows exactly the Parquet schemas the code writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from supporterflow.domain.exports.columns import COLUMNS, markdown_table
from supporterflow.domain.exports.layout import Dataset

DOC = Path(__file__).resolve().parents[3] / "docs" / "export.md"


@pytest.mark.parametrize(
    "dataset", ["subscription-events", "subscriptions", "user-subscriptions", "apple-historical"]
)
def test_the_documented_schema_is_the_written_one(dataset: Dataset) -> None:
    assert markdown_table(COLUMNS[dataset]) in DOC.read_text()


def test_both_historical_datasets_share_one_schema() -> None:
    assert COLUMNS["apple-historical"] == COLUMNS["google-historical"]
