"""``AppStoreServerAPIClient`` pointed at another base URL (the emulator, a proxy).

The library fixes the base URL per environment (``api.storekit.apple.com``,
``api.storekit-sandbox.apple.com``); everything else about the client - token, paths, parsing -
must stay the library's, so these subclasses change only ``_base_url``.
"""

from __future__ import annotations

from appstoreserverlibrary.api_client import AppStoreServerAPIClient, AsyncAppStoreServerAPIClient
from appstoreserverlibrary.models.Environment import Environment


class BaseUrlAppStoreServerAPIClient(AppStoreServerAPIClient):
    """The library's sync client, calling ``base_url`` instead of Apple's host."""

    def __init__(
        self,
        signing_key: bytes,
        key_id: str,
        issuer_id: str,
        bundle_id: str,
        environment: Environment,
        *,
        base_url: str,
    ) -> None:
        super().__init__(signing_key, key_id, issuer_id, bundle_id, environment)
        self._base_url = base_url.rstrip("/")


class BaseUrlAsyncAppStoreServerAPIClient(AsyncAppStoreServerAPIClient):
    """The library's httpx-based async client, calling ``base_url`` instead of Apple's host."""

    def __init__(
        self,
        signing_key: bytes,
        key_id: str,
        issuer_id: str,
        bundle_id: str,
        environment: Environment,
        *,
        base_url: str,
    ) -> None:
        super().__init__(signing_key, key_id, issuer_id, bundle_id, environment)
        self._base_url = base_url.rstrip("/")
