"""The image verbs through the real ``stereo-spot`` executable."""

import importlib.util
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from stereo_spot.media.probe import count_video_frames, video_frame_times
from tests.media import ffmpeg, make_clip, make_size_changing_clip, psnr, turned_sideways

DATA = Path(importlib.util.find_spec("skimage").submodule_search_locations[0]) / "data"
LEFT = DATA / "motorcycle_left.png"


def stereo_spot(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["stereo-spot", *map(str, args)], capture_output=True, text=True)


def test_render_view_with_true_disparity_matches_the_real_right_eye(tmp_path):
    disparity = tmp_path / "d.npy"
    np.save(disparity, np.load(DATA / "motorcycle_disp.npz")["arr_0"].astype(np.float32))
    result = stereo_spot(
        "render-view", "--image", LEFT, "--disparity", disparity, "-o", tmp_path / "r.png"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"wrote {tmp_path / 'r.png'}\n", "said as convert says its result"
    rendered = cv2.imread(str(tmp_path / "r.png"))
    truth = cv2.imread(str(DATA / "motorcycle_right.png"))
    assert psnr(rendered, truth) >= 22.0
    assert psnr(cv2.imread(str(LEFT)), truth) < 14.0  # right := left is far worse


def test_render_view_given_a_depth_map_says_the_map_is_read_in_pixels(tmp_path):
    # `depth`'s map (0..1) given as the disparity moved no pixel by a whole one: the right eye
    # came out as the left, and the command exited 0 without a word.
    assert stereo_spot("depth", LEFT, "-o", tmp_path / "depth.npy").returncode == 0
    result = stereo_spot(
        "render-view", "--image", LEFT, "--disparity", tmp_path / "depth.npy",
        "-o", tmp_path / "r.png",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"wrote {tmp_path / 'r.png'}",
        f"note: {tmp_path / 'depth.npy'} moves no pixel by more than 1 pixel, so the right eye "
        "is about the left. It is read in pixels; a depth map (stereo-spot depth, 0..1) is not "
        "a disparity: scale it first (stereo-spot render-view --help).",
    ]


def test_render_view_rejects_a_disparity_of_the_wrong_size(tmp_path):
    np.save(tmp_path / "d.npy", np.zeros((10, 10), np.float32))
    result = stereo_spot(
        "render-view", "--image", LEFT, "--disparity", tmp_path / "d.npy", "-o", tmp_path / "r.png"
    )
    assert result.returncode == 1
    assert "same size" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_image_writes_a_packed_picture_of_the_layout_size(tmp_path):
    out = tmp_path / "m_LR.png"
    result = stereo_spot("image", LEFT, "-o", out, "--layout", "sbs", "--divergence", "2")
    assert result.returncode == 0, result.stderr
    assert cv2.imread(str(out)).shape == (500, 1482, 3)


def test_image_rejects_a_missing_file_with_one_sentence(tmp_path):
    result = stereo_spot("image", tmp_path / "nope.png", "-o", tmp_path / "x.png")
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"stereo-spot: {tmp_path / 'nope.png'} does not exist or is not a file."
    )


def test_image_rejects_a_file_that_is_not_an_image(tmp_path):
    bogus = tmp_path / "bogus.png"
    bogus.write_text("hello")
    result = stereo_spot("image", bogus, "-o", tmp_path / "x.png")
    assert result.returncode == 1 and "not an image" in result.stderr


def test_a_picture_named_as_a_video_is_refused_before_any_work(tmp_path):
    # OpenCV raised its own error, a traceback, once the 3D picture had been made.
    disparity = tmp_path / "d.npy"
    np.save(disparity, np.zeros((500, 741), np.float32))
    refusals = {
        ("image", LEFT): "(a video's 3D version comes from stereo-spot convert)",
        ("depth", LEFT): "",
        ("render-view", "--image", LEFT, "--disparity", disparity): (
            "(a video's 3D version comes from stereo-spot convert)"
        ),
    }
    for command, hint in refusals.items():
        result = stereo_spot(*command, "-o", tmp_path / "3d.mp4")
        assert result.returncode == 1, command
        endings = ".png, .jpg, .webp or .tif" if hint else ".png, .jpg, .webp, .tif or .npy"
        assert result.stderr == (
            f"stereo-spot: 3d.mp4: a picture is not written as .mp4; end the name with "
            f"{endings}{' ' + hint if hint else ''}.\n"
        ), command
    assert not (tmp_path / "3d.mp4").exists()


def test_the_picture_verbs_make_a_missing_output_folder_as_convert_does(tmp_path):
    disparity = tmp_path / "d.npy"
    np.save(disparity, np.zeros((500, 741), np.float32))
    clip = make_clip(tmp_path / "clip.mp4", seconds=0.5, size="96x64", audio=False)
    commands = {
        "3d/left.png": ("image", LEFT),
        "depths/left.npy": ("depth", LEFT),
        "depths/clip.mp4": ("depth", clip),
        "views/right.png": ("render-view", "--image", LEFT, "--disparity", disparity),
    }
    for output, command in commands.items():
        result = stereo_spot(*command, "-o", tmp_path / "new" / output)
        assert result.returncode == 0, result.stderr
        assert f"wrote {tmp_path / 'new' / output}" in result.stderr.splitlines()
    written = {p.relative_to(tmp_path / "new").as_posix() for p in tmp_path.rglob("new/*/*")}
    assert written == set(commands), "each result whole, under its own name, nothing beside it"
    assert cv2.imread(str(tmp_path / "new/3d/left.png")).shape == (500, 741, 3)


def test_a_picture_under_a_file_is_refused_before_any_work(tmp_path):
    (tmp_path / "notes.txt").write_text("not a folder")
    for command in (("image", LEFT), ("depth", LEFT)):
        result = stereo_spot(*command, "-o", tmp_path / "notes.txt" / "3d" / "left.png")
        assert result.returncode == 1, command
        assert result.stderr == (
            f"stereo-spot: Cannot write {tmp_path / 'notes.txt' / '3d' / 'left.png'}: "
            f"{tmp_path / 'notes.txt'} is a file, not a folder.\n"
        ), command


def test_a_picture_one_pixel_high_is_refused_as_too_small(tmp_path):
    line = tmp_path / "line.png"
    cv2.imwrite(str(line), np.full((1, 300, 3), 128, np.uint8))
    for verb in ("image", "depth"):
        result = stereo_spot(verb, line, "-o", tmp_path / "x.png")
        assert result.returncode == 1
        assert result.stderr.strip().endswith("is 300x1 pixels, too small to turn into 3D."), verb


def test_depth_writes_16_bit_png_and_float_npy(tmp_path):
    assert stereo_spot("depth", LEFT, "-o", tmp_path / "d.png").returncode == 0
    png = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (500, 741)
    assert stereo_spot("depth", LEFT, "-o", tmp_path / "d.npy").returncode == 0
    depth = np.load(tmp_path / "d.npy")
    assert depth.dtype == np.float32 and depth.min() >= 0 and depth.max() <= 1


def test_depth_in_an_8_bit_format_is_the_same_map_in_8_bits(tmp_path):
    # A 16-bit map squeezed into JPEG's 8 bits by OpenCV was clipped to a white picture.
    assert stereo_spot("depth", LEFT, "-o", tmp_path / "d.png").returncode == 0
    sixteen = cv2.imread(str(tmp_path / "d.png"), cv2.IMREAD_UNCHANGED).astype(float) / 65535
    for ending in (".jpg", ".webp"):
        result = stereo_spot("depth", LEFT, "-o", tmp_path / f"d{ending}")
        assert result.returncode == 0 and "WARN" not in result.stderr, result.stderr
        eight = cv2.imread(str(tmp_path / f"d{ending}"), cv2.IMREAD_GRAYSCALE).astype(float) / 255
        assert np.abs(eight - sixteen).mean() < 0.02, ending


def test_a_folder_as_the_picture_is_refused_before_any_work(tmp_path):
    (tmp_path / "there").mkdir()
    for output in (tmp_path / "there", f"{tmp_path / 'new'}/"):
        result = stereo_spot("image", LEFT, "-o", output)
        assert result.returncode == 1
        assert result.stderr == (
            f"stereo-spot: {output} is a folder; -o names the picture to write "
            f"(e.g. {Path(output) / 'picture.png'}).\n"
        )
    assert not (tmp_path / "new").exists() and not any((tmp_path / "there").iterdir())


def test_depth_of_a_video_is_a_grey_video_with_every_frame(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=2, size="160x90", audio=False)
    result = stereo_spot("depth", clip, "-o", tmp_path / "depth.mp4")
    assert result.returncode == 0, result.stderr
    assert count_video_frames(tmp_path / "depth.mp4") == count_video_frames(clip)
    with av.open(str(tmp_path / "depth.mp4")) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    # Grey: the three channels agree (up to 4:2:0 chroma rounding), and depth varies over it.
    assert np.abs(frame[..., 0] - frame[..., 1]).max() <= 3
    assert frame[..., 1].std() > 5


def test_depth_of_a_tv_recording_keeps_its_frames_their_times_and_its_first_size(tmp_path):
    # Any container a video comes in, and a picture that changes size midway (the stream's
    # first size throughout, as `convert` keeps it).
    call = make_size_changing_clip(tmp_path / "call.mkv", ("160x96", "80x48"), seconds=0.5)
    recording = tmp_path / "call.ts"
    ffmpeg("-i", str(call), "-c", "copy", str(recording))
    result = stereo_spot("depth", recording, "-o", tmp_path / "depth.mp4")
    assert result.returncode == 0, result.stderr
    depth = tmp_path / "depth.mp4"
    assert video_frame_times(depth) == pytest.approx(video_frame_times(recording), abs=1e-3)
    with av.open(str(depth)) as container:
        assert {(f.width, f.height) for f in container.decode(video=0)} == {(160, 96)}


def test_depth_of_a_sideways_phone_video_is_upright_as_players_show_it(tmp_path):
    # A portrait recording as a phone stores it: landscape pixels and a display matrix.
    upright = make_clip(tmp_path / "upright.mp4", seconds=1, size="90x160", audio=False)
    stored = tmp_path / "stored.mp4"
    ffmpeg("-i", str(upright), "-vf", "transpose=clock", "-c:v", "libx264", "-qp", "0", str(stored))
    sideways = turned_sideways(stored, tmp_path / "sideways.mp4")  # shown turned back upright
    for source, depth in ((sideways, "sideways_depth.mp4"), (upright, "upright_depth.mp4")):
        result = stereo_spot("depth", source, "-o", tmp_path / depth)
        assert result.returncode == 0, result.stderr

    turned, straight = (
        _first_frame(tmp_path / name) for name in ("sideways_depth.mp4", "upright_depth.mp4")
    )
    assert turned.shape == straight.shape == (160, 90, 3)
    # The depth of the picture as shown, not of its stored pixels turned on their side.
    assert np.abs(turned.astype(int) - straight.astype(int)).mean() < 4


def test_depth_of_a_damaged_video_says_so_and_writes_nothing(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=1, size="160x90", audio=False)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])  # its index is at the end
    result = stereo_spot("depth", damaged, "-o", tmp_path / "depth.mp4")
    assert result.returncode == 1
    assert "The file has no index (an MP4 or MOV's moov)" in result.stderr
    assert set(tmp_path.iterdir()) == {clip, damaged}, "no output, nothing half written"


def _first_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")
