"""Uploading a job's video in parts through the JSON API, on the real local adapters: what the
upload page's script does (portal/static/portal.js), and what the portal refuses."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from portal.app import create_app
from stereo_spot.domain import new_job_id
from stereo_spot.keys import source_key
from stereo_spot.settings import Settings
from stereo_spot.storage import local_parts
from stereo_spot.storage.local_parts import ABANDONED_AFTER_SECONDS, BY_KEY, FOLDER
from stereo_spot.storage.multipart import MIB
from stereo_spot.wiring import job_store_from, storage_from
from tests.portal.conftest import create_job_via_api, post_upload, upload_in_parts

LIMIT = 24 * MIB


@pytest.fixture
def big_settings(tmp_path: Path) -> Settings:
    """A portal that takes 24 MiB in parts of 5 MiB (S3's smallest)."""
    return Settings(
        backend="local",
        data_dir=tmp_path / "data",
        max_upload_bytes=LIMIT,
        upload_part_bytes=5 * MIB,
    )


@pytest.fixture
def big_client(big_settings: Settings, launcher) -> Iterator[TestClient]:
    jobs = job_store_from(big_settings)
    app = create_app(big_settings, storage_from(big_settings), jobs, launcher)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def eleven_mib(tmp_path: Path) -> Path:
    path = tmp_path / "master.mov"
    path.write_bytes(os.urandom(11 * MIB + 123))
    return path


def _begin(client: TestClient, job_id: str, size: int) -> dict:
    started = client.post(f"/api/jobs/{job_id}/uploads", json={"size": size})
    assert started.status_code == 201, started.text
    return started.json()


def _put(client: TestClient, upload: dict, number: int, data: bytes):
    signed = client.post(
        upload["links"]["sign"], json={"upload_id": upload["upload_id"], "numbers": [number]}
    )
    assert signed.status_code == 200, signed.text
    return client.put(signed.json()["parts"][0]["url"], content=data)


def _part(data: bytes, upload: dict, number: int) -> bytes:
    first = (number - 1) * upload["part_size"]
    return data[first : first + upload["part_size"]]


def test_a_file_of_several_parts_arrives_whole(big_client, big_settings, eleven_mib, tmp_path):
    job_id, _ = create_job_via_api(big_client)

    upload = upload_in_parts(big_client, job_id, eleven_mib)

    assert (upload["part_size"], upload["part_count"]) == (5 * MIB, 3)
    assert upload["max_bytes"] == LIMIT
    stored = storage_from(big_settings).get_file(source_key(job_id), tmp_path / "stored")
    assert stored.read_bytes() == eleven_mib.read_bytes()
    assert not _unfinished(big_settings), "the parts are gone"


def test_an_upload_broken_off_resumes_from_the_parts_received(big_client, eleven_mib, tmp_path):
    job_id, _ = create_job_via_api(big_client)
    data = eleven_mib.read_bytes()
    upload = _begin(big_client, job_id, len(data))
    sent = {n: _put(big_client, upload, n, _part(data, upload, n)) for n in (1, 3)}

    # The page opened again asks what arrived, and sends only the rest.
    received = big_client.get(
        upload["links"]["received"], params={"upload_id": upload["upload_id"]}
    ).json()["parts"]
    sent[2] = _put(big_client, upload, 2, _part(data, upload, 2))
    done = big_client.post(
        upload["links"]["complete"],
        json={
            "upload_id": upload["upload_id"],
            "parts": [{"number": n, "etag": sent[n].headers["etag"]} for n in (1, 2, 3)],
        },
    )

    assert [(p["number"], p["size"]) for p in received] == [(1, 5 * MIB), (3, MIB + 123)]
    assert done.status_code == 204, done.text
    stored = big_client.app.state.storage.get_file(source_key(job_id), tmp_path / "s")
    assert stored.read_bytes() == data


def test_a_file_over_the_limit_is_refused_before_a_byte_is_sent(big_client) -> None:
    job_id, _ = create_job_via_api(big_client)

    refused = big_client.post(f"/api/jobs/{job_id}/uploads", json={"size": 30 * MIB})

    assert refused.status_code == 413
    assert refused.json()["detail"] == (
        "The file is 30.0 MiB; this portal accepts videos of up to 24.0 MiB."
    )
    # One byte over: the two sizes, rounded, would read the same.
    just_over = big_client.post(f"/api/jobs/{job_id}/uploads", json={"size": 24 * MIB + 1})
    assert just_over.status_code == 413
    assert just_over.json()["detail"] == (
        "The file is 25,165,825 bytes; this portal accepts videos of up to 25,165,824 bytes "
        "(24.0 MiB)."
    )


def test_parts_past_the_limit_are_refused_as_they_arrive(big_client, big_settings) -> None:
    job_id, _ = create_job_via_api(big_client)
    upload = _begin(big_client, job_id, 6 * MIB)
    assert _put(big_client, upload, 1, b"x" * (20 * MIB)).status_code == 200

    past = _put(big_client, upload, 2, b"y" * (5 * MIB))  # 25 MiB held, over 24

    assert past.status_code == 413
    held = big_client.get(upload["links"]["received"], params={"upload_id": upload["upload_id"]})
    assert [p["number"] for p in held.json()["parts"]] == [1], "nothing of it kept"


def test_a_part_listed_with_another_etag_is_named_at_completion(big_client, eleven_mib) -> None:
    job_id, _ = create_job_via_api(big_client)
    data = eleven_mib.read_bytes()
    upload = _begin(big_client, job_id, len(data))
    sent = {n: _put(big_client, upload, n, _part(data, upload, n)) for n in (1, 2, 3)}
    parts = [{"number": n, "etag": sent[n].headers["etag"]} for n in (1, 2, 3)]
    parts[1]["etag"] = '"00"'

    done = big_client.post(
        upload["links"]["complete"], json={"upload_id": upload["upload_id"], "parts": parts}
    )

    assert done.status_code == 400
    assert done.json()["detail"] == 'Part 2 was not received with the ETag "00"; send it again.'
    folder = big_client.app.state.storage.path_for(source_key(job_id)).parent
    assert not folder.exists() or not list(folder.iterdir()), "no half-joined file left behind"


def test_a_part_of_the_plan_not_sent_is_named_and_the_upload_stays_open(
    big_client, eleven_mib, tmp_path
) -> None:
    """Completing with parts 1 and 3 of 3 once joined them into a file with a hole, which the
    job then failed on, blaming the video ("The file has no index…")."""
    job_id, _ = create_job_via_api(big_client)
    data = eleven_mib.read_bytes()
    upload = _begin(big_client, job_id, len(data))
    sent = {n: _put(big_client, upload, n, _part(data, upload, n)) for n in (1, 3)}

    refused = _complete(big_client, upload, sent)
    sent[2] = _put(big_client, upload, 2, _part(data, upload, 2))
    done = _complete(big_client, upload, sent)

    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "Part 2 of this upload's 3 has not arrived; send it, then complete the upload again."
    )
    assert done.status_code == 204, done.text
    stored = big_client.app.state.storage.get_file(source_key(job_id), tmp_path / "s")
    assert stored.read_bytes() == data


def test_parts_missing_from_a_long_plan_are_named_in_runs(big_client) -> None:
    job_id, _ = create_job_via_api(big_client)
    upload = _begin(big_client, job_id, 21 * MIB)  # five parts
    sent = {1: _put(big_client, upload, 1, b"x" * (5 * MIB))}

    refused = _complete(big_client, upload, sent)

    assert refused.json()["detail"] == (
        "Parts 2 to 5 of this upload's 5 have not arrived; send them, then complete the upload "
        "again."
    )


def test_a_part_that_arrived_but_is_not_listed_is_named(big_client, eleven_mib) -> None:
    job_id, _ = create_job_via_api(big_client)
    data = eleven_mib.read_bytes()
    upload = _begin(big_client, job_id, len(data))
    sent = {n: _put(big_client, upload, n, _part(data, upload, n)) for n in (1, 2, 3)}

    refused = _complete(big_client, upload, {n: sent[n] for n in (1, 3)})

    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "The parts listed leave out part 2; list every part, 1 to 3, with the ETag its PUT "
        "answered."
    )
    assert not big_client.app.state.storage.exists(source_key(job_id))


def test_parts_that_do_not_hold_the_size_begun_for_are_refused(big_client, tmp_path) -> None:
    job_id, _ = create_job_via_api(big_client)
    data = os.urandom(400_613)
    upload = _begin(big_client, job_id, len(data))
    short = {1: _put(big_client, upload, 1, data[:1000])}

    refused = _complete(big_client, upload, short)
    held = big_client.get(upload["links"]["received"], params={"upload_id": upload["upload_id"]})
    done = _complete(big_client, upload, {1: _put(big_client, upload, 1, data)})

    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "The parts hold 1,000 bytes, not the 400,613 the upload was begun for: part 1 holds "
        "1,000 bytes where the plan has 400,613; send it again, then complete the upload again."
    )
    assert [(p["number"], p["size"]) for p in held.json()["parts"]] == [(1, 1000)], "still open"
    assert done.status_code == 204, done.text
    stored = big_client.app.state.storage.get_file(source_key(job_id), tmp_path / "s")
    assert stored.read_bytes() == data


def test_parts_of_the_right_total_cut_unlike_the_plan_are_refused(big_client, eleven_mib):
    job_id, _ = create_job_via_api(big_client)
    data = eleven_mib.read_bytes()
    upload = _begin(big_client, job_id, len(data))
    cuts = (0, 6 * MIB, 11 * MIB, len(data))  # 6 MiB, 5 MiB, the rest: 11 MiB + 123 in all
    sent = {n: _put(big_client, upload, n, data[cuts[n - 1] : cuts[n]]) for n in (1, 2, 3)}

    refused = _complete(big_client, upload, sent)

    assert refused.status_code == 400
    assert refused.json()["detail"] == (
        "Parts 1 and 3 are not the plan's size (part 1 holds 6,291,456 bytes where the plan has "
        "5,242,880); send them again, then complete the upload again."
    )


def test_completing_again_says_the_video_is_stored(big_client, eleven_mib) -> None:
    """A script whose answer to complete was lost asks again: told to upload again, it would
    send the whole video a second time."""
    job_id, _ = create_job_via_api(big_client)
    data = eleven_mib.read_bytes()
    upload = _begin(big_client, job_id, len(data))
    sent = {n: _put(big_client, upload, n, _part(data, upload, n)) for n in (1, 2, 3)}
    assert _complete(big_client, upload, sent).status_code == 204

    again = _complete(big_client, upload, sent)
    held = big_client.get(upload["links"]["received"], params={"upload_id": upload["upload_id"]})

    for answer in (again, held):
        assert answer.status_code == 409, answer.text
        assert answer.json()["detail"] == (
            "This upload is complete: the video is stored; start the job."
        )
    assert big_client.post(f"/api/jobs/{job_id}/start").status_code == 202


def test_an_upload_dropped_unfinished_is_still_told_to_start_again(big_client) -> None:
    job_id, _ = create_job_via_api(big_client)
    upload = _begin(big_client, job_id, 100)
    sent = {1: _put(big_client, upload, 1, b"x" * 100)}
    big_client.post(upload["links"]["abort"], json={"upload_id": upload["upload_id"]})

    again = _complete(big_client, upload, sent)

    assert again.status_code == 404
    assert again.json()["detail"] == (
        f"There is no unfinished upload {upload['upload_id']} here (completed, aborted, or left "
        "unfinished for days); start the upload again."
    )


def _complete(client: TestClient, upload: dict, sent: dict[int, httpx.Response]):
    parts = [{"number": n, "etag": sent[n].headers["etag"]} for n in sorted(sent)]
    return client.post(
        upload["links"]["complete"], json={"upload_id": upload["upload_id"], "parts": parts}
    )


def test_a_started_job_takes_no_more_parts(client, storage, clip_mp4, not_a_video, tmp_path):
    job_id, _ = create_job_via_api(client)
    upload = _begin(client, job_id, not_a_video.stat().st_size)  # begun before the start...
    signed = client.post(
        upload["links"]["sign"], json={"upload_id": upload["upload_id"], "numbers": [1]}
    ).json()["parts"][0]["url"]
    upload_in_parts(client, job_id, clip_mp4)
    assert client.post(f"/api/jobs/{job_id}/start").status_code == 202

    late = client.put(signed, content=not_a_video.read_bytes())  # ...and sent after it
    begin = client.post(f"/api/jobs/{job_id}/uploads", json={"size": 10})
    complete = client.post(
        upload["links"]["complete"],
        json={"upload_id": upload["upload_id"], "parts": [{"number": 1, "etag": '"00"'}]},
    )

    for answer in (late, begin, complete):
        assert answer.status_code == 409 and "it takes no more uploads" in answer.text
    kept = storage.get_file(source_key(job_id), tmp_path / "kept.mp4")
    assert kept.read_bytes() == clip_mp4.read_bytes()


def test_a_part_url_signs_its_upload_key_and_number(client) -> None:
    job_id, _ = create_job_via_api(client)
    other_id, _ = create_job_via_api(client)
    upload = _begin(client, job_id, 100)
    url = client.post(
        upload["links"]["sign"], json={"upload_id": upload["upload_id"], "numbers": [1]}
    ).json()["parts"][0]["url"]

    for forged in (
        url.replace("/1?", "/2?"),
        url.replace(job_id, other_id),
        url.replace("signature=", "signature=0"),
    ):
        answer = client.put(forged, content=b"x")
        assert answer.status_code == 403, forged
    assert client.put(url, content=b"x").status_code == 200


def test_an_upload_unknown_to_the_storage_is_404(client) -> None:
    job_id, _ = create_job_via_api(client)

    answer = client.post(
        f"/api/jobs/{job_id}/uploads/sign",
        json={"upload_id": "noSuchUpload_0123456789abcdef", "numbers": [1]},
    )

    assert answer.status_code == 404 and "start the upload again" in answer.json()["detail"]


def test_the_form_post_still_takes_files_for_scripts(client, storage, clip_mp4, tmp_path):
    job_id, upload = create_job_via_api(client)

    assert post_upload(client, upload, clip_mp4).status_code == 204
    stored = storage.get_file(source_key(job_id), tmp_path / "stored.mp4")
    assert stored.read_bytes() == clip_mp4.read_bytes()


def test_deleting_a_job_drops_its_unfinished_upload(client, settings) -> None:
    job_id, _ = create_job_via_api(client)
    upload = _begin(client, job_id, 100)
    assert _put(client, upload, 1, b"half of a file").status_code == 200

    assert client.delete(f"/api/jobs/{job_id}").status_code == 204

    assert not _unfinished(settings)


def test_an_upload_abandoned_for_two_days_is_dropped(client, settings, monkeypatch) -> None:
    job_id, _ = create_job_via_api(client)
    upload = _begin(client, job_id, 100)
    assert _put(client, upload, 1, b"half of a file").status_code == 200
    (folder,) = _unfinished(settings)
    long_ago = time.time() - ABANDONED_AFTER_SECONDS - 60
    for path in (*folder.iterdir(), folder):
        os.utime(path, (long_ago, long_ago))
    monkeypatch.setattr(local_parts, "SWEEP_EVERY_SECONDS", 0)  # a minute after the last look

    _begin(client, create_job_via_api(client)[0], 100)  # a new upload sweeps

    assert not folder.exists()
    gone = client.get(upload["links"]["received"], params={"upload_id": upload["upload_id"]})
    assert gone.status_code == 404


def _unfinished(settings: Settings) -> list[Path]:
    """The local adapter's unfinished uploads (the folder goes when the last one does)."""
    folder = settings.media_root / FOLDER
    return [path for path in folder.iterdir() if path.name != BY_KEY] if folder.exists() else []


def test_only_the_parts_of_the_plan_are_signed(big_client) -> None:
    job_id, _ = create_job_via_api(big_client)
    upload = _begin(big_client, job_id, 6 * MIB)  # two parts of 5 MiB and 1 MiB
    assert upload["part_count"] == 2

    answers = [
        big_client.post(
            upload["links"]["sign"], json={"upload_id": upload["upload_id"], "numbers": numbers}
        )
        for numbers in ([1, 2, 3], [9999])
    ]

    for answer in answers:
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"] == "This upload's parts are numbered 1 to 2."
    forged = upload["upload_id"].replace(f".{6 * MIB}.", f".{20 * MIB}.")  # a plan of 4 parts
    assert forged != upload["upload_id"]
    refused = big_client.post(upload["links"]["sign"], json={"upload_id": forged, "numbers": [3]})
    assert refused.status_code == 404 and "start the upload again" in refused.text


def test_parts_sent_side_by_side_cannot_together_pass_the_limit(big_client, big_settings):
    """Each part once counted what the upload held as it began: sent at once, each saw an empty
    upload, and together they held far past the limit."""
    job_id, _ = create_job_via_api(big_client)
    upload = _begin(big_client, job_id, 20 * MIB)  # four parts of 5 MiB, under 24 MiB
    urls = big_client.post(
        upload["links"]["sign"], json={"upload_id": upload["upload_id"], "numbers": [1, 2, 3, 4]}
    ).json()["parts"]

    async def slowly(size: int):  # no Content-Length: counted only as the bytes arrive
        for _ in range(size // MIB):
            yield b"\0" * MIB
            await asyncio.sleep(0.01)  # every part streams beside the others

    async def put_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=big_client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as h:
            return await asyncio.gather(
                *(h.put(part["url"], content=slowly(10 * MIB)) for part in urls)
            )

    answers = asyncio.run(put_all())

    held = big_client.get(
        upload["links"]["received"], params={"upload_id": upload["upload_id"]}
    ).json()["parts"]
    assert sorted(answer.status_code for answer in answers) == [200, 200, 413, 413]
    assert sum(part["size"] for part in held) == 20 * MIB <= LIMIT
    on_disk = sum(p.stat().st_size for p in _unfinished(big_settings)[0].iterdir())
    assert on_disk < LIMIT, "nothing of a refused part is kept"


def test_a_part_that_says_it_would_not_fit_is_refused_before_it_is_sent(big_client) -> None:
    job_id, _ = create_job_via_api(big_client)
    upload = _begin(big_client, job_id, 20 * MIB)
    assert _put(big_client, upload, 1, b"x" * (20 * MIB)).status_code == 200

    past = _put(big_client, upload, 2, b"y" * (5 * MIB))  # its Content-Length says 5 MiB

    assert past.status_code == 413
    assert past.json()["detail"] == (
        "The part would take the upload past what this portal accepts."
    )


def test_beginning_another_upload_drops_the_one_begun_before(big_client, big_settings):
    """Each upload may hold up to the limit: twenty begun for one job held twenty times it."""
    job_id, _ = create_job_via_api(big_client)
    first = _begin(big_client, job_id, 6 * MIB)
    signed = big_client.post(
        first["links"]["sign"], json={"upload_id": first["upload_id"], "numbers": [2]}
    ).json()["parts"][0]["url"]
    assert _put(big_client, first, 1, b"x" * (5 * MIB)).status_code == 200

    second = _begin(big_client, job_id, 6 * MIB)

    gone = big_client.get(first["links"]["received"], params={"upload_id": first["upload_id"]})
    assert gone.status_code == 404 and "start the upload again" in gone.json()["detail"]
    assert big_client.put(signed, content=b"late").status_code == 404
    assert len(_unfinished(big_settings)) == 1
    # The one begun last goes on, and a page reloaded resumes it (asking what arrived).
    assert _put(big_client, second, 1, b"z" * (5 * MIB)).status_code == 200
    resumed = big_client.get(second["links"]["received"], params={"upload_id": second["upload_id"]})
    assert [p["number"] for p in resumed.json()["parts"]] == [1]


def test_a_begin_reads_no_other_upload_and_a_delete_no_other_job(
    client, storage, settings, monkeypatch
) -> None:
    """A begin once read every unfinished upload's folder, and a delete or a cancel the whole
    media folder once per prefix: with 5,000 uploads left, each took seconds."""
    others = [new_job_id() for _ in range(20)]
    for other in others:
        storage.start_multipart_upload(source_key(other))
        storage.put_file(_small_file(settings), f"jobs/{other}/final.mp4")
    job_id, _ = create_job_via_api(client)
    read = _folders_read(monkeypatch)

    _begin(client, job_id, 100)
    begun = list(read)
    read.clear()
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204

    media = settings.media_root.resolve()
    uploads = media / FOLDER
    assert not [p for p in begun if p.is_relative_to(uploads) and p != uploads], begun
    under_media = [p for p in read if p.is_relative_to(media)]
    assert under_media and all(job_id in p.parts for p in under_media), under_media
    assert storage.list_prefix(f"jobs/{others[0]}/") == [f"jobs/{others[0]}/final.mp4"]


def test_an_upload_being_made_is_not_taken_for_abandoned(client, settings, monkeypatch):
    """Two begins at once: a sweep took the other's folder, made but not yet holding its key,
    for an abandoned upload, and that begin failed with a 500."""
    monkeypatch.setattr(local_parts, "SWEEP_EVERY_SECONDS", 0)
    job_id, _ = create_job_via_api(client)
    _begin(client, job_id, 100)
    being_made = settings.media_root / FOLDER / "madeAMomentAgo_0123456789"
    being_made.mkdir()

    _begin(client, create_job_via_api(client)[0], 100)

    assert being_made.is_dir()


def test_many_uploads_begun_at_once_all_begin(settings, monkeypatch) -> None:
    monkeypatch.setattr(local_parts, "SWEEP_EVERY_SECONDS", 0)  # every begin sweeps
    storage = storage_from(settings)
    keys = [source_key(new_job_id()) for _ in range(64)]

    with ThreadPoolExecutor(8) as pool:
        begun = list(pool.map(storage.start_multipart_upload, keys))

    assert all(storage.uploaded_parts(k, u) == [] for k, u in zip(keys, begun, strict=True))


def test_a_malformed_upload_form_is_a_400_not_a_traceback(client, caplog) -> None:
    """The signed form's endpoint is open without sign-in: a bad body is the sender's fault."""
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="key"\r\nX-Big: '
        + b"a" * 20000
        + b"\r\n\r\nv\r\n--XX--\r\n"
    )

    answer = client.post(
        "/storage/upload",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=XX"},
    )

    assert answer.status_code == 400
    assert answer.json()["detail"] == "The upload is not a well-formed multipart form."
    assert not [record for record in caplog.records if record.exc_info], "no traceback logged"


def _small_file(settings: Settings) -> Path:
    path = settings.data_dir / "small.mp4"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"a result")
    return path


def _folders_read(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every folder listed by name from now on (os.scandir and os.listdir serve pathlib and
    os.walk; rmtree lists the folder it drops by descriptor)."""
    read: list[Path] = []
    scandir, listdir = os.scandir, os.listdir

    def named(path) -> None:
        if not isinstance(path, int):
            read.append(Path(os.fsdecode(path)).resolve())

    def scanned(path=".", *args):
        named(path)
        return scandir(path, *args)

    def listed(path=".", *args):
        named(path)
        return listdir(path, *args)

    monkeypatch.setattr(os, "scandir", scanned)
    monkeypatch.setattr(os, "listdir", listed)
    return read


def test_a_part_arriving_as_its_upload_is_replaced_is_told_the_upload_is_gone(big_client):
    job_id, _ = create_job_via_api(big_client)
    upload = _begin(big_client, job_id, 6 * MIB)
    url = big_client.post(
        upload["links"]["sign"], json={"upload_id": upload["upload_id"], "numbers": [1]}
    ).json()["parts"][0]["url"]

    async def replaced_midway():
        yield b"x" * MIB
        await asyncio.sleep(0.05)
        _begin(big_client, job_id, 6 * MIB)  # another tab begins the job's upload again
        yield b"x" * (4 * MIB)

    async def put() -> httpx.Response:
        transport = httpx.ASGITransport(app=big_client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as h:
            return await h.put(url, content=replaced_midway())

    answer = asyncio.run(put())

    assert answer.status_code == 404 and "start the upload again" in answer.json()["detail"]
