"""Supporter events: the data-models 1.65.0 models and the yup 0.29.3 engine that runs them.

Use :func:`validate` with one of the models, e.g.
``validate(PRODUCER_REQUEST, body, context={"partial": True})``. See
``docs/supporter-validation.md`` for what is reproduced and what was assumed.
"""

from supporterflow.domain.supporters.models import (
    ERP_ACTIONS,
    ERP_PRODUCER_REQUEST,
    IDENTITY,
    IDENTITY_REQUEST,
    MATCH_REQUEST,
    PARTIAL_SIGNUP_REQUEST,
    PRODUCER_REQUEST,
    SIGNUP_REQUEST,
)
from supporterflow.domain.supporters.schema import MissingClock, Model, Validation, validate

__all__ = [
    "ERP_ACTIONS",
    "ERP_PRODUCER_REQUEST",
    "IDENTITY",
    "IDENTITY_REQUEST",
    "MATCH_REQUEST",
    "PARTIAL_SIGNUP_REQUEST",
    "PRODUCER_REQUEST",
    "SIGNUP_REQUEST",
    "MissingClock",
    "Model",
    "Validation",
    "validate",
]
