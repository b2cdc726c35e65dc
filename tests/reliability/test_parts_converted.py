"""A part of a video (``--start``/``--end``) and its preview, through ``stereo-spot convert``:
the result holds the part's frames and no others, with its sound, and every subtitle track as
the whole video's result has it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stereo_spot.media.assemble import source_tracks
from stereo_spot.settings import Settings
from stereo_spot.wiring import job_store_from
from tests.media import ffmpeg, frame_numbers, make_numbered_clip, probe

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# The left eye of a side-by-side result is the source's picture where the eyes do not differ.
SAME_PICTURE = ("--layout", "sbs", "--divergence", "0")


def _durations(path: Path) -> dict[str, float]:
    return {s["codec_type"]: float(s["duration"]) for s in probe(path)["streams"]}


def test_a_preview_of_a_part_shorter_than_a_preview_is_the_part(embedded, tmp_path):
    # Its only keyframe is at 0 s, the nearest to the part's middle: the preview of 1..3 s
    # was copied from there, source frames 0-53 but 52, 2.12 s of picture over 2 s of sound.
    source = make_numbered_clip(tmp_path / "numbered.mp4")
    output = tmp_path / "preview_LR.mp4"
    result = embedded.convert(
        source, output, *SAME_PICTURE, "--start", "1", "--end", "3", "--preview"
    )
    assert result.returncode == 0, result.stderr

    assert frame_numbers(output) == list(range(25, 75))
    durations = _durations(output)
    assert durations["video"] == pytest.approx(2.0, abs=0.005)
    assert durations["audio"] == pytest.approx(2.0, abs=0.03)


def test_a_preview_of_a_matroska_video_whose_times_start_late_is_its_middle(embedded, tmp_path):
    # Remuxed with its times from 10 s on (as -copyts keeps a TV recording's), the 10 s video
    # was taken for 20 s long (where its last time ends): its preview was its last 3 s, frames
    # 175-249.
    numbered = make_numbered_clip(tmp_path / "numbered.mp4", seconds=10, gop=25)
    source = tmp_path / "late.mkv"
    ffmpeg("-i", str(numbered), "-c", "copy", "-output_ts_offset", "10", str(source))
    output = tmp_path / "preview_LR.mp4"
    result = embedded.convert(source, output, *SAME_PICTURE, "--segment-seconds", "1", "--preview")
    assert result.returncode == 0, result.stderr

    assert frame_numbers(output) == list(range(50, 175))
    assert _durations(output)["video"] == pytest.approx(5.0, abs=0.005)


def test_a_preview_of_a_b_frame_video_holds_every_frame_once(embedded, tmp_path):
    # Copied until 5 s after its keyframe at 2.002 s, the preview of this 29.97 fps video
    # (x264's B-frames, a keyframe every 60 frames) ended on frames 209, 210, 213: a picture
    # decoded before those shown ahead of it, and 213 shown for three frame times.
    source = make_numbered_clip(tmp_path / "numbered.mp4", seconds=8, rate="30000/1001", gop=60)
    output = tmp_path / "preview_LR.mp4"
    result = embedded.convert(source, output, *SAME_PICTURE, "--segment-seconds", "1", "--preview")
    assert result.returncode == 0, result.stderr

    assert frame_numbers(output) == list(range(60, 180))
    durations = _durations(output)
    assert durations["video"] == pytest.approx(120 * 1001 / 30000, abs=0.005)
    assert durations["audio"] == pytest.approx(120 * 1001 / 30000, abs=0.03)


@pytest.mark.parametrize(
    ("preview", "name", "job_name", "listed"),
    [
        ((), "numbered_0m01s-end_LR.mp4", "numbered.mp4", "(from 0:01 to the end)"),
        (("--preview",), "numbered_0m01s-end_preview_LR.mp4", "numbered_0m01s-end_preview.mp4",
         "(preview of the part from 0:01 to the end)"),
    ],
)  # fmt: skip
def test_a_part_asked_to_end_past_the_video_s_end_is_named_and_listed_to_its_end(
    embedded, tmp_path, preview, name, job_name, listed
):
    # It was written to numbered_0m01s-1m39s_LR.mp4, a part that ends at 0:04, and jobs list
    # showed a preview of a part with no part at all. And the note on what it replaces named
    # the file of the time asked for, which stayed as it was.
    source = make_numbered_clip(tmp_path / "numbered.mp4", seconds=4)
    results = tmp_path / "results"
    results.mkdir()
    asked_for = results / name.replace("-end", "-1m39s")
    asked_for.write_text("kept")
    (results / name).write_text("replaced")
    result = embedded.convert(
        source, results, *SAME_PICTURE, "--start", "1", "--end", "99", *preview
    )
    assert result.returncode == 0, result.stderr

    assert sorted(path.name for path in results.iterdir()) == sorted([name, asked_for.name])
    assert asked_for.read_text() == "kept" and f"{asked_for}" not in result.stderr
    assert f"note: {results / name} exists; it will be replaced." in result.stderr
    assert f"wrote {results / name}" in result.stderr
    assert (
        "note: The video ends at 0:04, before the end asked for (1:39): the part is converted "
        "to its end." in result.stderr
    )
    job_id = re.search(r"job (\S+): converting", result.stderr).group(1)
    listing = embedded.stereo_spot("jobs", "list", "--limit", "100").stdout
    (line,) = [line for line in listing.splitlines() if line.startswith(job_id)]
    assert line.endswith(f"{job_name} {listed}")


def test_a_part_starting_past_the_video_s_end_is_refused_before_anything_is_stored(
    embedded, tmp_path
):
    # A typo in --start on a film: the film was copied into the data folder (gigabytes) and a
    # failed job listed before the refusal.
    source = make_numbered_clip(tmp_path / "numbered.mp4", seconds=4)
    jobs = job_store_from(Settings(backend="local", data_dir=embedded.data_dir))
    before = {job.job_id for job in jobs.list_all(limit=10_000)}

    result = embedded.convert(source, tmp_path / "out.mp4", "--start", "9:00")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "stereo-spot: The part asked for starts at 9:00, and the video is only 4.0 s long."
    )
    assert {job.job_id for job in jobs.list_all(limit=10_000)} == before, "no job made"
    assert not (tmp_path / "out.mp4").exists()


def _subtitle_tracks(path: Path) -> list[tuple[str | None, str | None]]:
    """Each text track's (name, language)."""
    tracks = source_tracks(path)
    return list(zip(tracks.subtitle_names, tracks.subtitle_languages, strict=True))


@pytest.mark.parametrize(
    ("container", "codec", "part"),
    [("mp4", "mov_text", ("--start", "1")), ("mkv", "srt", ("--start", "1", "--end", "3"))],
)
def test_a_part_s_subtitles_keep_their_language_and_name(
    embedded, tmp_path, container, codec, part
):
    # A part's text was read back from SubRip, with no tags: its track said "und" where the
    # whole video's said "eng".
    numbered = make_numbered_clip(tmp_path / "numbered.mp4", seconds=4, gop=25)
    (tmp_path / "subs.srt").write_text(
        "1\n00:00:00,500 --> 00:00:02,500\nhello\n\n2\n00:00:03,000 --> 00:00:03,800\nbye\n"
    )
    source = tmp_path / f"subtitled.{container}"
    name_tag = "handler_name" if container == "mp4" else "title"
    ffmpeg("-i", str(numbered), "-i", str(tmp_path / "subs.srt"), "-map", "0", "-map", "1",
           "-c", "copy", "-c:s", codec, "-metadata:s:s:0", "language=eng",
           "-metadata:s:s:0", f"{name_tag}=Dialogue", str(source))  # fmt: skip

    tags = []
    for args in ((), part):
        output = tmp_path / f"result{len(args)}_LR.mp4"
        result = embedded.convert(source, output, *SAME_PICTURE, *args)
        assert result.returncode == 0, result.stderr
        tags.append(_subtitle_tracks(output))
    whole, of_a_part = tags
    assert whole == of_a_part == [("Dialogue", "eng")]
