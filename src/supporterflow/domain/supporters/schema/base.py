"""The parts every yup 0.29.3 schema shares: tests, conditions, defaults, messages, the run state.

Why this shape: a schema here is an immutable value built once at import (yup rebuilds its
schemas on every call). Builder methods (``required()``, ``when()``...) return new values and
keep yup's own bookkeeping where it changes results: the order of tests, which tests replace
each other (yup's "exclusive" tests), ``defined()`` making a schema nullable (the 0.29 quirk the
data-models source warns about), and concatenation for ``when(..., {is, then})`` branches.

The run (see ``Schema.cast``/``Schema.check``) follows yup's two phases: the whole input is
cast first (transforms, then defaults), then the cast value is checked without casting again
(yup passes ``strict: true`` to nested fields). Errors are gathered per object level, as yup's
``collectErrors`` does, so their order is yup's.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import ClassVar, Final, Self

from supporterflow.domain.supporters.schema.js import (
    UNDEFINED,
    is_number,
    js_to_string,
    print_value,
    strict_equals,
)

Transform = Callable[["Schema", object, object], object]
"""``(schema, current value, original value) -> new value``: yup's ``transform(fn)``, where
``schema`` stands for JavaScript's ``this``."""

Check = Callable[[object], bool]
"""A test's predicate on the cast value."""


class JsCrash(Exception):
    """A JavaScript ``TypeError`` inside yup (e.g. ``(5).trim()`` in ``StrictString.trim()``).

    yup does not turn these into validation errors: they abort the whole run, and data-models
    then reports a ``ValidationError`` whose ``errors`` are ``undefined``.
    """


class MissingClock(LookupError):
    """A time default was needed but the validation context gave no ``now``."""


_PLACEHOLDER: Final = re.compile(r"\$\{\s*(\w+)\s*\}", re.ASCII)


@dataclass(frozen=True, slots=True)
class Message:
    """An error template such as ``"${path} is a required field"``, split once at import."""

    template: str
    parts: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(_PLACEHOLDER.split(self.template)))

    def format(self, params: Mapping[str, object]) -> str:
        """yup's ``formatError``: each ``${name}`` becomes ``printValue(params[name])``."""
        parts = self.parts
        if len(parts) == 1:
            return parts[0]
        out = [parts[0]]
        for index in range(1, len(parts), 2):
            out.append(print_value(params.get(parts[index], UNDEFINED)))
            out.append(parts[index + 1])
        return "".join(out)


def format_message(template: str, path: str | None, value: object, original: object) -> str:
    """Format a template built at run time (the ERP dispatcher interpolates the caller's type)."""
    return Message(template).format(_params(path, value, original, None))


def _params(
    path: str | None, value: object, original: object, extra: Mapping[str, object] | None
) -> dict[str, object]:
    params: dict[str, object] = {"path": path or "this", "value": value, "originalValue": original}
    if extra:
        params.update(extra)
    return params


@dataclass(frozen=True, slots=True, eq=False)
class Test:
    """One yup test. Identity matters: yup drops a re-added test only if it is the same one."""

    name: str
    message: Message
    check: Check
    exclusive: bool = False
    params: Mapping[str, object] | None = None

    def fail_message(self, path: str | None, value: object, original: object) -> str:
        return self.message.format(_params(path, value, original, self.params))


@dataclass(frozen=True, slots=True)
class Factory:
    """A default computed per use: ``uuid.v4`` or ``new Date()`` in data-models."""

    make: Callable[[State], object]


Branch = Callable[["Schema"], "Schema"]
"""Derives a branch of a ``when`` from the schema it is declared on (yup's ``fn(value, schema)``)."""


@dataclass(frozen=True, slots=True)
class Condition:
    """yup's ``when(ref, ...)``.

    ``ref`` is a sibling key, or ``$name`` for a key of the validation context. ``choose`` maps
    the referenced value to a branch label, and each branch derives the schema to use from the
    schema the condition is declared on. Branches are derived once, when the schema is built
    (again after each builder call, since the base changed), so resolving allocates nothing.
    """

    ref: str
    choose: Callable[[object], str]
    branches: Mapping[str, Branch]
    from_context: bool = field(init=False)
    key: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "from_context", self.ref.startswith("$"))
        object.__setattr__(self, "key", self.ref.removeprefix("$"))


class State:
    """What one validation call carries down the tree.

    ``context`` is yup's validation context (``{"partial": True}``); ``now`` and ``new_uuid``
    are the injected sources of the time and UUID defaults, taken from the same mapping.
    ``prevalidated`` holds the ids of ERP actions the dispatcher already proved valid.
    """

    __slots__ = ("_bare", "_clock", "context", "new_uuid", "prevalidated")

    def __init__(self, context: Mapping[str, object]) -> None:
        self.context = context
        self._clock = context.get("now")
        new_uuid = context.get("new_uuid")
        self.new_uuid: Callable[[], str] = new_uuid if callable(new_uuid) else _random_uuid
        self.prevalidated: set[int] = set()
        self._bare: State | None = None

    def now(self) -> datetime:
        clock = self._clock() if callable(self._clock) else self._clock
        if not isinstance(clock, datetime) or clock.tzinfo is None:
            raise MissingClock(
                "a time default needs context['now']: an aware datetime, or a callable returning one"
            )
        return clock

    def without_context(self) -> State:
        """Same clock and UUID source, empty yup context (``validateSync(value)`` with no options)."""
        if self._bare is None:
            bare = State({})
            bare._clock, bare.new_uuid, bare.prevalidated = self._clock, self.new_uuid, self.prevalidated
            self._bare = bare
        return self._bare


def _random_uuid() -> str:
    return str(uuid.uuid4())


class Failure:
    """yup's ``ValidationError`` as far as results need it: a path and its flattened messages."""

    __slots__ = ("messages", "path")

    def __init__(self, path: str | None, messages: list[str]) -> None:
        self.path = path
        self.messages = messages


def not_type_message(type_name: str, path: str | None, value: object, original: object) -> str:
    """yup's ``locale.mixed.notType``."""
    original = value if original is None or original is UNDEFINED else original
    shown = f"{path or 'this'} must be a `{type_name}` type, "
    shown += f"but the final value was: `{print_value(value, True)}`"
    if original is not None and not strict_equals(original, value):
        shown += f" (cast from the value `{print_value(original, True)}`)."
    else:
        shown += "."
    if value is None:
        shown += '\n If "null" is intended as an empty value be sure to mark the schema as `.nullable()`'
    return shown


def _same_value_zero(left: object, right: object) -> bool:
    """``Set.prototype.has`` equality: strict equality, except NaN equals NaN."""
    if is_number(left) and is_number(right):
        return left == right or (left != left and right != right)
    return type(left) is type(right) and left == right


REQUIRED: Final = Message("${path} is a required field")
DEFINED: Final = Message("${path} must be defined")
ONE_OF: Final = Message("${path} must be one of the following values: ${values}")


@dataclass(frozen=True, slots=True)
class Schema:
    """Fields and builders common to every type (yup's ``mixed``)."""

    type_name: ClassVar[str] = "mixed"
    native_types: ClassVar[tuple[type, ...]] = ()
    """Python types that are always of this type: the check needs no ``is_type`` call, and
    the cast is the identity when the type's own coercion is the only transform."""
    coercion: ClassVar[Transform | None] = None
    """The type's own first transform (yup adds it in the constructor)."""

    transforms: tuple[Transform, ...] = ()
    tests: tuple[Test, ...] = ()
    exclusive: tuple[tuple[str, bool], ...] = ()
    nullable_: bool = False
    default_: object = UNDEFINED
    one_of_: tuple[object, ...] | None = None
    type_error: Message | None = None
    strict_: bool = False
    condition: Condition | None = None
    _one_of_strings: frozenset[str] = field(init=False, repr=False, compare=False)
    _branches: Mapping[str, Schema] = field(init=False, repr=False, compare=False)
    unchanged_types: tuple[type, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        strings = frozenset(item for item in self.one_of_ or () if isinstance(item, str))
        object.__setattr__(self, "_one_of_strings", strings)
        only_coercion = len(self.transforms) == 1 and self.transforms[0] is type(self).coercion
        object.__setattr__(self, "unchanged_types", self.native_types if only_coercion else ())
        branches: dict[str, Schema] = {}
        if self.condition is not None:
            base = replace(self, condition=None)
            branches = {label: derive(base) for label, derive in self.condition.branches.items()}
        object.__setattr__(self, "_branches", branches)

    # ----------------------------------------------------------------- builders
    def nullable(self, is_nullable: bool = True) -> Self:
        return replace(self, nullable_=is_nullable)

    def default(self, value: object) -> Self:
        """A constant (an immutable JSON primitive) or a :class:`Factory`."""
        return replace(self, default_=value)

    def strict(self, is_strict: bool = True) -> Self:
        return replace(self, strict_=is_strict)

    def transform(self, fn: Transform) -> Self:
        return replace(self, transforms=(*self.transforms, fn))

    def type_error_message(self, template: str) -> Self:
        """yup's ``typeError(message)``."""
        return replace(self, type_error=Message(template))

    def one_of(self, values: tuple[object, ...]) -> Self:
        """yup's ``oneOf``: values join the whitelist (set semantics, first insertion wins)."""
        merged = list(self.one_of_ or ())
        for item in values:
            if not any(_same_value_zero(item, known) for known in merged):
                merged.append(item)
        return replace(self, one_of_=tuple(merged))

    def test(self, name: str, template: str, check: Check) -> Self:
        """yup's ``test(name, message, fn)``: a non-exclusive test."""
        return self.with_test(Test(name, Message(template), check))

    def with_test(self, new: Test) -> Self:
        """yup's ``test()`` bookkeeping: exclusive tests replace those of the same name."""
        flags = dict(self.exclusive)
        replaces = new.exclusive or flags.get(new.name) is True
        flags[new.name] = new.exclusive
        kept = tuple(old for old in self.tests if not (old.name == new.name and (replaces or old is new)))
        return replace(self, tests=(*kept, new), exclusive=tuple(flags.items()))

    def required(self, template: str = REQUIRED.template) -> Self:
        return self.with_test(Test("required", Message(template), self._present, exclusive=True))

    def defined(self) -> Self:
        """``.defined()``: the key must be present. yup 0.29 also makes the schema nullable,
        so ``null`` passes (spec §2.1, the quirk noted in the data-models source)."""
        return self.nullable().with_test(Test("defined", DEFINED, _not_undefined, exclusive=True))

    def when(self, ref: str, choose: Callable[[object], str], branches: Mapping[str, Branch]) -> Self:
        return replace(self, condition=Condition(ref, choose, branches))

    def concat(self, other: Schema) -> Self:
        """yup's ``concat``, as ``when(ref, {is, then})`` applies ``then`` to the base schema.

        Transforms are chained, the other schema's default and nullability win when it sets
        them, and its tests are added one by one with the usual replacement rules.
        """
        merged = replace(
            self,
            transforms=(*self.transforms, *other.transforms),
            nullable_=other.nullable_ if other.nullable_ else self.nullable_,
            default_=other.default_ if other.default_ is not UNDEFINED else self.default_,
            strict_=other.strict_ or self.strict_,
            type_error=other.type_error,  # every yup schema owns a typeError: the other one wins
        )
        if other.one_of_ is not None:
            merged = merged.one_of(other.one_of_)
        for test in other.tests:
            merged = merged.with_test(test)
        return merged

    # ------------------------------------------------------------- properties
    @property
    def deps(self) -> tuple[str, ...]:
        """Sibling keys this schema's condition reads (yup's ``_deps``)."""
        condition = self.condition
        return (condition.ref,) if condition is not None and not condition.from_context else ()

    def _present(self, value: object) -> bool:
        """yup's ``_isPresent`` for this type (strings and arrays also need a length)."""
        return value is not None and value is not UNDEFINED

    def is_type(self, value: object) -> bool:
        return True

    def default_value(self, state: State) -> object:
        default = self.default_
        return default.make(state) if isinstance(default, Factory) else default

    # ------------------------------------------------------------------- run
    def resolve(self, state: State, parent: object) -> Schema:
        """Apply the condition, reading a sibling from ``parent`` or a key of the context."""
        condition = self.condition
        if condition is None:
            return self
        if condition.from_context:
            source: object = state.context.get(condition.key, UNDEFINED)
        else:
            source = parent.get(condition.key, UNDEFINED) if isinstance(parent, dict) else UNDEFINED
        return self._branches[condition.choose(source)].resolve(state, parent)

    def cast(self, raw: object, state: State) -> object:
        """yup's ``_cast``: transforms (skipped for ``undefined``), then the default."""
        if raw is UNDEFINED:
            return UNDEFINED if self.default_ is UNDEFINED else self.default_value(state)
        if type(raw) in self.unchanged_types:
            return raw
        value = raw
        for transform in self.transforms:
            value = transform(self, value, raw)
        if value is UNDEFINED and self.default_ is not UNDEFINED:
            return self.default_value(state)
        return value

    def check(
        self, value: object, state: State, parent: object, path: str | None, original: object
    ) -> Failure | None:
        """yup's ``_validate`` on an already cast value: type and whitelist first, then tests."""
        if value is not UNDEFINED and (
            (type(value) not in self.native_types and not self.is_type(value)) or self.one_of_ is not None
        ):
            initial = self._initial_failures(value, path, original)
            if initial is not None:
                return initial
        tests = self.tests
        if not tests:
            return None
        failed: list[str] | None = None
        for test in tests:
            if not test.check(value):
                if failed is None:
                    failed = []
                failed.append(test.fail_message(path, value, original))
        return Failure(path, failed) if failed else None

    def _initial_failures(self, value: object, path: str | None, original: object) -> Failure | None:
        """yup's type and whitelist checks; when either fails, the tests do not run."""
        failed: list[str] = []
        if type(value) not in self.native_types and not self.is_type(value):
            failed.append(self._type_message(path, value, original))
        one_of = self.one_of_
        if one_of is not None and not self._allowed(value, one_of):
            values = ", ".join("" if item is None else js_to_string(item) for item in one_of)
            failed.append(ONE_OF.format(_params(path, value, original, {"values": values})))
        return Failure(path, failed) if failed else None

    def _allowed(self, value: object, one_of: tuple[object, ...]) -> bool:
        if type(value) is str:
            return value in self._one_of_strings
        return any(_same_value_zero(value, item) for item in one_of)

    def _type_message(self, path: str | None, value: object, original: object) -> str:
        if self.type_error is not None:
            return self.type_error.format(_params(path, value, original, {"type": self.type_name}))
        return not_type_message(self.type_name, path, value, original)


def _not_undefined(value: object) -> bool:
    return value is not UNDEFINED
