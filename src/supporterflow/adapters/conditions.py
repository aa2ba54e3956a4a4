"""Evaluation of ``ports.Condition`` against an item, with DynamoDB's semantics, for adapters that
check conditions themselves (SQLite, in-memory fakes)."""

from __future__ import annotations

from typing import Any

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


def holds(condition: Condition | None, current: Item | None) -> bool:
    """Whether ``condition`` holds for the item as it is now (None: no such item)."""
    match condition:
        case None:
            return True
        case Exists():
            return current is not None
        case Absent():
            return current is None
        case AttrEquals(name, value):
            return current is not None and name in current and _same(current[name], value)
        case AttrLessThan(name, value):
            return current is not None and _comparable(current.get(name), value) and current[name] < value
        case AttrMissing(name):
            return current is None or name not in current
        case AnyOf(conditions):
            return any(holds(c, current) for c in conditions)
        case AllOf(conditions):
            return all(holds(c, current) for c in conditions)
    raise TypeError(f"not a condition: {condition!r}")


def _same(a: Any, b: Any) -> bool:
    # DynamoDB compares types too: the number 1 is not the string "1", and True is not 1.
    return (type(a) is type(b) and a == b) or (_numbers(a, b) and a == b)


def _numbers(a: Any, b: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))


def _comparable(a: Any, b: Any) -> bool:
    return _numbers(a, b) or (isinstance(a, str) and isinstance(b, str))
