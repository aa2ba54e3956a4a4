"""Shared values for the supporter validation tests: a fixed clock and UUID source."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from supporterflow.domain.supporters import Model, Validation, validate

NOW = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
PARTIAL_MESSAGE = (
    "supporter_uuid must be a valid UUID unless `partial: true` is passed to the validation context"
)
NULL_HINT = '\n If "null" is intended as an empty value be sure to mark the schema as `.nullable()`'


def counting_uuids() -> Callable[[], str]:
    """UUIDs 00000000-0000-4000-8000-000000000001, ...002, ... in order."""
    counter = itertools.count(1)
    return lambda: f"00000000-0000-4000-8000-{next(counter):012d}"


def run(model: Model, value: object, *, partial: bool = False) -> Validation:
    """Validate with a fixed clock and counting UUIDs, as the supporter-event producer would."""
    context: dict[str, Any] = {"now": NOW, "new_uuid": counting_uuids()}
    if partial:
        context["partial"] = True
    return validate(model, value, context=context)


def in_producer(*actions: object) -> dict[str, Any]:
    """A supporter-events ProducerRequest carrying only these ERP actions."""
    return {"erp-service": {"actions": list(actions)}}
