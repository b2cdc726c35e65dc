"""SMPTE timecode moved on by a number of frames, as a part of a recording needs it."""

import pytest

from stereo_spot.media.timecode import shifted_timecode


@pytest.mark.parametrize(
    ("timecode", "frames", "fps", "moved"),
    [
        ("01:00:00:00", 60, 24, "01:00:02:12"),
        ("10:00:00:00", 1500, 25, "10:01:00:00"),
        ("23:59:59:24", 1, 25, "00:00:00:00"),  # past midnight
        ("00:00:59;29", 1, 29.97, "00:01:00;02"),  # ;00 and ;01 skipped at a new minute
        ("00:09:59;29", 1, 29.97, "00:10:00;00"),  # but not at each tenth
        ("00:00:00;00", 17_982, 29.97, "00:10:00;00"),  # ten minutes of 29.97 frames
        ("00:00:59;59", 1, 59.94, "00:01:00;04"),
        ("00:00:10:00", 0, 23.976, "00:00:10:00"),
    ],
)
def test_a_timecode_moves_on_by_the_frames_left_out(timecode, frames, fps, moved):
    assert shifted_timecode(timecode, frames, fps) == moved


@pytest.mark.parametrize("fps", [29.97, 59.94])
def test_drop_frame_counting_skips_only_the_numbers_it_should(fps):
    # Frame by frame over twelve minutes: every step is one frame, and the skipped numbers are
    # those at the start of each minute but the tenth.
    nominal, skipped = round(fps), 2 * round(fps) // 30
    timecode = "00:00:00;00"
    for _ in range(12 * 60 * nominal):
        following = shifted_timecode(timecode, 1, fps)
        minutes, seconds, frame = (int(following[i : i + 2]) for i in (3, 6, 9))
        assert not (seconds == 0 and frame < skipped and minutes % 10), following
        timecode = following
    assert timecode == shifted_timecode("00:00:00;00", 12 * 60 * nominal, fps)


@pytest.mark.parametrize("timecode", ["junk", "00:00:00:30", "00:61:00:00", ""])
def test_what_is_no_timecode_is_not_counted(timecode):
    assert shifted_timecode(timecode, 1, 25) is None
