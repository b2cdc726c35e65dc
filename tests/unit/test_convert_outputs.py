"""Where ``stereo-spot convert`` writes, and what it refuses before converting anything."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stereo_spot.cli import main
from stereo_spot.cli.outputs import ResultNotWritten, fetch_result, plan_output
from stereo_spot.domain import Job
from stereo_spot.errors import InputRejected
from stereo_spot.keys import final_key
from stereo_spot.storage.local import LocalStorage


@pytest.fixture
def videos(tmp_path: Path) -> tuple[Path, Path]:
    # Never converted: every case here is refused before the model server starts.
    first, second = tmp_path / "a.mp4", tmp_path / "b.mov"
    first.write_bytes(b"not looked at")
    second.write_bytes(b"not looked at")
    return first, second


def refusal(capsys: pytest.CaptureFixture[str], *argv: object) -> str:
    assert main(["convert", *map(str, argv)]) == 1
    err = capsys.readouterr().err
    assert "starting the model server" not in err, "refused before any work"
    return err.strip().splitlines()[-1]


def test_one_output_file_for_several_videos_is_refused(tmp_path, videos, capsys):
    message = refusal(capsys, *videos, "-o", tmp_path / "out.mp4")
    assert message == (
        f"stereo-spot: -o {tmp_path / 'out.mp4'} names one file for 2 videos; name a folder to "
        "write them into (ending in /), or leave -o out to write each next to its input."
    )
    assert not (tmp_path / "out.mp4").exists()


def test_a_missing_video_among_several_stops_the_whole_command(tmp_path, videos, capsys):
    missing = tmp_path / "gone.mp4"
    message = refusal(capsys, videos[0], missing, videos[1])
    assert message == f"stereo-spot: {missing} does not exist or is not a file."


def test_a_video_named_twice_is_refused(videos, capsys):
    message = refusal(capsys, videos[0], videos[1], videos[0])
    assert message == f"stereo-spot: {videos[0]} is named twice."


def test_an_anaglyph_for_other_glasses_is_named_for_them(tmp_path, videos, capsys):
    # Green-magenta glasses: a.mp4 would be written to a_greenmagenta.mp4, the next input.
    made_earlier = tmp_path / "a_greenmagenta.mp4"
    made_earlier.write_bytes(b"an earlier conversion")
    message = refusal(capsys, videos[0], made_earlier, "--anaglyph-mode", "green-magenta")
    assert message == (
        f"stereo-spot: The output of {videos[0]} would overwrite the input {made_earlier}; "
        "choose another -o."
    )


@pytest.mark.parametrize("verb", ["convert", "image"])
def test_glasses_asked_for_a_layout_without_colours_are_refused(tmp_path, videos, capsys, verb):
    # Taken and ignored, a side by side came out where green-magenta colours were looked for.
    output = tmp_path / ("out.mp4" if verb == "convert" else "out.png")
    argv = [verb, videos[0], "--layout", "sbs", "--anaglyph-mode", "green-magenta", "-o", output]
    assert main(list(map(str, argv))) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "stereo-spot: --anaglyph-mode chooses the colours of --layout anaglyph; --layout sbs "
        "has none: leave --anaglyph-mode out, or convert with --layout anaglyph."
    )
    assert not output.exists()


def test_an_output_that_is_another_input_is_refused(tmp_path, videos, capsys):
    # a.mp4's anaglyph would be written to a_redcyan.mp4, which is the next input.
    made_earlier = tmp_path / "a_redcyan.mp4"
    made_earlier.write_bytes(b"an earlier conversion")
    message = refusal(capsys, videos[0], made_earlier)
    assert message == (
        f"stereo-spot: The output of {videos[0]} would overwrite the input {made_earlier}; "
        "choose another -o."
    )
    assert made_earlier.read_bytes() == b"an earlier conversion"


def test_the_output_of_one_video_onto_itself_is_refused(videos, capsys):
    message = refusal(capsys, videos[0], "-o", videos[0])
    assert message == (
        f"stereo-spot: The output would overwrite the input {videos[0]}; choose another -o."
    )
    assert videos[0].read_bytes() == b"not looked at"


def test_two_videos_written_to_one_name_in_a_folder_are_refused(tmp_path, capsys):
    (tmp_path / "day1").mkdir()
    (tmp_path / "day2").mkdir()
    (tmp_path / "out").mkdir()
    first, second = tmp_path / "day1" / "clip.mp4", tmp_path / "day2" / "clip.mp4"
    first.write_bytes(b"x")
    second.write_bytes(b"x")
    message = refusal(capsys, first, second, "-o", tmp_path / "out", "--layout", "sbs")
    assert message == (
        f"stereo-spot: {first} and {second} would both be written to "
        f"{tmp_path / 'out' / 'clip_LR.mp4'}; convert them one at a time with -o."
    )
    assert not any((tmp_path / "out").iterdir())


def test_an_output_container_we_cannot_write_is_refused(tmp_path, videos, capsys):
    message = refusal(capsys, videos[0], "-o", tmp_path / "film_LR.avi")
    assert message == (
        f"stereo-spot: -o {tmp_path / 'film_LR.avi'}: results are written as .mp4, .m4v, .mkv "
        "or .mov files; name the output with one of those endings."
    )


def test_an_output_that_cannot_be_written_is_refused_before_converting(tmp_path, videos, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("")
    message = refusal(capsys, videos[0], "-o", f"{notes}/")
    assert message == (
        f"stereo-spot: Cannot write {notes / 'a_redcyan.mp4'}: {notes} is a file, not a folder."
    )
    message = refusal(capsys, videos[0], "-o", notes / "deeper" / "out.mp4")
    assert message == (
        f"stereo-spot: Cannot write {notes / 'deeper' / 'out.mp4'}: {notes} is a file, "
        "not a folder."
    )
    message = refusal(capsys, videos[0], "-o", "/proc/out.mp4")
    assert message.startswith("stereo-spot: Cannot write /proc/out.mp4: the folder /proc takes no")


def test_a_result_name_longer_than_the_folder_takes_is_refused_before_converting(tmp_path, capsys):
    # 248 bytes of name: with the layout's tag (_redcyan.mp4) the result's would be 260.
    long = tmp_path / f"{'a' * 248}.mp4"
    long.write_bytes(b"not looked at")
    message = refusal(capsys, long)
    assert message == (
        f"stereo-spot: The result's name {'a' * 40}... is 260 bytes long, more than the 255 the "
        f"folder {tmp_path} allows; name the result with -o."
    )


def test_a_part_s_result_is_named_after_the_part(tmp_path, videos, capsys):
    # a.mp4's part from 1:30 to the end would be written to a_1m30s-end_redcyan.mp4, the next
    # input; refused, which shows the name without converting anything.
    made_earlier = tmp_path / "a_1m30s-end_redcyan.mp4"
    made_earlier.write_bytes(b"an earlier conversion")
    message = refusal(capsys, videos[0], made_earlier, "--start", "1:30")
    assert message.endswith(f"would overwrite the input {made_earlier}; choose another -o.")
    preview = tmp_path / "a_0m10s-1m00.5s_preview_LR.mp4"
    preview.write_bytes(b"an earlier preview")
    message = refusal(capsys, videos[0], preview, "--start=10", "--end=60.5", "--preview",
                      "--layout=sbs")  # fmt: skip
    assert message.endswith(f"would overwrite the input {preview}; choose another -o.")


@pytest.mark.parametrize(
    ("option", "said"),
    [
        (("--crf", "0"), "Invalid --crf: Input should be greater than or equal to 1."),
        (("--divergence", "50"), "Invalid --divergence: Input should be less than or equal to 10."),
        (
            ("--max-height", "100"),
            "Invalid --max-height: Input should be greater than or equal to 144.",
        ),
        (("--segment-seconds", "0"), "'0' is not a length in seconds above 0"),
        (("--segment-seconds", "nan"), "'nan' is not a length in seconds above 0"),
        (("--start", "1:20", "--end", "1:10"), "Invalid --end: 70 s is not after --start (80 s)."),
        (("--end", "0"), "Invalid --end: 0 s is not after --start (0 s)."),
        (("--start", "2:90"), "'2:90' is not a clock: minutes and seconds run from 0 to 59"),
    ],
)
def test_an_option_out_of_range_is_misuse_refused_before_anything_runs(
    tmp_path, videos, capsys, option, said
):
    try:
        code = main(["convert", str(videos[0]), "-o", str(tmp_path / "out.mp4"), *option])
    except SystemExit as exit:  # argparse's own refusal
        code = exit.code
    assert code == 2, "misuse, as for any option argparse refuses"
    err = capsys.readouterr().err
    assert said in err and "starting the model server" not in err
    assert not (tmp_path / "out.mp4").exists()


JOB = "finishedJob_0123456789abcdef"


@pytest.fixture
def finished(tmp_path: Path, clip_mp4: Path):
    """Local storage holding a finished job's result, as a conversion leaves it."""
    storage = LocalStorage(tmp_path / "media")
    storage.put_file(clip_mp4, final_key(JOB))
    return storage


def test_the_result_is_as_readable_as_any_new_file(tmp_path, finished):
    # mkstemp makes its file 0600: a result shared from a server or a NAS was unreadable to
    # everyone else.
    output = tmp_path / "out.mp4"
    fetch_result(finished, Job(job_id=JOB), output)

    assert output.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_a_result_that_cannot_be_written_says_where_it_is_kept(tmp_path, finished):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    taken = tmp_path / "taken.mp4"
    taken.mkdir()  # a folder where the file should go
    for output in (a_file / "out.mp4", taken):
        with pytest.raises(ResultNotWritten) as refused:
            fetch_result(finished, Job(job_id=JOB), output)
        kept = finished.uri_for(final_key(JOB))
        assert str(refused.value).startswith(f"Could not write {output}: ")
        assert str(refused.value).endswith(f". The 3D video is kept at {kept}.")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["media", "notes.txt", "taken.mp4"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_jobs_retry_reads_its_output_as_convert_does(tmp_path):
    # Once, `-o x.avi` got MP4 bytes, `-o new/` a file called "new", `-o folder/` "Is a
    # directory" after the run, and a file in the way "File exists".
    named = tmp_path / "holiday_LR.mp4"
    (tmp_path / "there").mkdir()
    assert plan_output(f"{tmp_path / 'new'}/", named) == tmp_path / "new" / "holiday_LR.mp4"
    assert plan_output(str(tmp_path / "there"), named) == tmp_path / "there" / "holiday_LR.mp4"
    assert plan_output(str(tmp_path / "x.mkv"), named) == tmp_path / "x.mkv"
    with pytest.raises(InputRejected, match=r"results are written as .mp4, .m4v, .mkv or .mov"):
        plan_output(str(tmp_path / "x.avi"), named)
    (tmp_path / "a.mp4").write_bytes(b"")
    with pytest.raises(InputRejected, match=r"a.mp4 is a file, not a folder"):
        plan_output(str(tmp_path / "a.mp4" / "x.mp4"), named)
    assert not (tmp_path / "new").exists(), "made when the result is written, not before"


def test_a_folder_given_as_the_video_is_said_to_be_a_folder(tmp_path, capsys):
    folder = tmp_path / "holiday"
    folder.mkdir()
    message = refusal(capsys, folder)
    assert message == f"stereo-spot: {folder} is a folder; name its videos, e.g. {folder}/*.mp4"


def test_a_refused_engine_replaces_nothing_and_says_nothing_of_it(tmp_path, videos, monkeypatch,
                                                                  capsys):  # fmt: skip
    monkeypatch.delenv("STEREO_SPOT_WEIGHTS", raising=False)
    existing = tmp_path / "out.mp4"
    existing.write_bytes(b"an earlier result")
    assert main(["convert", str(videos[0]), "-o", str(existing), "--engine", "depth-anything"]) != 0
    assert "will be replaced" not in capsys.readouterr().err, "nothing is replaced"
    assert existing.read_bytes() == b"an earlier result"


def test_a_file_that_is_not_a_video_replaces_nothing_and_says_nothing_of_it(tmp_path, capsys):
    notes, existing = tmp_path / "notes.txt", tmp_path / "out.mp4"
    notes.write_text("not a video")
    existing.write_bytes(b"an earlier result")
    assert main(["convert", str(notes), "-o", str(existing), "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "will be replaced" not in err, err
    assert existing.read_bytes() == b"an earlier result"
