"""The one place that turns settings into adapters (and the only reader of the backend switch)."""

from __future__ import annotations

from stereo_spot.jobs import JobStore
from stereo_spot.settings import Settings
from stereo_spot.storage import ObjectStorage


def storage_from(settings: Settings) -> ObjectStorage:
    if settings.backend == "aws":
        from stereo_spot.storage.s3 import S3Storage

        return S3Storage.from_settings(settings)
    from stereo_spot.storage.local import LocalStorage
    from stereo_spot.storage.signing import UrlSigner, secret_from

    return LocalStorage(
        settings.media_root,
        signer=UrlSigner(secret_from(settings)),
        base_url=settings.public_url or "",
    )


def job_store_from(settings: Settings) -> JobStore:
    if settings.backend == "aws":
        from stereo_spot.jobs.dynamo import DynamoJobStore

        return DynamoJobStore.from_settings(settings)
    from stereo_spot.jobs.sqlite import SqliteJobStore

    return SqliteJobStore(settings.sqlite_path)
