"""Who may see the dashboard: an operator holding one of the admin keys (``SF_ADMIN_API_KEYS``).

A browser signs in once with a key and then carries a session cookie: an HMAC of the key, so the
key itself never rides in a cookie, no session state is kept, and rotating the keys ends every
session. The cookie is ``HttpOnly`` and ``SameSite=Strict``; state-changing requests must also
come from the dashboard's own origin. Scripts may send ``x-api-key`` instead, as to the admin API.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["COOKIE", "AdminAuth"]

COOKIE: Final = "sf_admin"
_SESSION_LABEL: Final = b"supporterflow dashboard session"
SESSION_SECONDS: Final = 12 * 3600


def _session_of(key: bytes) -> str:
    return hmac.new(key, _SESSION_LABEL, hashlib.sha256).hexdigest()


class AdminAuth:
    def __init__(self, admin_keys: Sequence[str]) -> None:
        self._keys = [key.encode() for key in admin_keys]
        self._sessions = [_session_of(key).encode() for key in self._keys]

    @staticmethod
    def _any(given: bytes, known: list[bytes]) -> bool:
        # Compare with every one, always: timing must not tell which one nearly matched.
        return any([hmac.compare_digest(given, candidate) for candidate in known])

    def key_is_valid(self, key: str) -> bool:
        return bool(key) and self._any(key.encode(), self._keys)

    def signed_in(self, request: Request) -> bool:
        header = request.headers.get("x-api-key")
        if header is not None:
            return self.key_is_valid(header)
        cookie = request.cookies.get(COOKIE, "")
        return bool(cookie) and self._any(cookie.encode(), self._sessions)

    @staticmethod
    def same_origin(request: Request) -> bool:
        """A form post from the dashboard's own pages (a browser always sends ``Origin`` on a
        POST); requests with ``x-api-key`` and no ``Origin`` are scripts, not browsers."""
        origin = request.headers.get("origin")
        if origin is None:
            return "x-api-key" in request.headers
        host = request.headers.get("host", "")
        return urlsplit(origin).netloc == host

    def start_session(self, response: Response, request: Request, key: str) -> None:
        response.set_cookie(
            COOKIE,
            _session_of(key.encode()),
            max_age=SESSION_SECONDS,
            path="/admin",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def end_session(response: Response) -> None:
        response.delete_cookie(COOKIE, path="/admin")
