"""Clients of the authorities the flows deliver to and fetch from."""

from __future__ import annotations

import secrets

from supporterflow.adapters.braze import BrazeIdentityLookup
from supporterflow.adapters.erpnext import ErpNextClient
from supporterflow.adapters.user_service import HttpUserService
from supporterflow.bootstrap.parts import Downstream, NotConfigured, secret, transport_for
from supporterflow.bootstrap.stores import apple, google
from supporterflow.config import Settings
from supporterflow.emulators.braze import create_braze_app
from supporterflow.emulators.erpnext import create_erpnext_app
from supporterflow.emulators.user_service import create_user_service_app
from supporterflow.runtime.metrics import Metrics


def downstream_clients(settings: Settings, metrics: Metrics) -> Downstream:
    """Clients of the authorities the flows deliver to. A key set explicitly always wins over what
    an emulator would be configured with (architecture.md, configuration contract)."""
    found = Downstream()

    user_key = secret(settings.user_service_api_key) or secrets.token_urlsafe(16)
    transport = transport_for(
        settings.user_service_url, settings, lambda: create_user_service_app(user_key), "user-service"
    )
    if transport is None:
        found.unavailable["user_service"] = "set SF_USER_SERVICE_URL and _API_KEY, or SF_EMULATORS=on"
    else:
        found.clients["user_service"] = HttpUserService(transport, user_key, metrics)
        found.transports.append(transport)

    erp_key = secret(settings.erpnext_api_key) or secrets.token_hex(8)
    erp_secret = secret(settings.erpnext_api_secret) or secrets.token_hex(8)
    transport = transport_for(
        settings.erpnext_url, settings, lambda: create_erpnext_app(erp_key, erp_secret), "erpnext"
    )
    if transport is None:
        found.unavailable["erp"] = "set SF_ERPNEXT_URL, _API_KEY and _API_SECRET, or SF_EMULATORS=on"
    else:
        found.clients["erp"] = ErpNextClient(transport, erp_key, erp_secret, metrics)
        found.transports.append(transport)

    braze_key = secret(settings.braze_api_key) or secrets.token_urlsafe(16)
    transport = transport_for(settings.braze_url, settings, lambda: create_braze_app(braze_key), "braze")
    if transport is None:
        # Only the Feast flows need it: the others run, and a Feast fetch waits in the DLQ.
        found.clients["identity_lookup"] = NotConfigured(
            "the Braze identity lookup", "set SF_BRAZE_URL and SF_BRAZE_API_KEY, or SF_EMULATORS=on"
        )
    else:
        found.clients["identity_lookup"] = BrazeIdentityLookup(transport, braze_key, metrics)
        found.transports.append(transport)

    apple(settings, metrics, found)
    google(settings, metrics, found)
    return found
