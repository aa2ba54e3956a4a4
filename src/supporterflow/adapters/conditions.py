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
            return current is not None and name in current and same(current[name], value)
        case AttrLessThan(name, value):
            return current is not None and _comparable(current.get(name), value) and current[name] < value
        case AttrMissing(name):
            return current is None or name not in current
        case AnyOf(conditions):
            return any(holds(c, current) for c in conditions)
        case AllOf(conditions):
            return all(holds(c, current) for c in conditions)
    raise TypeError(f"not a condition: {condition!r}")


def same(a: Any, b: Any) -> bool:
    """Equality as DynamoDB sees it, at any depth: the number 1 is not the string "1", True is not
    1, but 1 and 1.0 are the same number."""
    if _numbers(a, b):
        return bool(a == b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _numbers(a: Any, b: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))


def _comparable(a: Any, b: Any) -> bool:
    return _numbers(a, b) or (isinstance(a, str) and isinstance(b, str))
