"""How long a signed URL works is held to S3's limit of 7 days on every backend: S3 refuses a
presigned URL signed for longer (AuthorizationQueryParametersError), so a larger setting is named
at the start rather than failing every upload and download later."""

from __future__ import annotations

import pytest

from stereo_spot.cli import main

SEVEN_DAYS = 7 * 24 * 3600


@pytest.mark.parametrize(
    "variable", ["STEREO_SPOT_UPLOAD_URL_SECONDS", "STEREO_SPOT_DOWNLOAD_URL_SECONDS"]
)
@pytest.mark.parametrize("backend", ["local", "aws"])
def test_a_url_lifetime_past_seven_days_is_named_and_refused(
    variable, backend, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("STEREO_SPOT_BACKEND", backend)
    monkeypatch.setenv("STEREO_SPOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(variable, str(SEVEN_DAYS + 1))

    assert main(["jobs", "list"]) == 2
    assert capsys.readouterr().err == (
        f"stereo-spot: Invalid setting {variable}='{SEVEN_DAYS + 1}': a signed URL works for at "
        "most 604800 seconds (7 days: S3 refuses a URL signed for longer).\n"
    )


def test_seven_days_is_taken(tmp_path, monkeypatch) -> None:
    from stereo_spot.settings import Settings

    monkeypatch.setenv("STEREO_SPOT_UPLOAD_URL_SECONDS", str(SEVEN_DAYS))
    monkeypatch.setenv("STEREO_SPOT_DOWNLOAD_URL_SECONDS", str(SEVEN_DAYS))

    settings = Settings(data_dir=tmp_path)
    assert (settings.upload_url_seconds, settings.download_url_seconds) == (SEVEN_DAYS, SEVEN_DAYS)
