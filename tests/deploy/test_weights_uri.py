"""The weights URI the render step gives the predictor (terraform/platform's WEIGHTS_URI, with its
trailing slash) names one version's folder, for S3's prefix listing and for the model server's own
download (moto server, real boto3 clients)."""

from __future__ import annotations

import re
import uuid

from inference_service.engines.weights import download_folder, download_weights
from tests.deploy.conftest import MANIFESTS


def _example_weights_uri() -> str:
    example = (MANIFESTS / "overlays" / "aws" / "terraform-outputs.env.example").read_text()
    (uri,) = re.findall(r"^WEIGHTS_URI=(\S+)$", example, re.M)
    return uri


def test_the_weights_uri_downloads_its_version_and_not_the_next_ones(moto_endpoint, tmp_path):
    """KServe's storage initializer copies every key that starts with the URI's path:
    `stereocrafter/v1` also took `stereocrafter/v10/` (the runbooks' next versions)."""
    import boto3

    client = boto3.client("s3")
    bucket = f"weights-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    for version in ("v1", "v10"):
        client.put_object(Bucket=bucket, Key=f"stereocrafter/{version}/unet/config.json",
                          Body=version.encode())  # fmt: skip
    path = _example_weights_uri().split("/", 3)[3]
    assert path == "stereocrafter/v1/"

    listed = client.list_objects_v2(Bucket=bucket, Prefix=path)["Contents"]
    assert [item["Key"] for item in listed] == ["stereocrafter/v1/unet/config.json"]
    without_slash = client.list_objects_v2(Bucket=bucket, Prefix=path.rstrip("/"))["Contents"]
    assert len(without_slash) == 2  # what the URI without its slash copied

    # STEREO_SPOT_WEIGHTS may be the same URI (docs/MODELS.md): the model server's own download
    # takes the slash, into the same cache folder as without it.
    uri = f"s3://{bucket}/{path}"
    folder = download_weights(uri, tmp_path)
    assert folder == download_folder(uri.rstrip("/"), tmp_path)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert [f for f in files if not f.startswith(".")] == ["unet/config.json"]
    assert (folder / "unet" / "config.json").read_bytes() == b"v1"
