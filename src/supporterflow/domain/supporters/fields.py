"""The shared field types of data-models (spec §2.6; ``validation``, ``fields/*``, ``validators/*``).

Names follow data-models in upper snake case (``SupporterUUID`` -> :data:`SUPPORTER_UUID`).
Each is a schema value; models refine them with builders (``MOBILE.required()``).

Time and UUID defaults read their source from the validation state (see ``validate``): the
context's ``now`` and ``new_uuid``, never the clock or ``uuid4`` directly.
"""

from __future__ import annotations

import re
from typing import Final

from supporterflow.domain.supporters import postcode
from supporterflow.domain.supporters.schema import (
    Factory,
    Message,
    Number,
    Schema,
    State,
    String,
    Test,
    js_truthy,
    number,
    string,
)
from supporterflow.domain.supporters.schema.dates import parse_date, to_iso_string
from supporterflow.domain.supporters.schema.js import JS_SPACE_CLASS, UNDEFINED, js_trim

CURRENCIES: Final = ("AUD", "EUR", "GBP", "USD")
"""Currencies accepted by serverless-payments (data-models ``Currencies``)."""
ERP_CURRENCIES: Final = ("GBP",)
"""ERP's ``Currency`` list."""
NUMERIC_BOOL_VALUES: Final = (0, 1)
"""``NumericBool``: an ERP checkbox, ``NO = 0``, ``YES = 1``."""


def _new_uuid(state: State) -> object:
    return state.new_uuid()


def _now_iso(state: State) -> object:
    return to_iso_string(state.now())


UUID: Final = string().uuid().default(Factory(_new_uuid))
"""A UUID string, defaulting to a new version 4 UUID."""
FIRST_NAME: Final = string()
LAST_NAME: Final = string()
EMAIL: Final = string().email()
"""yup's e-mail format; no trimming, no lower-casing (spec §2.1)."""

# --- Mobile (validators/phoneNumber): normalise first, then require AWS Cognito's "+digits".
_BRACKETED_PREFIX: Final = re.compile(r"\A\((\+?[0-9]+)\)")
_SPACES_AND_DASHES: Final = re.compile(rf"[{JS_SPACE_CLASS}-]")
_COGNITO_PHONE: Final = re.compile(r"\+[0-9]+\Z")


def normalise_uk_phone_number(_schema: Schema, value: object, _original: object) -> object:
    """``normaliseUkPhoneNumber`` (spec §2.3): ``07000 000 000`` -> ``+447000000000``.

    Anything that is not a non-empty string becomes ``""`` (as in data-models).
    """
    if not isinstance(value, str) or not value:
        return ""
    value = _BRACKETED_PREFIX.sub(r"\1", value, count=1)
    value = _SPACES_AND_DASHES.sub("", value)
    if value.startswith("0044"):
        return "+44" + value[4:]
    if value.startswith("0"):
        return "+44" + value[1:]
    return value


def _valid_mobile(value: object) -> bool:
    return not js_truthy(value) or (isinstance(value, str) and _COGNITO_PHONE.match(value) is not None)


MOBILE: Final = (
    string()
    .transform(normalise_uk_phone_number)
    .test("validate-mobile", "${path} is not a valid mobile number: '${value}'", _valid_mobile)
)


def _valid_timestamp(value: object) -> bool:
    """``!value || !isNaN(new Date(value).getTime())`` (validators/datetime)."""
    return not js_truthy(value) or (isinstance(value, str) and parse_date(value) is not None)


TIMESTAMP: Final = string().test(
    "validate-timestamp", "${path} is not a valid timestamp: '${value}'", _valid_timestamp
)
"""A string ``new Date()`` can read, kept as the string."""
TIMESTAMP_OR_NOW: Final = TIMESTAMP.default(Factory(_now_iso))
""":data:`TIMESTAMP` defaulting to the current time as ``toISOString()`` gives it."""


def _non_empty(value: object) -> bool:
    if value is None or value is UNDEFINED:
        return True  # left to required()/defined()
    return isinstance(value, str) and js_trim(value) != ""


NON_EMPTY_STRING: Final = string().test(
    "non-empty", "${path} must not be an empty (or all-whitespace) string", _non_empty
)

_SUPPORTER_UUID_MESSAGE: Final = (
    "supporter_uuid must be a valid UUID unless `partial: true` is passed to the validation context"
)


def _partial_or_strict(partial: object) -> str:
    return "partial" if js_truthy(partial) else "strict"


def _accept_missing(schema: Schema) -> Schema:
    return schema.default(None).defined()


def _require_uuid(schema: Schema) -> Schema:
    return schema.type_error_message(_SUPPORTER_UUID_MESSAGE).required(_SUPPORTER_UUID_MESSAGE)


SUPPORTER_UUID: Final = (
    string()
    .uuid()
    .when("$partial", _partial_or_strict, {"partial": _accept_missing, "strict": _require_uuid})
)
"""Required UUID, with its own message (no path in it, spec §2.6); with the context
``partial: true`` it defaults to ``null`` and accepts null or absence."""

NUMERIC_BOOL: Final[Number] = number().one_of(NUMERIC_BOOL_VALUES)
ERP_CURRENCY: Final[Number] = number()
"""A float; its unit is given by a separate currency field."""


def _keep_original(_schema: Schema, _value: object, original: object) -> object:
    return original


def _trim_original(_schema: Schema, _value: object, original: object) -> object:
    return js_trim(original) if isinstance(original, str) else original


STRICT_STRING: Final[String] = string().transform(_keep_original)
"""A string that is not coerced from other types (its transform undoes yup's cast)."""
TRIMMED_STRICT_STRING: Final[String] = string().transform(_trim_original)
LOWERCASE_STRING: Final[String] = TRIMMED_STRICT_STRING.lowercase()


def _postcode_or_empty(value: object) -> bool:
    return not js_truthy(value) or (isinstance(value, str) and postcode.is_valid(value))


def _normalise_postcode(_schema: Schema, value: object, _original: object) -> object:
    if isinstance(value, str):
        return postcode.to_normalised(value) or value
    return value


POSTCODE: Final = (
    STRICT_STRING.trim()
    .test("validate-postcode", "${path} is not a valid postcode: '${value}'", _postcode_or_empty)
    .transform(_normalise_postcode)
)
"""A UK postcode, checked and normalised by the ``postcode`` library (``se17tp`` -> ``SE1 7TP``).
``.trim()`` on a non-string crashes as in data-models (see ``JsCrash``)."""

_PHONE: Final = re.compile(
    r"(?:(?:(?:(?:\+44|0044)\s?\d{4}|\(?0\d{4}\)?)\s?\d{3}\s?\d{3})"
    r"|(?:(?:(?:\+44|0044)\s?\d{3}|\(?0\d{3}\)?)\s?\d{3}\s?\d{4})"
    r"|(?:(?:(?:\+44|0044)\s?\d{2}|\(?0\d{2}\)?)\s?\d{4}\s?\d{4}))"
    r"(?:\s?\\#(?:\d{4}|\d{3}))?\Z".replace(r"\s", f"[{JS_SPACE_CLASS}]").replace(r"\d", "[0-9]")
)
"""fields/PhoneNumber's expression. Its extension part really is a backslash then ``#``."""


def _phone_or_empty(value: object) -> bool:
    return not js_truthy(value) or (isinstance(value, str) and _PHONE.match(value) is not None)


PHONE_NUMBER: Final = STRICT_STRING.test(
    "validate-phone-number", "${path} is not a valid phone number: '${value}'", _phone_or_empty
)
"""UK landline or mobile formats (``+44``, ``0044`` or ``0``; brackets, spaces, extension)."""


def _email_or_mobile(value: object) -> bool:
    if not js_truthy(value):
        return True
    return isinstance(value, dict) and (js_truthy(value.get("email")) or js_truthy(value.get("mobile")))


EMAIL_OR_MOBILE: Final = Test(
    "email-or-mobile", Message("At least one of email or mobile must be defined"), _email_or_mobile
)
"""data-models' ``EmailOrMobileTest``, for objects with ``email`` and ``mobile`` keys."""
