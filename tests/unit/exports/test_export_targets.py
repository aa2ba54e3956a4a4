"""Where each export dataset goes, from the settings."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from supporterflow.adapters.export_targets import UrlExportTargets
from supporterflow.adapters.objects import DirectoryObjectStore
from supporterflow.config import ConfigurationError


def test_every_dataset_gets_a_folder_of_its_name_under_a_directory(tmp_path: Path) -> None:
    store = UrlExportTargets(str(tmp_path)).store("subscriptions")
    assert isinstance(store, DirectoryObjectStore)
    assert store.root == tmp_path / "subscriptions"


def test_under_s3_and_with_a_bucket_of_its_own() -> None:
    from supporterflow.adapters.aws.s3 import S3ObjectStore

    created: list[object] = []

    def client() -> object:
        created.append(object())
        return created[-1]

    targets = UrlExportTargets(
        "s3://exports/root/",
        {"google-historical": "s3://ophan-raw-mobile-subscription-historical-google"},
        s3_client=client,
    )
    events, google = targets.store("subscription-events"), targets.store("google-historical")
    assert isinstance(events, S3ObjectStore)
    assert isinstance(google, S3ObjectStore)
    assert targets.url("subscription-events") == "s3://exports/root/subscription-events"
    assert targets.url("google-historical") == "s3://ophan-raw-mobile-subscription-historical-google"
    assert len(created) == 1  # one client for every store


def test_a_bad_bucket_name_is_a_configuration_error() -> None:
    targets = UrlExportTargets("s3://Not_A_Bucket", s3_client=object)
    with pytest.raises(ConfigurationError, match="export destination of subscriptions"):
        targets.store("subscriptions")


def test_s3_without_boto3_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "supporterflow.adapters.aws.s3", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'supporterflow\[aws\]'"):
        UrlExportTargets("s3://bucket").store("subscriptions")
