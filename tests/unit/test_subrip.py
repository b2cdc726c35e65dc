"""SubRip cut to a part: what ffmpeg writes for a track read from a seek, made into cues that
start at the part's start or later and end by its end."""

from stereo_spot.media.subrip import cues_within

# As ffmpeg writes a track read from 8 s into a video whose cues are at 6-7, 7-9, 9.5-10 and
# 11-12.5 s: the fields of a time before the seek carry their own signs.
FROM_A_SEEK = (
    "1\n00:00:-2,000 --> 00:00:-1,000\nlong before\n\n"
    "2\n00:00:-1,000 --> 00:00:01,000\nacross the start\n\n"
    "3\n00:00:00,-500 --> 00:00:00,-1\njust before\n\n"
    "4\n00:00:01,500 --> 00:00:02,000\n<i>inside</i>\non two lines\n\n"
    "5\n00:00:03,000 --> 00:00:04,500\nacross the end\n"
)


def test_a_cue_on_screen_at_the_start_keeps_what_is_left_of_it():
    assert cues_within(FROM_A_SEEK) == (
        "1\n00:00:00,000 --> 00:00:01,000\nacross the start\n\n"
        "2\n00:00:01,500 --> 00:00:02,000\n<i>inside</i>\non two lines\n\n"
        "3\n00:00:03,000 --> 00:00:04,500\nacross the end\n\n"
    )


def test_a_part_s_end_cuts_what_is_on_screen_then_and_drops_what_comes_after():
    assert cues_within(FROM_A_SEEK, until=3.5).endswith(
        "3\n00:00:03,000 --> 00:00:03,500\nacross the end\n\n"
    )
    assert cues_within(FROM_A_SEEK, until=1.5) == (
        "1\n00:00:00,000 --> 00:00:01,000\nacross the start\n\n"
    )


def test_hours_and_windows_line_ends_are_read():
    text = "1\r\n01:59:59,250 --> 02:00:01,000\r\nlate\r\n"
    assert cues_within(text) == "1\n01:59:59,250 --> 02:00:01,000\nlate\n\n"
    assert cues_within("") == ""
