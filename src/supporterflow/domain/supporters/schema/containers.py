"""yup's ``object`` and ``array``: casting and checking nested values, and the error order.

Why the order is subtle (and reproduced rather than simplified):

- yup visits an object's fields in the order of ``sortFields``: a topological sort of the
  fields by their ``when`` dependencies, *reversed*, so with no dependency the last declared
  field comes first. Casting in that order is what lets ``method`` see the cast ``provider``.
- Errors of the fields are then sorted by ``sortByKeyOrder``: each error gets the index of the
  first declared key that occurs *anywhere in its path as a substring* (so an error on
  ``data.provider`` ranks with the key ``id``), ties keep the visiting order (stable sort).
- An object's own errors (its tests) come after its fields' errors; an array's after its items'.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Final, Self

from supporterflow.domain.supporters.schema.base import (
    Factory,
    Failure,
    Message,
    Schema,
    State,
    Test,
    Transform,
)
from supporterflow.domain.supporters.schema.js import UNDEFINED, js_key_order, strict_equals
from supporterflow.domain.supporters.schema.scalars import String


def _reject_constant(name: str) -> object:
    raise ValueError(f"JSON.parse rejects {name}")


def _parse_json(text: str) -> object:
    """``JSON.parse``: Python's reader, without the NaN/Infinity literals JavaScript refuses."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return None


def coerce_object(schema: Schema, value: object, _original: object) -> object:
    if isinstance(value, str):
        value = _parse_json(value)
    return value if schema.is_type(value) else None


def _coerce_array(schema: Schema, value: object, _original: object) -> object:
    if isinstance(value, str):
        value = _parse_json(value)
    return value if schema.is_type(value) else None


def _toposort(nodes: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """The ``toposort`` package's ``array(nodes, edges)``, visiting order included."""
    outgoing: dict[str, list[str]] = {}
    for source, target in edges:
        outgoing.setdefault(target, [])
        targets = outgoing.setdefault(source, [])
        if target not in targets:
            targets.append(target)
    position = {node: index for index, node in enumerate(nodes)}
    ordered: list[str] = [""] * len(nodes)
    visited = [False] * len(nodes)
    cursor = len(nodes)

    def visit(node: str, index: int, predecessors: set[str]) -> None:
        nonlocal cursor
        if node in predecessors:
            raise ValueError(f"Cyclic dependency, node was: {node!r}")
        if visited[index]:
            return
        visited[index] = True
        children = outgoing.get(node, [])
        if children:
            predecessors.add(node)
            for child in reversed(children):
                visit(child, position[child], predecessors)
            predecessors.discard(node)
        cursor -= 1
        ordered[cursor] = node

    for index in reversed(range(len(nodes))):
        if not visited[index]:
            visit(nodes[index], index, set())
    return ordered


def sort_fields(fields: Mapping[str, Schema], excluded: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    """yup's ``sortFields``: the order in which an object's fields are cast and checked."""
    skip = {f"{first}-{second}" for first, second in excluded}
    nodes: list[str] = []
    edges: list[tuple[str, str]] = []
    for key, schema in fields.items():
        if key not in nodes:
            nodes.append(key)
        for dependency in schema.deps:
            if dependency not in fields:
                raise ValueError(f"field {key!r} depends on {dependency!r}, which is not a field")
            if dependency not in nodes:
                nodes.append(dependency)
            if f"{key}-{dependency}" not in skip:
                edges.append((key, dependency))
    return tuple(reversed(_toposort(nodes, edges)))


_Step = tuple[str, Schema, str, str, tuple[type, ...], tuple[type, ...], bool]
"""How an object visits one field: key, schema, the path segment below a parent, the path at
the root, the value types its cast leaves as they are, the value types its check passes, and
whether any non-empty string passes its check (a plain ``string().required()``)."""


def _step(key: str, schema: Schema) -> _Step:
    """Precompute the shortcuts that spare a call per field (the hot path of every request)."""
    kept: tuple[type, ...] = ()
    passing: tuple[type, ...] = ()
    if schema.condition is None and not isinstance(schema, Object | Array):
        kept = schema.unchanged_types
        if schema.default_ is UNDEFINED:
            kept += (type(UNDEFINED),)
        if not schema.tests and schema.one_of_ is None:
            passing = (*schema.native_types, type(UNDEFINED), *((type(None),) if schema.nullable_ else ()))
    text_passes = (
        isinstance(schema, String)
        and schema.condition is None
        and schema.one_of_ is None
        and all(test.name == "required" for test in schema.tests)
    )
    return key, schema, _child_path("_", key)[1:], _child_path(None, key), kept, passing, text_passes


def _child_path(path: str | None, key: str) -> str:
    """yup's ``makePath``: ``a.b``, or ``a["b.c"]`` for keys holding a dot."""
    segment = f'["{key}"]' if "." in key else f".{key}"
    return f"{path}{segment}" if path else segment.removeprefix(".")


@dataclass(frozen=True, slots=True)
class Object(Schema):
    """yup's ``object(fields)``; keys it does not know are kept as they are (no ``stripUnknown``)."""

    type_name: ClassVar[str] = "object"
    native_types: ClassVar[tuple[type, ...]] = (dict,)
    coercion: ClassVar[Transform | None] = coerce_object

    fields: Mapping[str, Schema] = field(default_factory=dict)
    excluded_edges: tuple[tuple[str, str], ...] = ()
    nodes: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _plan: tuple[_Step, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        Schema.__post_init__(self)
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))
        nodes = sort_fields(self.fields, self.excluded_edges)
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "_plan", tuple(_step(key, self.fields[key]) for key in nodes))

    def is_type(self, value: object) -> bool:
        return type(value) is dict or (value is None and self.nullable_)

    def default_value(self, state: State) -> object:
        """An explicit default, else (yup) an object of the fields' own defaults."""
        if self.default_ is not UNDEFINED or not self.nodes:
            return Schema.default_value(self, state)
        built: dict[str, object] = {}
        for key in self.nodes:
            value = self.fields[key].default_value(state)
            if value is not UNDEFINED:
                built[key] = value
        return built

    def cast(self, raw: object, state: State) -> object:
        value = Schema.cast(self, raw, state)
        if value is UNDEFINED:
            return self.default_value(state)
        if type(value) is not dict:
            return value
        out: dict[str, object] = {}
        changed = False
        for key, schema, _, _, kept, _, _ in self._plan:
            current = value.get(key, UNDEFINED)
            # A strict field keeps its value; the flag is read before the condition is applied.
            if schema.strict_ or type(current) in kept:
                result = current
            else:
                if schema.condition is not None:
                    schema = schema.resolve(state, out)
                result = schema.cast(current, state)
            if result is not UNDEFINED:
                out[key] = result
            if not changed and result is not current and not strict_equals(result, current):
                changed = True
        if not changed:
            return value
        fields = self.fields
        extras = [key for key in value if key not in fields]
        for key in js_key_order(extras) if extras else ():
            out[key] = value[key]
        return out

    def check(
        self, value: object, state: State, parent: object, path: str | None, original: object
    ) -> Failure | None:
        own = Schema.check(self, value, state, parent, path, original)
        if type(value) is not dict:
            return own
        originals = original if type(original) is dict else None
        failures: list[Failure] | None = None
        for key, schema, segment, bare, _, passing, text_passes in self._plan:
            child = value.get(key, UNDEFINED)
            if type(child) in passing or (text_passes and type(child) is str and child):
                continue
            if schema.condition is not None:
                schema = schema.resolve(state, value)
            failure = schema.check(
                child,
                state,
                value,
                path + segment if path else bare,
                originals.get(key, UNDEFINED) if originals is not None else UNDEFINED,
            )
            if failure is not None:
                if failures is None:
                    failures = []
                failures.append(failure)
        if failures is None:
            return own
        if len(failures) > 1:
            failures.sort(key=self._rank)
        messages = [message for failure in failures for message in failure.messages]
        if own is not None:
            messages += own.messages
        return Failure(path, messages)

    def _rank(self, failure: Failure) -> float:
        """yup's ``sortByKeyOrder``: the first declared key found anywhere in the error's path."""
        error_path = failure.path or ""
        for index, key in enumerate(self.fields):
            if key in error_path:
                return index
        return math.inf


_NO_ITEMS: Final = ()


def _empty_list(_state: State) -> object:
    return []


def _listify(schema: Schema, value: object, original: object) -> object:
    if schema.is_type(value) and value is not None:
        return value
    return [] if original is None or original is UNDEFINED else [original]


@dataclass(frozen=True, slots=True)
class Array(Schema):
    """yup's ``array().of(schema)``. Before yup 0.31 ``required()`` also rejects ``[]``."""

    type_name: ClassVar[str] = "array"
    native_types: ClassVar[tuple[type, ...]] = (list,)
    coercion: ClassVar[Transform | None] = _coerce_array

    of: Schema | None = None

    def is_type(self, value: object) -> bool:
        return type(value) is list or (value is None and self.nullable_)

    def _present(self, value: object) -> bool:
        return value is not None and value is not UNDEFINED and len(value) > 0  # type: ignore[arg-type]

    def min(self, limit: int) -> Self:
        def check(value: object) -> bool:
            return value is None or value is UNDEFINED or len(value) >= limit  # type: ignore[arg-type]

        message = Message("${path} field must have at least ${min} items")
        return self.with_test(Test("min", message, check, True, {"min": limit}))

    def ensure(self) -> Self:
        """yup's ``ensure()``: default ``[]``, and a non-array becomes ``[]`` or ``[value]``."""
        return self.default(Factory(_empty_list)).transform(_listify)

    def cast(self, raw: object, state: State) -> object:
        value = Schema.cast(self, raw, state)
        inner = self.of
        if type(value) is not list or inner is None:
            return value
        if inner.condition is not None:
            inner = inner.resolve(state, None)
        items = [inner.cast(item, state) for item in value]
        for cast_item, item in zip(items, value, strict=True):
            if cast_item is not item and not strict_equals(cast_item, item):
                return items
        return value

    def check(
        self, value: object, state: State, parent: object, path: str | None, original: object
    ) -> Failure | None:
        own = Schema.check(self, value, state, parent, path, original)
        inner = self.of
        if type(value) is not list or inner is None:
            return own
        # yup reads ``originalValue[index]``: an item of the raw list, or a character when the
        # raw value was a JSON string (it only shows in "cast from the value" messages).
        originals = original if type(original) is list or type(original) is str else _NO_ITEMS
        if inner.condition is not None:
            inner = inner.resolve(state, value)
        messages: list[str] = []
        for index, item in enumerate(value):
            item_original = originals[index] if index < len(originals) else UNDEFINED
            failure = inner.check(item, state, value, f"{path or ''}[{index}]", item_original)
            if failure is not None:
                messages += failure.messages
        if not messages:
            return own
        if own is not None:
            messages += own.messages
        return Failure(path, messages)


def obj(fields: Mapping[str, Schema], excluded_edges: tuple[tuple[str, str], ...] = ()) -> Object:
    """yup's ``object(fields)`` (or ``object().shape(fields, excludes)``)."""
    return Object(transforms=(coerce_object,), fields=fields, excluded_edges=excluded_edges)


def array(of: Schema | None = None) -> Array:
    return Array(transforms=(_coerce_array,), of=of)
