"""A reimplementation of the parts of yup 0.29.3 that data-models 1.65.0 uses.

Schemas are immutable values built once; :func:`validate` runs a :class:`Model` on a value
and returns a :class:`Validation`. See ``docs/supporter-validation.md``.
"""

from supporterflow.domain.supporters.schema.base import (
    Condition,
    Factory,
    JsCrash,
    Message,
    MissingClock,
    Schema,
    State,
    Test,
)
from supporterflow.domain.supporters.schema.containers import Array, Object, array, obj
from supporterflow.domain.supporters.schema.js import UNDEFINED, js_truthy
from supporterflow.domain.supporters.schema.model import Dispatch, Model, Validation, dispatch, validate
from supporterflow.domain.supporters.schema.scalars import (
    Boolean,
    Date,
    Mixed,
    Number,
    String,
    boolean,
    date,
    mixed,
    number,
    string,
)

__all__ = [
    "UNDEFINED",
    "Array",
    "Boolean",
    "Condition",
    "Date",
    "Dispatch",
    "Factory",
    "JsCrash",
    "Message",
    "MissingClock",
    "Mixed",
    "Model",
    "Number",
    "Object",
    "Schema",
    "State",
    "String",
    "Test",
    "Validation",
    "array",
    "boolean",
    "date",
    "dispatch",
    "js_truthy",
    "mixed",
    "number",
    "obj",
    "string",
    "validate",
]
