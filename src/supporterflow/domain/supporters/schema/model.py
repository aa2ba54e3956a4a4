"""Models (data-models' ``defineModel``), the one ``validate`` entry point, and the dispatcher.

``validate`` behaves like data-models' ``model.validate(value, {context})``: the schema is
wrapped in ``.defined()`` (so a ``null`` body passes the root type check), every error is
collected (``abortEarly: false``), and the result carries the cast value.

:class:`Dispatch` reproduces the element schema of the ERP ``ProducerRequest``, whose quirks
decide both the output and the messages (spec §3.1; data-models
``erp/models/requests/ProducerRequest``):

1. casting an element validates it against its action model *without* the caller's context;
   only if that succeeds is the element replaced by the action's cast value. So with
   ``partial: true`` an action whose ``supporter_uuid`` is null is kept exactly as sent;
2. checking re-validates the element with the caller's context and path prefix and reports the
   action's own messages. (When step 1 succeeded this cannot fail - the context only relaxes
   ``SupporterUUID`` and every cast is idempotent - so it is skipped: half the work.)
3. a JavaScript ``TypeError`` inside the action (see :class:`JsCrash`) becomes
   ``"<path> is an invalid ERP Payload. Original value: <value>"``; a ``type`` naming a
   property of ``Object.prototype`` (``"constructor"``...) crashes the whole run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from supporterflow.domain.supporters.schema.base import (
    Failure,
    JsCrash,
    Schema,
    State,
    format_message,
    not_type_message,
)
from supporterflow.domain.supporters.schema.containers import Object, coerce_object
from supporterflow.domain.supporters.schema.js import UNDEFINED, js_to_string, js_truthy


@dataclass(frozen=True, slots=True)
class Validation:
    """The outcome of :func:`validate`.

    ``value`` is the cast value when valid (defaults and transforms applied, unknown keys
    kept). Like yup, it shares every container the cast did not change with the input: copy
    before mutating it if the input must stay intact. When invalid, ``value`` is the input.
    ``errors`` are yup's messages in yup's order; it is empty when valid, and also in the one
    case where data-models reports ``errors: undefined`` (a JavaScript crash, see JsCrash).
    """

    valid: bool
    value: Any  # a JSON-like value, as json.loads gives: callers index into it
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Model:
    """A named schema, as data-models' ``defineModel(namespace, model, schema)``."""

    namespace: str
    name: str
    schema: Schema
    root: Schema = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", self.schema.defined())

    @property
    def details(self) -> str:
        """The ``message`` of the HTTP 400 body (spec §2.1)."""
        return f"ValidationError({self.namespace}:{self.name})"


def run(
    schema: Schema, value: object, state: State, path: str | None, original: object
) -> tuple[object, Failure | None]:
    """Cast ``value`` whole, then check the cast value: yup's ``validate`` on one schema.

    ``original`` is what "cast from the value" messages show (yup's ``originalValue``).
    """
    resolved = schema.resolve(state, None)
    cast = resolved.cast(value, state)
    return cast, resolved.check(cast, state, None, path, original)


def validate(model: Model, value: object, *, context: Mapping[str, object] | None = None) -> Validation:
    """Validate ``value`` against ``model`` as data-models 1.65.0 does with yup 0.29.3.

    ``context`` is yup's validation context (``{"partial": True}`` relaxes ``SupporterUUID``,
    spec §2.6) and also carries the sources of time and UUID defaults: ``now`` (an aware
    ``datetime``, or a callable returning one; required only when a time default applies,
    else :class:`MissingClock` is raised) and ``new_uuid`` (a callable returning a UUID
    string; default: random version 4 UUIDs).
    """
    state = State(context if context is not None else {})
    try:
        cast, failure = run(model.root, value, state, None, value)
    except JsCrash:
        return Validation(False, value, ())
    if failure is None:
        return Validation(True, cast, ())
    return Validation(False, value, tuple(failure.messages))


#: Property names every JavaScript object inherits: ``name in erpModelMap`` is true for them.
OBJECT_PROTOTYPE: Final = frozenset(
    {
        "constructor",
        "__proto__",
        "hasOwnProperty",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toLocaleString",
        "toString",
        "valueOf",
        "__defineGetter__",
        "__defineSetter__",
        "__lookupGetter__",
        "__lookupSetter__",
    }
)

_INVALID_PAYLOAD: Final = "${path} is an invalid ERP Payload. Original value: ${value}"


@dataclass(frozen=True, slots=True)
class Dispatch(Object):
    """An object validated by the model its ``key`` names (the ERP action element)."""

    key: str = "type"
    models: Mapping[str, Model] = field(default_factory=dict)

    def cast(self, raw: object, state: State) -> object:
        value = Schema.cast(self, raw, state)
        if type(value) is not dict or not js_truthy(value.get(self.key, UNDEFINED)):
            return value
        model = self.models.get(js_to_string(value[self.key]))
        if model is None:
            return value
        try:
            cast, failure = run(model.schema, value, state.without_context(), None, value)
        except JsCrash:
            return value
        if failure is not None:
            return value
        state.prevalidated.add(id(cast))
        return cast

    def check(
        self, value: object, state: State, parent: object, path: str | None, original: object
    ) -> Failure | None:
        if value is not UNDEFINED and type(value) is not dict:
            return Failure(path, [not_type_message(self.type_name, path, value, original)])
        messages = (
            [] if id(value) in state.prevalidated else self._payload_errors(value, state, path, original)
        )
        for test in self.tests:  # data-models declares .required() after the payload test
            if not test.check(value):
                messages.append(test.fail_message(path, value, original))
        return Failure(path, messages) if messages else None

    def _payload_errors(self, value: object, state: State, path: str | None, original: object) -> list[str]:
        """The test ``valid-erp-payload``."""
        if not isinstance(value, dict):
            return [format_message("${path} is a required field", path, value, original)]
        kind = value.get(self.key, UNDEFINED)
        if not js_truthy(kind):
            return [format_message(f"${{path}}.{self.key} is a required field", path, value, original)]
        name = js_to_string(kind)
        if name in OBJECT_PROTOTYPE:
            raise JsCrash(f"erpModelMap[{name!r}] is not a model")
        model = self.models.get(name)
        if model is None:
            allowed = ", ".join(f"'{known}'" for known in self.models)
            template = f"${{path}}.{self.key} is '{name}' but must be one of: {allowed}"
            return [format_message(template, path, value, original)]
        try:
            _, failure = run(model.root, value, state, path, original)
        except JsCrash:
            return [format_message(_INVALID_PAYLOAD, path, value, original)]
        return failure.messages if failure is not None else []


def dispatch(models: Mapping[str, Model], key: str = "type") -> Dispatch:
    """The element schema of data-models' ERP ``ProducerRequest`` over ``models``."""
    return Dispatch(transforms=(coerce_object,), key=key, models=models)
