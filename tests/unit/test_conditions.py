"""``conditions.holds``: DynamoDB's condition semantics, including its typing."""

from __future__ import annotations

import pytest

from supporterflow.adapters.conditions import holds
from supporterflow.ports import (
    Absent,
    AllOf,
    AnyOf,
    AttrEquals,
    AttrLessThan,
    AttrMissing,
    Condition,
    Exists,
    Item,
)

ITEM: Item = {
    "id": "p-1",
    "version": 3,
    "ratio": 0.5,
    "name": "Ada",
    "active": True,
    "note": None,
    "tags": ["a", "b"],
    "address": {"city": "London"},
}

TRUTH_TABLE: list[tuple[str, Condition | None, Item | None, bool]] = [
    # no condition
    ("no condition on an item", None, ITEM, True),
    ("no condition on no item", None, None, True),
    # existence
    ("exists on an item", Exists(), ITEM, True),
    ("exists on no item", Exists(), None, False),
    ("absent on an item", Absent(), ITEM, False),
    ("absent on no item", Absent(), None, True),
    # equality
    ("equal string", AttrEquals("name", "Ada"), ITEM, True),
    ("different string", AttrEquals("name", "ada"), ITEM, False),
    ("equal number", AttrEquals("version", 3), ITEM, True),
    ("int equals the same float", AttrEquals("version", 3.0), ITEM, True),
    ("number is not its string", AttrEquals("version", "3"), ITEM, False),
    ("string is not its number", AttrEquals("id", 1), {"id": "1"}, False),
    ("1 is not the string 1", AttrEquals("n", "1"), {"n": 1}, False),
    ("true is not 1", AttrEquals("active", 1), ITEM, False),
    ("1 is not true", AttrEquals("n", True), {"n": 1}, False),
    ("false is not 0", AttrEquals("n", False), {"n": 0}, False),
    ("equal boolean", AttrEquals("active", True), ITEM, True),
    ("equal null", AttrEquals("note", None), ITEM, True),
    ("null is not a missing attribute", AttrEquals("missing", None), ITEM, False),
    ("equal list", AttrEquals("tags", ["a", "b"]), ITEM, True),
    ("list order matters", AttrEquals("tags", ["b", "a"]), ITEM, False),
    ("equal map", AttrEquals("address", {"city": "London"}), ITEM, True),
    ("equality on a missing attribute", AttrEquals("missing", "x"), ITEM, False),
    ("equality on no item", AttrEquals("name", "Ada"), None, False),
    # less than
    ("smaller number", AttrLessThan("version", 4), ITEM, True),
    ("equal number is not less", AttrLessThan("version", 3), ITEM, False),
    ("greater number", AttrLessThan("version", 2), ITEM, False),
    ("int below a float", AttrLessThan("version", 3.5), ITEM, True),
    ("float below an int", AttrLessThan("ratio", 1), ITEM, True),
    ("smaller string", AttrLessThan("name", "Bob"), ITEM, True),
    ("strings compare by code point", AttrLessThan("name", "ada"), ITEM, True),
    ("greater string", AttrLessThan("name", "Aa"), ITEM, False),
    ("missing attribute fails less than", AttrLessThan("missing", 10), ITEM, False),
    ("no item fails less than", AttrLessThan("version", 10), None, False),
    ("number against string fails", AttrLessThan("version", "9"), ITEM, False),
    ("string against number fails", AttrLessThan("name", 9), ITEM, False),
    ("boolean is not a number", AttrLessThan("active", 2), ITEM, False),
    ("null is not a number", AttrLessThan("note", 2), ITEM, False),
    # missing
    ("missing attribute", AttrMissing("missing"), ITEM, True),
    ("present attribute", AttrMissing("name"), ITEM, False),
    ("present null attribute", AttrMissing("note"), ITEM, False),
    ("missing on no item", AttrMissing("name"), None, True),
    # combinations
    ("any of with one true", AnyOf((Absent(), AttrLessThan("version", 4))), ITEM, True),
    ("any of with none true", AnyOf((Absent(), AttrLessThan("version", 3))), ITEM, False),
    ("insert or newer, on no item", AnyOf((Absent(), AttrLessThan("version", 4))), None, True),
    ("all of with all true", AllOf((Exists(), AttrEquals("name", "Ada"))), ITEM, True),
    ("all of with one false", AllOf((Exists(), AttrEquals("name", "Bob"))), ITEM, False),
    ("empty any of", AnyOf(()), ITEM, False),
    ("empty all of", AllOf(()), ITEM, True),
    (
        "nested",
        AllOf((Exists(), AnyOf((AttrMissing("version"), AttrLessThan("version", 5))))),
        ITEM,
        True,
    ),
]


@pytest.mark.parametrize(
    ("condition", "current", "expected"),
    [case[1:] for case in TRUTH_TABLE],
    ids=[case[0] for case in TRUTH_TABLE],
)
def test_a_condition_holds_as_it_would_on_dynamodb(
    condition: Condition | None, current: Item | None, expected: bool
) -> None:
    assert holds(condition, current) is expected


def test_something_that_is_not_a_condition_is_refused() -> None:
    with pytest.raises(TypeError, match="not a condition"):
        holds("version < 3", ITEM)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("stored", "expected"),
    [([1], [True]), ({"n": 0}, {"n": False}), ([{"a": [1]}], [{"a": [True]}])],
    ids=["list", "map", "nested-list"],
)
def test_equality_is_typed_inside_lists_and_maps(stored: object, expected: object) -> None:
    assert holds(AttrEquals("value", expected), {"value": stored}) is False
