"""Apple's own API clients pointed at the emulator.

The library fixes the base URL per environment (``api.storekit.apple.com``,
``api.storekit-sandbox.apple.com``); everything else about the clients (token, paths, parsing)
must stay the library's, so only ``_base_url`` changes. The service itself sends the library's
requests through its own transports (``supporterflow.adapters.apple``)."""

from __future__ import annotations

from typing import TypeVar

from appstoreserverlibrary.api_client import BaseAppStoreServerAPIClient

C = TypeVar("C", bound=BaseAppStoreServerAPIClient)


def pointed_at(client: C, base_url: str) -> C:
    """``client``, calling ``base_url`` instead of Apple's host."""
    client._base_url = base_url.rstrip("/")
    return client
