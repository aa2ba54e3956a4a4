"""Platforms and the store app ids that identify them (spec §2.2).

Why: the ``platform`` column of Subscription and SubscriptionEvent rows, the Soft Opt-In product
name and the link endpoints all derive from these exact, case-sensitive mappings; they are data
so that adding an app is a one-line change.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "APPLE_BUNDLE_TO_PLATFORM",
    "GOOGLE_PACKAGE_TO_PLATFORM",
    "PLATFORM_TO_GOOGLE_PACKAGE",
    "SHARED_SECRET_PARAMETER",
    "UNKNOWN_PLATFORM",
    "App",
    "InvalidPlatformError",
    "Platform",
    "apple_shared_secret_parameter",
    "google_package_for_platform",
    "platform_from_apple_bundle",
    "platform_from_google_package",
]


class Platform(StrEnum):
    """Values of the ``platform`` column (spec §2.2)."""

    IOS = "ios"
    ANDROID = "android"
    DAILY_EDITION = "newsstand"
    IOS_EDITION = "ios-edition"
    ANDROID_EDITION = "android-edition"
    IOS_PUZZLES = "ios-puzzles"
    ANDROID_PUZZLES = "android-puzzles"
    IOS_FEAST = "ios-feast"
    ANDROID_FEAST = "android-feast"


#: What SubscriptionEvent rows carry when the bundle/package is not recognised (spec §1.4).
#: Subscription rows omit the attribute instead.
UNKNOWN_PLATFORM: Final = "unknown"

APPLE_BUNDLE_TO_PLATFORM: Final[Mapping[str, Platform]] = MappingProxyType(
    {
        "uk.co.guardian.iphone2": Platform.IOS,
        "uk.co.guardian.gce": Platform.IOS_EDITION,
        "uk.co.guardian.puzzles": Platform.IOS_PUZZLES,
        "uk.co.guardian.Feast": Platform.IOS_FEAST,  # capital F, case-sensitive (spec §2.2)
    }
)

GOOGLE_PACKAGE_TO_PLATFORM: Final[Mapping[str, Platform]] = MappingProxyType(
    {
        "com.guardian": Platform.ANDROID,
        "com.guardian.debug": Platform.ANDROID,
        "com.guardian.editions": Platform.ANDROID_EDITION,
        "uk.co.guardian.puzzles": Platform.ANDROID_PUZZLES,
        "uk.co.guardian.feast": Platform.ANDROID_FEAST,
    }
)

#: Link-endpoint reverse mapping; deliberately not the inverse of the table above: Feast and
#: the debug package are absent upstream (spec §2.2, §13.1.6).
PLATFORM_TO_GOOGLE_PACKAGE: Final[Mapping[Platform, str]] = MappingProxyType(
    {
        Platform.ANDROID: "com.guardian",
        Platform.ANDROID_PUZZLES: "uk.co.guardian.puzzles",
        Platform.ANDROID_EDITION: "com.guardian.editions",
    }
)


class InvalidPlatformError(ValueError):
    """A platform the Google link endpoint cannot map back to a package name."""

    def __init__(self) -> None:
        super().__init__("Invalid platform")


def platform_from_apple_bundle(bundle_id: str | None) -> Platform | None:
    """The platform of an Apple bundle id, or None (upstream ``undefined``) when unknown."""
    return APPLE_BUNDLE_TO_PLATFORM.get(bundle_id) if bundle_id is not None else None


def platform_from_google_package(package_name: str | None) -> Platform | None:
    """The platform of a Google Play package name, or None when unknown."""
    return GOOGLE_PACKAGE_TO_PLATFORM.get(package_name) if package_name is not None else None


def google_package_for_platform(platform: str) -> str:
    """The package name to query Google with for a linked platform; raises "Invalid platform" otherwise."""
    try:
        return PLATFORM_TO_GOOGLE_PACKAGE[Platform(platform)]
    except (ValueError, KeyError):
        raise InvalidPlatformError() from None


class App(StrEnum):
    """Which shared secret verifies a receipt (spec §2.2)."""

    LIVE = "live"
    PUZZLES = "puzzles"
    EDITIONS = "editions"
    FEAST = "feast"


#: SSM configuration key of the verifyReceipt shared secret, per app. Only Feast has its own;
#: the others rely on the Guardian's shared (master) secret (spec §2.2, §13.2.7).
SHARED_SECRET_PARAMETER: Final[Mapping[App, str]] = MappingProxyType(
    {
        App.LIVE: "apple.password",
        App.PUZZLES: "apple.password",
        App.EDITIONS: "apple.password",
        App.FEAST: "feast.apple.password",
    }
)


def apple_shared_secret_parameter(app: App) -> str:
    """The configuration key whose value is sent as verifyReceipt ``password`` for ``app``."""
    return SHARED_SECRET_PARAMETER[app]
