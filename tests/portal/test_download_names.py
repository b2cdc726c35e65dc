"""The name a result downloads under: the exact uploaded name in ``filename*`` (RFC 6266/5987)
with a plain ASCII fallback, and a long name shortened to fit a file system's 255 bytes with
its extension and its tags kept. Both storages are asked for real: S3 (moto server) answers
its presigned GET with the header, the portal's /storage route answers the local signed one.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

import httpx
import pytest

from portal import services
from stereo_spot.domain import AnaglyphMode, Job, Layout, Part, StereoParams
from stereo_spot.keys import final_key
from stereo_spot.storage.disposition import content_disposition
from stereo_spot.storage.s3 import S3Storage
from tests.aws_fixtures import made_aws_settings

JOB_ID = "namedJob_0123456789abcd"
UNICODE_UPLOAD = 'Ünïcødé 日本語 "quoted"; film.mp4'
UNICODE_DOWNLOAD = 'Ünïcødé 日本語 "quoted"; film_redcyan.mp4'


def saved_name(disposition: str) -> str:
    """The file name a browser saves under: ``filename*`` decoded where there is one (RFC 6266
    4.3), else ``filename``."""
    exact = re.search(r"filename\*=UTF-8''([^;\s]+)", disposition, re.IGNORECASE)
    if exact:
        return unquote(exact.group(1), encoding="utf-8", errors="strict")
    plain = fallback_name(disposition)
    assert plain is not None, disposition
    return plain


def fallback_name(disposition: str) -> str | None:
    quoted = re.search(r'filename="([^"]*)"', disposition)
    return quoted.group(1) if quoted else None


@pytest.mark.parametrize(
    "name",
    [UNICODE_DOWNLOAD, "100% real_LR.mp4", "back\\slash;semi_TB.mp4", "tab\there_LR.mp4"],
)
def test_the_exact_name_is_in_filename_star_and_a_safe_one_in_the_fallback(name: str) -> None:
    disposition = content_disposition(name)

    assert disposition.startswith("attachment; ")
    assert saved_name(disposition) == name
    fallback = fallback_name(disposition)
    assert fallback is not None and fallback.isascii() and fallback.isprintable()
    assert not set(fallback) & set('"\\;%/'), fallback


def test_a_plain_name_has_only_the_plain_form() -> None:
    assert (
        content_disposition("Holiday 2024_LR.mp4") == 'attachment; filename="Holiday 2024_LR.mp4"'
    )


def test_the_unicode_name_of_the_reviewed_upload_is_kept_whole() -> None:
    job = Job(source_name=services.clean_name(UNICODE_UPLOAD), layout=Layout.ANAGLYPH)

    name = services.download_name(job)

    assert name == UNICODE_DOWNLOAD
    assert content_disposition(name) == (
        'attachment; filename="_n_c_d_ ___ _quoted__ film_redcyan.mp4"; '
        "filename*=UTF-8''%C3%9Cn%C3%AFc%C3%B8d%C3%A9%20%E6%97%A5%E6%9C%AC%E8%AA%9E%20"
        "%22quoted%22%3B%20film_redcyan.mp4"
    )


def test_s3_downloads_the_result_under_its_exact_name(moto_endpoint: str, tmp_path) -> None:
    storage = S3Storage.from_settings(made_aws_settings("names", data_dir=tmp_path / "data"))
    (tmp_path / "final.mp4").write_bytes(b"3d")
    storage.put_file(tmp_path / "final.mp4", final_key(JOB_ID))

    url = storage.presign_download(final_key(JOB_ID), filename=UNICODE_DOWNLOAD)
    response = httpx.get(url, timeout=30)

    assert response.status_code == 200
    assert saved_name(response.headers["content-disposition"]) == UNICODE_DOWNLOAD


def test_the_local_signed_download_saves_under_the_exact_name(client, storage, tmp_path) -> None:
    (tmp_path / "final.mp4").write_bytes(b"3d")
    storage.put_file(tmp_path / "final.mp4", final_key(JOB_ID))

    url = storage.presign_download(final_key(JOB_ID), filename=UNICODE_DOWNLOAD)
    response = client.get(url)

    assert response.status_code == 200
    assert saved_name(response.headers["content-disposition"]) == UNICODE_DOWNLOAD


def test_the_local_signed_download_gives_the_header_s3_gives(client, storage, tmp_path) -> None:
    (tmp_path / "final.mp4").write_bytes(b"3d")
    storage.put_file(tmp_path / "final.mp4", final_key(JOB_ID))

    response = client.get(storage.presign_download(final_key(JOB_ID), filename=UNICODE_DOWNLOAD))

    assert response.headers["content-disposition"] == content_disposition(UNICODE_DOWNLOAD)


def test_a_long_upload_name_is_shortened_keeping_its_extension(jobs, settings) -> None:
    job = services.create_job(
        jobs, settings, Layout.SBS, StereoParams(), "classical", "é" * 250 + ".mov"
    )

    kept = jobs.get(job.job_id).source_name
    assert kept is not None and kept.endswith("é.mov")
    assert len(kept.encode()) <= services.SOURCE_NAME_MAX_BYTES


@pytest.mark.parametrize("source_name", ["é" * 250 + ".mov", "日" * 200 + "_preview.mp4"])
def test_a_long_name_downloads_in_255_bytes_with_its_part_and_layout_tags(
    jobs, settings, source_name: str
) -> None:
    created = services.create_job(
        jobs, settings, Layout.ANAGLYPH, StereoParams(), "classical", source_name
    )
    # As a preview's name is made (its origin's name and _preview, after the cleaning) and with
    # the longest tags: an hour-long part's and green-magenta glasses'.
    job = created.model_copy(
        update={
            "source_name": source_name,
            "part": Part(start=3600, end=5400),
            "params": StereoParams(anaglyph_mode=AnaglyphMode.GREEN_MAGENTA),
        }
    )

    name = services.download_name(job)

    assert len(name.encode()) <= services.NAME_MAX_BYTES
    assert name.endswith("_1h00m00s-1h30m00s_greenmagenta.mp4")
    assert name.startswith(source_name[:50])
    assert saved_name(content_disposition(name)) == name
