"""Who may see the dashboard: an operator holding one of the admin keys (``SF_ADMIN_API_KEYS``),
or one the configured OpenID provider signed in and the allow-list names (``oidc_login``).

A browser signs in once and then carries a session cookie; no session state is kept. For a key,
the cookie is an HMAC of the key, so the key itself never rides in a cookie and rotating the keys
ends every session. For OIDC, it holds the subject and an expiry, signed with HMAC under a secret
derived from the identity hash key and the OIDC settings, so changing the issuer, the client or
the allow-list ends every OIDC session. The cookie is ``HttpOnly`` and ``SameSite=Strict``;
state-changing requests must also come from the dashboard's own origin. Scripts may send
``x-api-key`` instead, as to the admin API.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Sequence
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from supporterflow.entrypoints.http.admin.display import fingerprint
from supporterflow.logs import looks_sensitive

__all__ = ["COOKIE", "KEY_OPERATOR", "AdminAuth", "oidc_secret", "shown_subject"]

COOKIE: Final = "sf_admin"
_SESSION_LABEL: Final = b"supporterflow dashboard session"
_OIDC_LABEL: Final = b"supporterflow dashboard oidc"
_OIDC_PREFIX: Final = "oidc"
SESSION_SECONDS: Final = 12 * 3600
KEY_OPERATOR: Final = "admin key"
"""Who the header shows for a key session (the key itself is never shown)."""


def _session_of(key: bytes) -> str:
    return hmac.new(key, _SESSION_LABEL, hashlib.sha256).hexdigest()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def oidc_secret(identity_key: bytes, *settings: str) -> bytes:
    """The secret of OIDC sessions and sign-in flows: the identity hash key (never stored in a
    cookie, never changed) bound to ``settings`` (issuer, client, allow-list), so changing any of
    them ends the sessions it let in."""
    message = _OIDC_LABEL + b"\x00" + "\x00".join(settings).encode()
    return hmac.new(identity_key, message, hashlib.sha256).digest()


def shown_subject(subject: str) -> str:
    """A subject as the header and the logs show it: an opaque id as it is, one that is an email
    address or a phone number (some providers' ``sub`` is the login) as a fingerprint."""
    return fingerprint(subject) if looks_sensitive(subject) else subject


class AdminAuth:
    def __init__(self, admin_keys: Sequence[str], oidc_secret: bytes | None = None) -> None:
        self._keys = [key.encode() for key in admin_keys]
        self._sessions = [_session_of(key).encode() for key in self._keys]
        self._oidc_secret = oidc_secret

    @staticmethod
    def _any(given: bytes, known: list[bytes]) -> bool:
        # Compare with every one, always: timing must not tell which one nearly matched.
        return any([hmac.compare_digest(given, candidate) for candidate in known])

    def key_is_valid(self, key: str) -> bool:
        return bool(key) and self._any(key.encode(), self._keys)

    def operator(self, request: Request) -> str | None:
        """Who is signed in, as the header shows it (``KEY_OPERATOR`` or an OIDC subject), or
        None. An ``x-api-key`` header decides alone, as before."""
        header = request.headers.get("x-api-key")
        if header is not None:
            return KEY_OPERATOR if self.key_is_valid(header) else None
        cookie = request.cookies.get(COOKIE, "")
        if not cookie:
            return None
        if cookie.startswith(_OIDC_PREFIX + "."):
            subject = self._oidc_subject(cookie)
            return None if subject is None else shown_subject(subject)
        return KEY_OPERATOR if self._any(cookie.encode(), self._sessions) else None

    def signed_in(self, request: Request) -> bool:
        return self.operator(request) is not None

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
        self._set(response, request, _session_of(key.encode()))

    def start_oidc_session(self, response: Response, request: Request, subject: str) -> None:
        """A session for ``subject``, whom the provider signed in and the allow-list admits:
        ``oidc.<subject, base64url>.<expiry, epoch s>.<HMAC-SHA256, base64url>``."""
        if self._oidc_secret is None:
            raise RuntimeError("OIDC sessions need the OIDC secret")
        body = f"{_OIDC_PREFIX}.{_b64url(subject.encode())}.{int(time.time()) + SESSION_SECONDS}"
        self._set(response, request, f"{body}.{self._sign(body)}")

    def _sign(self, body: str) -> str:
        assert self._oidc_secret is not None
        return _b64url(hmac.new(self._oidc_secret, body.encode(), hashlib.sha256).digest())

    def _oidc_subject(self, cookie: str) -> str | None:
        """The subject of a session cookie this server signed and that has not expired."""
        if self._oidc_secret is None:
            return None
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            return None
        _, encoded, expiry = body.split(".")
        if not expiry.isdigit() or int(expiry) <= time.time():
            return None
        try:
            return _unb64url(encoded).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None

    @staticmethod
    def _set(response: Response, request: Request, value: str) -> None:
        response.set_cookie(
            COOKIE,
            value,
            max_age=SESSION_SECONDS,
            path="/admin",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    @staticmethod
    def end_session(response: Response) -> None:
        response.delete_cookie(COOKIE, path="/admin")
