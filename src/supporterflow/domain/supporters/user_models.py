"""User-side models of data-models 1.65.0 (namespace ``user-service``; spec §2.3-§2.5)."""

from __future__ import annotations

from typing import Final

from supporterflow.domain.supporters.fields import EMAIL, FIRST_NAME, LAST_NAME, MOBILE
from supporterflow.domain.supporters.schema import (
    Factory,
    Model,
    Schema,
    State,
    array,
    boolean,
    date,
    js_truthy,
    mixed,
    obj,
    string,
)

USER_SERVICE: Final = "user-service"

IDENTITY_TYPES: Final = ("email", "mobile")
"""``IdentityType``: the only kinds of identity."""
MATCH_TYPES: Final = ("username", "email", "mobile", "identity_hash")
"""``MatchTypes``, in the order of the MatchRequest message."""

IDENTITY_KIND: Final = string().one_of(IDENTITY_TYPES).required()


def _content_kind(kind: object) -> str:
    """JavaScript ``switch (kind)``: strict equality with the two known kinds."""
    return kind if isinstance(kind, str) and kind in IDENTITY_TYPES else "other"


def _email_content(_base: Schema) -> Schema:
    return EMAIL.required()


def _mobile_content(_base: Schema) -> Schema:
    return MOBILE.required()


def _unknown_kind_content(_base: Schema) -> Schema:
    # yup's mixed() has no type check, so this "typeError" never fires: with an unknown kind
    # the content is not checked at all and only the kind reports an error (spec §2.3 says
    # otherwise; the real behaviour is kept).
    return mixed().type_error_message("Invalid kind")


IDENTITY_CONTENT: Final = (
    string()
    .required()
    .when(
        "kind",
        _content_kind,
        {"email": _email_content, "mobile": _mobile_content, "other": _unknown_kind_content},
    )
)
"""An e-mail address or a mobile number (normalised), depending on the sibling ``kind``."""


def _now(state: State) -> object:
    return state.now()


IDENTITY: Final = Model(
    USER_SERVICE,
    "Identity",
    obj(
        {
            "hash": string().required(),
            "kind": IDENTITY_KIND,
            "content": IDENTITY_CONTENT,
            "ownerUuid": string().uuid().required(),
            "verified": boolean().default(False),
            "hidden": boolean().default(False),
            "created": date().default(Factory(_now)),
            "updated": date().default(Factory(_now)),
        }
    ),
)
"""An identity as user-service stores it; ``created``/``updated`` default to ``now``."""

_PARTIAL_IDENTITY: Final = obj({"kind": IDENTITY_KIND, "content": IDENTITY_CONTENT}).required()
_IDENTITY_WITH_HASH: Final = obj(
    {"hash": string().required(), "kind": IDENTITY_KIND, "content": IDENTITY_CONTENT}
).required()

IDENTITY_REQUEST: Final = Model(USER_SERVICE, "IdentityRequest", _IDENTITY_WITH_HASH)
"""One identity of a SignupRequest (a type, not a model, in data-models: name assumed)."""


def _signup(identity: Schema) -> Schema:
    return obj(
        {
            "firstName": FIRST_NAME.default(""),
            "lastName": LAST_NAME.default(""),
            "identities": array(identity).required(),
        }
    )


PARTIAL_SIGNUP_REQUEST: Final = Model(USER_SERVICE, "PartialSignupRequest", _signup(_PARTIAL_IDENTITY))
"""What supporter-event-service accepts: identities without their hash (spec §2.4)."""
SIGNUP_REQUEST: Final = Model(USER_SERVICE, "SignupRequest", _signup(_IDENTITY_WITH_HASH))
"""What user-service ``/signup`` accepts: every identity carries its hash."""

_MATCH_MESSAGE: Final = "Please provide one and only one between: " + ", ".join(
    f"'{kind}'" for kind in MATCH_TYPES
)


def _exactly_one_match(value: object) -> bool:
    if not js_truthy(value):
        return False
    return isinstance(value, dict) and sum(js_truthy(value.get(kind)) for kind in MATCH_TYPES) == 1


MATCH_REQUEST: Final = Model(
    USER_SERVICE,
    "MatchRequest",
    obj(
        {
            "username": string().uuid(),
            "email": EMAIL,
            "mobile": MOBILE,
            "identity_hash": string(),
        }
    ).test("-".join(MATCH_TYPES), _MATCH_MESSAGE, _exactly_one_match),
)
"""user-service ``/match``: exactly one of the four keys must be truthy (spec §2.5)."""
