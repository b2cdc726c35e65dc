"""The job status machine, layout geometry and the settings' defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stereo_spot.domain import (
    STATUS_ORDER,
    AnaglyphMode,
    Job,
    JobStatus,
    Layout,
    SourceInfo,
    StereoParams,
    VideoCodec,
    can_transition,
    scaled_size,
)


def test_status_only_moves_forward():
    for i, current in enumerate(STATUS_ORDER[:-1]):
        for later in STATUS_ORDER[i:]:
            assert can_transition(current, later)
        for earlier in STATUS_ORDER[:i]:
            assert not can_transition(current, earlier)


def test_any_unfinished_job_can_fail_and_final_states_never_change():
    for status in STATUS_ORDER[:-1]:
        assert can_transition(status, JobStatus.FAILED)
    for final in (JobStatus.COMPLETED, JobStatus.FAILED):
        assert not any(can_transition(final, other) for other in JobStatus)


@pytest.mark.parametrize(
    ("layout", "size"),
    [
        (Layout.ANAGLYPH, (640, 360)),
        (Layout.SBS, (1280, 360)),
        (Layout.HALF_SBS, (640, 360)),
        (Layout.TAB, (640, 720)),
        (Layout.HALF_TAB, (640, 360)),
    ],
)
def test_output_sizes_per_layout(layout, size):
    assert layout.output_size(640, 360) == size


@pytest.mark.parametrize(
    ("size", "max_height", "scaled"),
    [
        ((3840, 2160), 1080, (1920, 1080)),  # a 4K phone video for a 1080p TV
        ((1080, 1920), 720, (404, 720)),  # upright: the height is the picture's own
        ((1440, 1080), 719, (958, 718)),  # both sides even, the shape kept (4:3: 957.3 x 718)
        ((1920, 1080), 2160, (1920, 1080)),  # never up
        ((1920, 1080), None, (1920, 1080)),
    ],
)
def test_a_taller_picture_is_scaled_down_to_the_height_asked_keeping_its_shape(
    size, max_height, scaled
):
    assert scaled_size(*size, max_height) == scaled


def test_default_strength_stays_inside_the_comfort_budget():
    params = StereoParams()
    # Disparity spans divergence * (depth - convergence) for depth 0..1; positive = in front.
    in_front = params.divergence * (1 - params.convergence)
    behind = params.divergence * params.convergence
    assert in_front + behind <= 3.0
    assert in_front <= 1.1 and behind <= 2.0


def test_progress_counts_segments():
    job = Job(total_segments=4, completed_segments=1)
    assert job.progress == 0.25
    assert Job(status=JobStatus.COMPLETED).progress == 1.0


@pytest.mark.parametrize("field", ["divergence", "convergence"])
@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_a_strength_that_is_not_a_finite_number_is_refused_as_such(field, number):
    with pytest.raises(ValidationError, match="Input should be a finite number"):
        StereoParams(**{field: number})


@pytest.mark.parametrize("field", ["divergence", "convergence", "crf"])
def test_true_or_false_is_not_taken_for_a_number(field):
    # A request's "crf": true would otherwise be crf 1: near-lossless and huge.
    with pytest.raises(ValidationError, match="Input should be a number, not true or false"):
        StereoParams(**{field: True})


def test_the_quality_defaults_to_the_codecs_own():
    assert (StereoParams().codec, StereoParams().crf) == (VideoCodec.H264, 18)
    assert StereoParams(codec="hevc").crf == 20
    assert StereoParams(codec="hevc", crf=30).crf == 30
    assert StereoParams(crf=None).crf == 18
    # A job stored before the encoding settings existed reads back with the old encoding.
    old = Job.model_validate({"params": {"divergence": 2.0, "chroma": "444"}})
    assert (old.params.codec, old.params.crf, old.params.preset) == ("h264", 18, "veryfast")


@pytest.mark.parametrize(
    ("layout", "mode", "tag"),
    [
        (Layout.ANAGLYPH, AnaglyphMode.DUBOIS, "_redcyan"),
        (Layout.ANAGLYPH, AnaglyphMode.GRAY, "_redcyan"),
        (Layout.ANAGLYPH, AnaglyphMode.GREEN_MAGENTA, "_greenmagenta"),
        (Layout.ANAGLYPH, AnaglyphMode.AMBER_BLUE, "_amberblue"),
        (Layout.SBS, AnaglyphMode.AMBER_BLUE, "_LR"),  # the glasses matter to anaglyphs only
        (Layout.HALF_TAB, AnaglyphMode.DUBOIS, "_3dh_TB"),
    ],
)
def test_a_results_name_says_its_layout_and_an_anaglyphs_glasses(layout, mode, tag):
    job = Job(layout=layout, params=StereoParams(anaglyph_mode=mode))
    assert job.filename_tag == tag


def test_the_pictures_that_do_not_decode_are_said_with_the_reason():
    recording = SourceInfo(width=720, height=576, frames=114, duration=4.6, fps=25.0,
                           video_codec="mpeg2video", first_picture_delay=0.32)  # fmt: skip
    assert Job().damage_note is None
    assert Job(source=recording, damaged_frames=1).damage_note == (
        "The video's first 0.32 s of picture cannot be decoded (the recording starts part-way "
        "through a group of pictures that refer to earlier ones), so its picture starts after "
        "them and its sound at the start. 1 picture of the video could not be decoded (the file "
        "is damaged there); the picture before it is shown in its place."
    )
