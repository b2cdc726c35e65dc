"""Closed captions carried inside the picture (a TV recording's CEA-608) come out as text, at
their times; a picture without them, or with caption padding alone, gives no track."""

import pytest

from stereo_spot.media.captions import extract_captions
from tests.media import ffmpeg, make_broadcast_with_captions, subtitle_cues

NEWS = ((0.8, 2.0, "GOOD EVENING"), (2.5, 3.5, "HERE IS THE NEWS"))
FRAME = 1001 / 30000


def _times_match(cues, expected) -> bool:
    """Each cue shown and cleared at the picture its captions asked for (times to the frame)."""
    return [text for *_, text in cues] == [text for *_, text in expected] and all(
        abs(start - shown) < FRAME / 2 and abs(end - cleared) < FRAME / 2
        for (start, end, _), (shown, cleared, _) in zip(cues, expected, strict=True)
    )


@pytest.mark.parametrize("codec", ["h264", "hevc", "mpeg2video"])
def test_captions_inside_the_picture_come_out_as_text_at_their_times(tmp_path, codec):
    picture = "hevc" if codec == "hevc" else "h264"
    recording = make_broadcast_with_captions(tmp_path / "news.ts", NEWS, codec=picture)
    if codec == "mpeg2video":
        # MPEG-2, as DVDs and older broadcasts carry it, with the captions in each picture's
        # user data: ffmpeg's MPEG-2 encoder writes them from the decoded pictures' side data.
        mpeg2 = tmp_path / "news-mpeg2.ts"
        ffmpeg("-i", str(recording), "-c:v", "mpeg2video", "-q:v", "4", "-c:a", "mp2", str(mpeg2))
        recording = mpeg2
    captions = extract_captions(recording, tmp_path / "work")
    assert captions is not None
    # Timed from the first picture (the sound starts half a second before it).
    assert _times_match(subtitle_cues(captions), NEWS), subtitle_cues(captions)


def test_a_file_name_with_the_filter_graphs_own_characters_is_read(tmp_path):
    # The captions are read through a filter graph, whose syntax gives ':', quotes, brackets,
    # commas and semicolons meanings; a recording may be named with any of them.
    name = "News: [late], Tom's; 22:00.ts"
    recording = make_broadcast_with_captions(tmp_path / name, NEWS)
    captions = extract_captions(recording, tmp_path / "work")
    assert captions is not None and _times_match(subtitle_cues(captions), NEWS)


def test_no_captions_give_no_track(tmp_path):
    plain = tmp_path / "plain.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=192x108:r=25:d=1", "-c:v", "libx264", str(plain))
    assert extract_captions(plain, tmp_path / "work") is None
    # A channel that sends caption padding in every picture, and no caption in this stretch.
    padding = make_broadcast_with_captions(tmp_path / "adverts.ts", ())
    assert extract_captions(padding, tmp_path / "work") is None
