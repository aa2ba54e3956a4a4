"""The list query of Frappe's ``GET /api/resource/<DocType>``: ``fields``, ``filters``,
``or_filters``, ``order_by``, ``limit_start``, ``limit_page_length`` (spec §6).

Frappe turns these into SQL on MariaDB; this module evaluates them over JSON documents and keeps
the SQL behaviours a client can notice: string comparisons ignore case (MariaDB's default
collation), a missing value compares like ``ifnull(field, '')`` (or ``0`` against a number), a
number compares numerically with a numeric string, ``like`` uses ``%`` and ``_``, and ``*`` lists
the parent's own columns only, never its child tables.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from supporterflow.emulators.storage import Document

DEFAULT_PAGE_LENGTH = 20
DEFAULT_ORDER_BY = "modified desc"
OPERATORS = ("=", "!=", ">", ">=", "<", "<=", "like", "not like", "in", "not in", "is")


class QueryError(Exception):
    """A list query Frappe would refuse; Frappe reports these as a ``ValidationError``."""


@dataclass(frozen=True)
class Condition:
    """``field op value``; with ``child_doctype`` set it holds when any row of that child
    doctype satisfies it (Frappe joins the child table for a ``[doctype, field, op, value]``
    filter naming another doctype)."""

    field: str
    op: str
    value: Any
    child_doctype: str | None = None

    def holds(self, document: Document) -> bool:
        if self.child_doctype is None:
            return _compare(document.get(self.field), self.op, self.value)
        return any(
            _compare(row.get(self.field), self.op, self.value)
            for rows in document.values()
            if is_table(rows)
            for row in rows
            if row.get("doctype") == self.child_doctype
        )


@dataclass(frozen=True)
class ListQuery:
    fields: list[str] = field(default_factory=lambda: ["name"])
    filters: list[Condition] = field(default_factory=list)
    or_filters: list[Condition] = field(default_factory=list)
    order_by: list[tuple[str, bool]] = field(default_factory=lambda: _order_by(DEFAULT_ORDER_BY))
    start: int = 0
    page_length: int = DEFAULT_PAGE_LENGTH

    @classmethod
    def parse(cls, doctype: str, params: Mapping[str, str]) -> ListQuery:
        """The query of a list request's parameters, or :class:`QueryError`."""
        fields = _json_param(params, "fields", ["name"])
        if isinstance(fields, str):
            fields = [fields]
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields) or not fields:
            raise QueryError("fields must be a JSON list of field names")
        return cls(
            fields=[_column(f) for f in fields],
            filters=_conditions(doctype, _json_param(params, "filters", [])),
            or_filters=_conditions(doctype, _json_param(params, "or_filters", [])),
            order_by=_order_by(params.get("order_by") or DEFAULT_ORDER_BY),
            start=_count(params, "limit_start", 0),
            page_length=_count(params, "limit_page_length", DEFAULT_PAGE_LENGTH),
        )

    def run(self, documents: list[Document]) -> list[Document]:
        """The page of matching documents, sorted, with only the requested fields."""
        rows = [
            d
            for d in documents
            if all(c.holds(d) for c in self.filters)
            and (not self.or_filters or any(c.holds(d) for c in self.or_filters))
        ]
        for name, descending in reversed(self.order_by):
            rows.sort(key=partial(_sort_key, name), reverse=descending)
        end = None if self.page_length == 0 else self.start + self.page_length
        return [self._select(d) for d in rows[self.start : end]]

    def _select(self, document: Document) -> Document:
        if "*" in self.fields:
            # The parent table's columns: no child tables, and no ``doctype`` (not a column).
            return {k: v for k, v in document.items() if not is_table(v) and k != "doctype"}
        return {f: document.get(f) for f in self.fields}


def is_table(value: Any) -> bool:
    """Whether a field holds a child table: the emulator knows no schema, so any list of objects."""
    return isinstance(value, list) and all(isinstance(row, dict) for row in value)


def _json_param(params: Mapping[str, str], name: str, default: Any) -> Any:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return json.loads(raw)
    except ValueError:
        raise QueryError(f"{name} must be JSON") from None


def _count(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise QueryError(f"{name} must be a non-negative integer")
    return int(raw)


def _column(name: str) -> str:
    """``name`` without a ``tabDocType.`` prefix or backticks: `` `tabSupporter`.`name` `` -> ``name``."""
    return name.replace("`", "").split(".")[-1].strip()


def _order_by(text: str) -> list[tuple[str, bool]]:
    order = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise QueryError(f"order_by cannot be {text!r}")
        order.append((_column(words[0]), len(words) == 2 and words[1].lower() == "desc"))
    return order


def _conditions(doctype: str, filters: Any) -> list[Condition]:
    """Conditions of a ``{field: value | [op, value]}`` object, a list of ``[field, op, value]``
    or ``[doctype, field, op, value]`` lists, or a single such list."""
    if isinstance(filters, dict):
        return [
            _condition(doctype, [doctype, key, *value])
            if isinstance(value, list) and len(value) == 2
            else _condition(doctype, [doctype, key, "=", value])
            for key, value in filters.items()
        ]
    if not isinstance(filters, list):
        raise QueryError("filters must be a JSON list or object")
    if filters and isinstance(filters[0], str):
        filters = [filters]
    return [_condition(doctype, f) for f in filters]


def _condition(doctype: str, spec: Any) -> Condition:
    if not isinstance(spec, list) or len(spec) not in (3, 4):
        raise QueryError(f"A filter must be [field, op, value] or [doctype, field, op, value], not {spec!r}")
    target, name, op, value = spec if len(spec) == 4 else [doctype, *spec]
    op = op.lower().strip() if isinstance(op, str) else op
    if op not in OPERATORS:
        raise QueryError(f"Operator must be one of {', '.join(OPERATORS)}")
    if not isinstance(name, str):
        raise QueryError(f"A filter's field must be a string, not {name!r}")
    return Condition(_column(name), op, value, None if target == doctype else target)


def _compare(left: Any, op: str, right: Any) -> bool:
    if op in ("in", "not in"):
        options = right if isinstance(right, list) else str(right).split(",")
        found = any(_compare(left, "=", option) for option in options)
        return found if op == "in" else not found
    if op == "is":
        is_set = left not in (None, "")
        return is_set if right == "set" else not is_set
    if op in ("like", "not like"):
        found = _like(str(right)).fullmatch("" if left is None else str(left)) is not None
        return found if op == "like" else not found
    a, b = _comparable(left, right)
    return _COMPARISONS[op](a, b)


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """Both sides as numbers when either is a number and the other reads as one, else both as
    case-folded strings, with a missing value as ``0`` or ``''``."""
    if _is_number(left) or _is_number(right):
        a, b = _number(left), _number(right)
        if a is not None and b is not None:
            return a, b
    return _text(left), _text(right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)


def _number(value: Any) -> float | None:
    if value is None:
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    return (value if isinstance(value, str) else json.dumps(value)).casefold()


def _like(pattern: str) -> re.Pattern[str]:
    parts = ("." if c == "_" else ".*" if c == "%" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _sort_key(name: str, document: Document) -> tuple[int, Any]:
    """NULLs first, then numbers, then strings (case-insensitive), then anything else."""
    value = document.get(name)
    if value is None:
        return (0, 0)
    if _is_number(value):
        return (1, float(value))
    if isinstance(value, str):
        return (2, value.casefold())
    return (3, json.dumps(value, sort_keys=True))
