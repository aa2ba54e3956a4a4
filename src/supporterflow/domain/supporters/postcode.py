"""UK postcodes as the ``postcode`` npm library (5.1.0) checks and normalises them.

Why a port: data-models' ``Postcode`` field accepts exactly what ``postcode.isValid`` accepts
and stores ``postcode.toNormalised`` (``se17tp`` -> ``SE1 7TP``). The library checks the
shape only (area letters, district, sector digit, two unit letters); it knows no real
postcodes. JavaScript's ``\\s`` and case-insensitive ``[a-z]`` are spelt out for Python.
"""

from __future__ import annotations

import re
from typing import Final

from supporterflow.domain.supporters.schema.js import JS_SPACE_CLASS

_SPACE = f"[{JS_SPACE_CLASS}]"
#: ``/^[a-z]{1,2}\\d[a-z\\d]?\\s*\\d[a-z]{2}$/i``
POSTCODE_REGEX: Final = re.compile(rf"[a-zA-Z]{{1,2}}[0-9][a-zA-Z0-9]?{_SPACE}*[0-9][a-zA-Z]{{2}}\Z")
_SPACES: Final = re.compile(f"{_SPACE}+")


def is_valid(postcode: str) -> bool:
    """``postcode.isValid``."""
    return POSTCODE_REGEX.match(postcode) is not None


def to_normalised(postcode: str) -> str | None:
    """``postcode.toNormalised``: outward code, one space, inward code, upper case."""
    if not is_valid(postcode):
        return None
    sanitised = _SPACES.sub("", postcode).upper()
    # The inward code is the final digit and two letters (the library's /\d[a-z]{2}$/i).
    return f"{sanitised[:-3]} {sanitised[-3:]}"
