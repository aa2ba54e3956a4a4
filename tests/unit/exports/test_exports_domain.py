"""The exports' pure rules: keys, dates, clean-up, empty strings, typed rows."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pytest

from supporterflow.domain.exports.columns import COLUMNS, Column, arrow_schema
from supporterflow.domain.exports.encode import ParquetRows, RowConverter
from supporterflow.domain.exports.layout import data_prefix, export_date, object_key
from supporterflow.domain.exports.lines import nulled_empty_strings, nullify, subscription_line, without

NOW = datetime(2026, 3, 1, 0, 3, tzinfo=UTC)


def test_prefix_is_data_in_prod_and_code_data_elsewhere() -> None:
    assert (data_prefix("PROD"), data_prefix("CODE"), data_prefix("DEV")) == (
        "data",
        "code-data",
        "code-data",
    )


def test_keys_follow_the_original_for_ndjson_and_a_parallel_tree_for_parquet() -> None:
    assert object_key("ndjson", stage="PROD", day="2026-02-28") == "data/date=2026-02-28/2026-02-28.json.gz"
    assert object_key("ndjson", stage="CODE", day="2026-02-28", part="001500-ab12cd-1") == (
        "code-data/date=2026-02-28/2026-02-28-001500-ab12cd-1.json.gz"
    )
    assert object_key("parquet", stage="PROD", day="2026-02-28") == (
        "parquet/data/export_date=2026-02-28/2026-02-28.parquet"
    )


def test_the_default_date_is_yesterday_in_utc() -> None:
    assert export_date(None, NOW) == "2026-02-28"
    assert export_date("2024-02-29", NOW) == "2024-02-29"


@pytest.mark.parametrize("text", ["2026-2-28", "2026-02-30", "yesterday", "2026-02-28T00:00", ""])
def test_a_date_that_is_not_a_calendar_date_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a date"):
        export_date(text, NOW)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"a":"","b":"x"}', '{"a":null,"b":"x"}'),
        ('{"a":["","",""],"b":{"c":""}}', '{"a":[null,null,null],"b":{"c":null}}'),
        ('{"":"","x":"a\\"\\""}', '{"":null,"x":"a\\"\\""}'),
        ('{"extra":"{\\"k\\":\\"\\"}"}', '{"extra":"{\\"k\\":\\"\\"}"}'),
        ('{"a":"x,\\"\\",y"}', '{"a":"x,\\"\\",y"}'),
        ('{"a":1}', '{"a":1}'),
    ],
)
def test_empty_string_values_become_null_and_nothing_else_changes(line: str, expected: str) -> None:
    result = nulled_empty_strings(line.encode())
    assert result == expected.encode()
    assert json.loads(result) == nullify(json.loads(line))


def _random_value(rng: random.Random, depth: int) -> Any:
    choice = rng.randrange(8 if depth < 4 else 5)
    if choice == 0:
        return ""
    if choice == 1:
        return rng.choice(['"', '""', ':""', ',"",', '[""]', "\\", "x\\", "\u00e9", "a,", "{", "null"])
    if choice == 2:
        return rng.choice([0, 1.5, True, None])
    if choice in (3, 4):
        return rng.choice(["", "v", "é", ":"]) * rng.randrange(3)
    if choice in (5, 6):
        return {
            rng.choice(["", "k", '"', "a:", "b"]) + str(i): _random_value(rng, depth + 1)
            for i in range(rng.randrange(4))
        }
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(5))]


def test_empty_string_values_become_null_in_any_document() -> None:
    """Against the reference (decode, replace, encode) on random documents full of empty strings,
    quotes, commas and brackets inside strings, several documents per text as in a page."""
    rng = random.Random(20261205)
    for _ in range(3000):
        # Lines are objects (rows), whatever they hold.
        documents = [{"row": _random_value(rng, 0)} for _ in range(rng.randrange(1, 4))]
        text = "\n".join(json.dumps(d, separators=(",", ":"), ensure_ascii=False) for d in documents) + "\n"
        expected = "\n".join(
            json.dumps(nullify(d), separators=(",", ":"), ensure_ascii=False) for d in documents
        )
        assert nulled_empty_strings(text.encode()).decode() == expected + "\n"


def test_subscription_lines_null_only_inside_payloads_and_carry_the_table_name() -> None:
    item = {"subscriptionId": "1", "extra": "", "googlePayload": {"a": "", "b": [""]}, "applePayload": None}
    assert subscription_line(item) == {
        "subscriptionId": "1",
        "extra": "",
        "googlePayload": {"a": None, "b": [None]},
        "applePayload": None,
        "tableName": "subscriptions",
    }


def test_without_removes_nested_paths_and_leaves_the_input_alone() -> None:
    document = {
        "payload": {"password": "p", "unified_receipt": {"latest_receipt": "r", "x": 1}, "y": 2},
        "z": 3,
    }
    original = json.loads(json.dumps(document))
    result = without(
        document, ["payload.password", "payload.unified_receipt.latest_receipt", "payload.nope.x", "q"]
    )
    assert result == {"payload": {"unified_receipt": {"x": 1}, "y": 2}, "z": 3}
    assert document == original
    assert without({"payload": "text"}, ["payload.password"]) == {"payload": "text"}


COLUMNS_UNDER_TEST = (
    Column("s", "string", ""),
    Column("b", "bool", ""),
    Column("i", "int", ""),
    Column("t", "timestamp", ""),
    Column("d", "date", ""),
    Column("j", "json", ""),
)


def test_rows_become_typed_columns_with_payloads_as_json_text() -> None:
    batch, wrong = RowConverter(COLUMNS_UNDER_TEST).convert(
        [
            '{"s":"x","b":true,"i":7,"t":"2026-12-01T10:00:00.123Z","d":"2026-12-01","j":{"k":[1,"v"]},"other":1}',
            '{"s":null,"j":null}',
            '{"s":"y","j":"text"}',
        ]
    )
    assert wrong == 0
    assert batch.schema == arrow_schema(COLUMNS_UNDER_TEST)
    assert batch.to_pylist() == [
        {
            "s": "x",
            "b": True,
            "i": 7,
            "t": datetime(2026, 12, 1, 10, 0, 0, 123_000, tzinfo=UTC),
            "d": date(2026, 12, 1),
            "j": '{"k":[1,"v"]}',
        },
        {"s": None, "b": None, "i": None, "t": None, "d": None, "j": None},
        {"s": "y", "b": None, "i": None, "t": None, "d": None, "j": '"text"'},
    ]


def test_values_of_the_wrong_type_are_nulled_and_counted() -> None:
    batch, wrong = RowConverter(COLUMNS_UNDER_TEST).convert(
        [
            '{"s":1,"b":1,"i":true,"t":"2026-12-01T10:00:00.123456Z","d":"someday","j":{}}',
            '{"s":"ok","t":"2026-12-01T10:00:00","i":1.5}',
        ]
    )
    rows = batch.to_pylist()
    assert rows[0] == {
        "s": None,
        "b": None,
        "i": None,
        "t": datetime(2026, 12, 1, 10, 0, 0, 123_000, tzinfo=UTC),  # to the millisecond
        "d": None,
        "j": "{}",
    }
    assert rows[1]["s"] == "ok"
    assert rows[1]["i"] is None
    assert rows[1]["t"] == datetime(2026, 12, 1, 10, tzinfo=UTC)  # no zone: UTC
    assert wrong == 5


def test_parquet_rows_group_rows_and_write_a_readable_file() -> None:
    import io

    import pyarrow.parquet as pq

    columns = COLUMNS["user-subscriptions"]
    encoder, converter = ParquetRows(columns, row_group_rows=1000), RowConverter(columns)
    lines = [
        json.dumps({"userId": f"u{i}", "subscriptionId": "s", "creationTimestamp": None}) for i in range(2500)
    ]
    batches = (converter.convert(lines[start : start + 300])[0] for start in range(0, 2500, 300))
    data = b"".join(encoder.add(batch) for batch in batches) + encoder.finish()
    parquet = pq.ParquetFile(io.BytesIO(data))
    assert parquet.metadata.num_rows == 2500
    assert [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)] == [
        1200,
        1200,
        100,
    ]
    assert parquet.schema_arrow.field("creationTimestamp").type == pa.timestamp("ms", tz="UTC")
