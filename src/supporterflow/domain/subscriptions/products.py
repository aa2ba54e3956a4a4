"""Product facts: the Soft Opt-In product name (spec §2.3) and ``PRODUCT_BILLING_PERIOD`` (§2.4).

Why: ``billingPeriod`` on Subscription rows comes from a hand-maintained table of store product
ids, reproduced verbatim -- including the upstream ``uk.co.guardain.Feast.yearly.discounted`` typo,
because that misspelt id is what the store actually reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from supporterflow.domain.subscriptions.platforms import Platform

__all__ = [
    "FEAST_SOI_PRODUCT_NAME",
    "PRODUCT_BILLING_PERIOD",
    "SOI_PRODUCT_NAME",
    "billing_period",
    "soi_product_name",
]

SOI_PRODUCT_NAME: Final = "InAppPurchase"
FEAST_SOI_PRODUCT_NAME: Final = "FeastInAppPurchase"
_FEAST_PLATFORMS: Final = frozenset({Platform.IOS_FEAST.value, Platform.ANDROID_FEAST.value})


def soi_product_name(platform: str | None) -> str:
    """``FeastInAppPurchase`` for the Feast platforms, ``InAppPurchase`` for anything else incl. None."""
    return FEAST_SOI_PRODUCT_NAME if platform in _FEAST_PLATFORMS else SOI_PRODUCT_NAME


_SIX_MONTHS: Final = (
    "com.guardian.subscription.6monthly.12",
    "com.guardian.subscription.6monthly.13.freetrial",
    "uk.co.guardian.gia.6months",
    "uk.co.guardian.gla.6months",
    "uk.co.guardian.gla.6months.2018May.withFreeTrial",
    "uk.co.guardian.subscription.9",
)

_ONE_MONTH: Final = (
    "com.guardian.subscription.monthly.10",
    "com.guardian.subscription.monthly.10.freetrial",
    "com.guardian.subscription.monthly.11.freetrial",
    "uk.co.guardian.gia.1month",
    "uk.co.guardian.gla.1month.2023Mar.metered",
    "uk.co.guardian.gla.1month",
    "uk.co.guardian.gla.1month.2017Q2.variantA",
    "uk.co.guardian.gla.1month.2017Q2.variantB",
    "uk.co.guardian.gla.1month.2018April.withFreeTrial",
    "uk.co.guardian.gla.1month.2018May.meteredoffer",
    "uk.co.guardian.gla.1month.2018May.withFreeTrial",
    "uk.co.guardian.gla.1month.2018May.stepUp",
    "uk.co.guardian.gla.1month.Jan2025",
    "uk.co.guardian.gla.1month.Promo2025",
    "uk.co.guardian.gla.1month.2023Mar.promo",
    "uk.co.guardian.subscription",
    "uk.co.guardian.subscription.2",
    "uk.co.guardian.subscription.3",
    "uk.co.guardian.subscription.4",
    "uk.co.guardian.subscription.5",
    "uk.co.guardian.subscription.6",
    "uk.co.guardian.subscription.7",
    "uk.co.guardian.subscription.8",
    "uk.co.guardian.Feast.monthly",
    "uk.co.guardian.Feast.monthly.discounted",
    "guardian.subscription.month.meteredoffer",
    "guardian.month.meteroffer",
    "guardian.month.11.99",
    "guardian.month.promo.11.99",
)

_ONE_YEAR: Final = (
    "com.guardian.subscription.annual.13",
    "com.guardian.subscription.annual.13.freetrial",
    "com.guardian.subscription.annual.14.freetrial",
    "uk.co.guardian.gla.12months.2018Dec.withFreeTrial",
    "uk.co.guardian.gla.12months.2018Dec.stepUp",
    "uk.co.guardian.gla.12months.2018Dec.meteredoffer",
    "uk.co.guardian.gla.12months.2023Mar.metered",
    "uk.co.guardian.gla.12months.2023Mar.promo",
    "uk.co.guardian.gla.1year.Jan2025",
    "uk.co.guardian.gla.1year.Promo2025",
    "uk.co.guardain.Feast.yearly.discounted",  # sic: "guardain" is the upstream id (spec §2.4)
    "uk.co.guardian.Feast.yearly",
    "guardian.subscription.annual.meteroffer",
    "guardian.subscription.annual.meter.offer",
    "guardian.annual.114.99",
    "guardian.annual.promo.114.99",
)

#: Store product id -> ISO-8601 billing period (spec §2.4).
PRODUCT_BILLING_PERIOD: Final[Mapping[str, str]] = MappingProxyType(
    {
        **dict.fromkeys(_SIX_MONTHS, "P6M"),
        **dict.fromkeys(_ONE_MONTH, "P1M"),
        **dict.fromkeys(_ONE_YEAR, "P1Y"),
    }
)


def billing_period(product_id: str) -> str | None:
    """The billing period of a product, or None (attribute omitted; caller logs a warning, spec §2.4)."""
    return PRODUCT_BILLING_PERIOD.get(product_id)
