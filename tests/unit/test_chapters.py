"""A cut's chapters, written by us from an ffmetadata file: moved to the cut's times, ended at
its end, and their titles kept whatever they hold."""

from __future__ import annotations

from stereo_spot.domain import Part
from stereo_spot.media.chapters import Chapter, chapters_within, output_with_chapters, read_chapters
from stereo_spot.media.excerpt import cut_part
from stereo_spot.media.ffmpeg_run import run_ffmpeg, safe_input
from stereo_spot.media.probe import probe_source
from stereo_spot.settings import Settings
from tests.media import ffmpeg


def test_chapters_are_moved_to_the_cut_and_ended_with_it():
    chapters = [Chapter(0, 1.5, {"title": "A"}), Chapter(1.5, 3, {"title": "B"}),
                Chapter(3, 20, {"title": "C"})]  # fmt: skip
    assert chapters_within(chapters, 1.0, 2.5) == [
        Chapter(0.0, 0.5, {"title": "A"}),
        Chapter(0.5, 1.5, {"title": "B"}),
    ]
    assert chapters_within(chapters, 4.0, None) == [Chapter(0.0, 16.0, {"title": "C"})]


def test_a_title_with_ffmetadata_s_own_signs_is_kept(tmp_path):
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=64x48:r=10:d=2", str(tmp_path / "plain.mkv"))
    title = "Act 1; scene=2 #3 \\ end"
    output = output_with_chapters(
        [safe_input(tmp_path / "plain.mkv")["v"]],
        str(tmp_path / "titled.mkv"),
        {"c": "copy"},
        [Chapter(0.0, 1.0, {"title": title})],
        tmp_path,
    )
    run_ffmpeg(output)
    assert read_chapters(tmp_path / "titled.mkv") == [Chapter(0.0, 1.0, {"title": title})]


def test_a_part_s_chapters_end_where_the_part_does(tmp_path):
    (tmp_path / "chapters.txt").write_text(
        ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=10000\ntitle=Only chapter\n"
    )
    source = tmp_path / "longchap.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=10", "-i", str(tmp_path / "chapters.txt")),
        *("-map", "0:v", "-map_chapters", "1", "-c:v", "libx264", "-g", "25", str(source)),
    )
    info = probe_source(source, Settings())
    part = cut_part(source, info, Part(start=1.2, end=2.2), tmp_path / "part.mkv")
    (chapter,) = read_chapters(part)
    assert (chapter.start, round(chapter.end, 3)) == (0.0, 1.0)
