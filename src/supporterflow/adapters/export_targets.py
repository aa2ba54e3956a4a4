"""Export destinations from configuration: a directory or an ``s3://`` URL per dataset.

By default every dataset goes into a folder of its name under ``export_out``
(``var/export/subscription-events/...``, ``s3://bucket/exports/subscriptions/...``);
``export_destinations`` sends chosen datasets elsewhere, e.g. into the buckets of an existing
mobile purchases deployment, one per export (spec §9).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from supporterflow.adapters.objects import DirectoryObjectStore
from supporterflow.config import ConfigurationError
from supporterflow.ports import ObjectStore

S3ClientFactory = Callable[[], Any]

_NEEDS_BOTO3 = "s3:// export destinations need boto3: pip install 'supporterflow[aws]'"


def _boto3_s3_client() -> Any:
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigurationError(_NEEDS_BOTO3) from None
    return boto3.client("s3")


class UrlExportTargets:
    def __init__(
        self,
        root: str,
        overrides: Mapping[str, str] | None = None,
        *,
        s3_client: S3ClientFactory = _boto3_s3_client,
    ) -> None:
        self.root = root
        self.overrides = dict(overrides or {})
        self._s3_client_factory = s3_client
        self._s3_client: Any = None

    def url(self, dataset: str) -> str:
        if dataset in self.overrides:
            return self.overrides[dataset]
        if self.root.startswith("s3://"):
            return self.root.rstrip("/") + "/" + dataset
        return str(Path(self.root) / dataset)

    def store(self, dataset: str) -> ObjectStore:
        url = self.url(dataset)
        if url.startswith("s3://"):
            try:
                from supporterflow.adapters.aws.s3 import S3ObjectStore
            except ImportError:
                raise ConfigurationError(_NEEDS_BOTO3) from None
            if self._s3_client is None:
                self._s3_client = self._s3_client_factory()
            try:
                return S3ObjectStore.from_url(url, self._s3_client)
            except ValueError as error:
                raise ConfigurationError(f"export destination of {dataset}: {error}") from None
        if "://" in url:
            raise ConfigurationError(f"export destination {url!r}: use a directory or an s3:// URL")
        return DirectoryObjectStore(Path(url))
