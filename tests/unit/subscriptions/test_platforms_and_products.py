"""Platform/app-id mappings (spec §2.2), SOI product name (§2.3) and billing periods (§2.4)."""

from __future__ import annotations

import pytest

from supporterflow.domain.subscriptions.platforms import (
    App,
    InvalidPlatformError,
    Platform,
    apple_shared_secret_parameter,
    google_package_for_platform,
    platform_from_apple_bundle,
    platform_from_google_package,
)
from supporterflow.domain.subscriptions.products import (
    PRODUCT_BILLING_PERIOD,
    billing_period,
    soi_product_name,
)


def test_platform_values_are_the_nine_column_values() -> None:
    assert [platform.value for platform in Platform] == [
        "ios",
        "android",
        "newsstand",
        "ios-edition",
        "android-edition",
        "ios-puzzles",
        "android-puzzles",
        "ios-feast",
        "android-feast",
    ]


@pytest.mark.parametrize(
    ("bundle", "expected"),
    [
        ("uk.co.guardian.iphone2", "ios"),
        ("uk.co.guardian.gce", "ios-edition"),
        ("uk.co.guardian.puzzles", "ios-puzzles"),
        ("uk.co.guardian.Feast", "ios-feast"),
        ("uk.co.guardian.feast", None),
        ("com.guardian", None),
        (None, None),
    ],
)
def test_apple_bundle_maps_to_platform_case_sensitively(bundle: str | None, expected: str | None) -> None:
    assert platform_from_apple_bundle(bundle) == expected


@pytest.mark.parametrize(
    ("package", "expected"),
    [
        ("com.guardian", "android"),
        ("com.guardian.debug", "android"),
        ("com.guardian.editions", "android-edition"),
        ("uk.co.guardian.puzzles", "android-puzzles"),
        ("uk.co.guardian.feast", "android-feast"),
        ("uk.co.guardian.Feast", None),
        (None, None),
    ],
)
def test_google_package_maps_to_platform(package: str | None, expected: str | None) -> None:
    assert platform_from_google_package(package) == expected


@pytest.mark.parametrize(
    ("platform", "package"),
    [
        ("android", "com.guardian"),
        ("android-puzzles", "uk.co.guardian.puzzles"),
        ("android-edition", "com.guardian.editions"),
    ],
)
def test_link_endpoint_maps_android_platforms_back_to_packages(platform: str, package: str) -> None:
    assert google_package_for_platform(platform) == package


@pytest.mark.parametrize("platform", ["android-feast", "ios", "nonsense"])
def test_other_platforms_raise_invalid_platform(platform: str) -> None:
    with pytest.raises(InvalidPlatformError, match=r"^Invalid platform$"):
        google_package_for_platform(platform)


def test_only_feast_has_its_own_shared_secret() -> None:
    assert apple_shared_secret_parameter(App.FEAST) == "feast.apple.password"
    for app in (App.LIVE, App.PUZZLES, App.EDITIONS):
        assert apple_shared_secret_parameter(app) == "apple.password"


@pytest.mark.parametrize(
    ("platform", "name"),
    [
        ("ios-feast", "FeastInAppPurchase"),
        ("android-feast", "FeastInAppPurchase"),
        ("ios", "InAppPurchase"),
        ("android-puzzles", "InAppPurchase"),
        (None, "InAppPurchase"),
    ],
)
def test_soi_product_name_is_feast_only_for_feast_platforms(platform: str | None, name: str) -> None:
    assert soi_product_name(platform) == name


@pytest.mark.parametrize(
    ("product", "period"),
    [
        ("com.guardian.subscription.6monthly.12", "P6M"),
        ("uk.co.guardian.subscription.9", "P6M"),
        ("uk.co.guardian.gla.1month.2018May.withFreeTrial", "P1M"),
        ("uk.co.guardian.subscription.5", "P1M"),
        ("guardian.month.promo.11.99", "P1M"),
        ("uk.co.guardian.gla.12months.2018Dec.withFreeTrial", "P1Y"),
        ("uk.co.guardain.Feast.yearly.discounted", "P1Y"),
        ("uk.co.guardian.Feast.yearly", "P1Y"),
        ("guardian.annual.promo.114.99", "P1Y"),
    ],
)
def test_billing_period_comes_from_the_product_table(product: str, period: str) -> None:
    assert billing_period(product) == period


def test_the_correctly_spelt_discounted_feast_yearly_id_is_unknown_because_upstream_has_a_typo() -> None:
    assert billing_period("uk.co.guardian.Feast.yearly.discounted") is None


def test_unknown_product_has_no_billing_period() -> None:
    assert billing_period("uk.co.guardian.feast.access.test") is None


def test_product_table_has_6_six_monthly_29_monthly_and_16_yearly_products() -> None:
    periods = list(PRODUCT_BILLING_PERIOD.values())
    assert (periods.count("P6M"), periods.count("P1M"), periods.count("P1Y")) == (6, 29, 16)
