"""``stereo-spot image``, ``depth`` and ``render-view``: single pictures through the stereo maths.

These run the ``classical`` engine's pieces directly on one image (DESIGN.md, Command line
contract); bad input is rejected with one sentence (InputRejected).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from stereo_spot.cli.outputs import refuse_unwritable_folder
from stereo_spot.cli.stereo_options import add_stereo_options, stereo_params_from
from stereo_spot.domain import Layout
from stereo_spot.errors import InputRejected, StereoSpotError

# What ``depth`` reads as a picture; anything else is taken for a video (of any container).
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".tif", ".tiff", ".webp", ".jp2",
                   ".pbm", ".pgm", ".ppm", ".pnm"}  # fmt: skip


def read_rgb(path: str) -> np.ndarray:
    """An image file as H x W x 3 uint8 RGB, or InputRejected saying why not."""
    import cv2  # here, not at the top: every verb's start-up pays for this module's imports

    file = Path(path)
    if not file.is_file():
        raise InputRejected(f"{path} does not exist or is not a file.")
    data = np.fromfile(file, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise InputRejected(f"{path} is not an image this tool can read (PNG, JPEG, ...).")
    height, width = image.shape[:2]
    if height < 2 or width < 2:
        raise InputRejected(f"{path} is {width}x{height} pixels, too small to turn into 3D.")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# What a picture's output may be called; OpenCV writes more, these are the ones to suggest.
_PICTURE_ENDINGS = (".png", ".jpg", ".webp", ".tif")
# The picture formats that hold 16 bits a sample; OpenCV squeezes a 16-bit depth map into any
# other's 8 bits by clipping at 255, which made it a white picture.
_SIXTEEN_BITS = {"", ".png", ".tif", ".tiff", ".jp2", ".pgm", ".ppm", ".pnm"}
_FOR_VIDEOS = " (a video's 3D version comes from stereo-spot convert)"


def refuse_unwritable_image(
    path: str, other_endings: tuple[str, ...] = (), hint: str = _FOR_VIDEOS
) -> None:
    """Refuse, before any work, an output no picture can be written to: a folder that cannot
    be made or written to, or an ending no image writer here takes (``-o 3d.mp4`` to ``image``:
    OpenCV raised its own error once the picture was made)."""
    import cv2

    file = Path(path)
    if path.endswith(("/", os.sep)) or file.is_dir():
        # Not a picture's name: "-o out/" wrote a file called "out".
        raise InputRejected(
            f"{path} is a folder; -o names the picture to write (e.g. {file / 'picture.png'})."
        )
    refuse_unwritable_folder(file.parent, file)
    if file.suffix.lower() in other_endings or not file.suffix:
        return  # no ending: PNG
    if not cv2.haveImageWriter(file.name):
        *endings, last = (*_PICTURE_ENDINGS, *other_endings)
        raise InputRejected(
            f"{file.name}: a picture is not written as {file.suffix}; end the name with "
            f"{', '.join(endings)} or {last}{hint}."
        )


def write_image(path: str, image: np.ndarray) -> None:
    """Write an RGB (H x W x 3) or single-channel image; the extension picks the format (its
    callers refused one no picture can be written as before any work:
    :func:`refuse_unwritable_image`)."""
    import cv2

    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    file = Path(path)
    ok, encoded = cv2.imencode(file.suffix or ".png", image)
    if not ok:
        raise InputRejected(f"Cannot write an image with the extension {file.suffix!r}.")
    with written_whole(file) as partial:
        encoded.tofile(partial)


@contextlib.contextmanager
def written_whole(output: Path) -> Iterator[Path]:
    """Where to write ``output``: a file beside it, moved there whole when the block ends, so a
    failure leaves no half picture or video. A missing folder on its way is made, as
    ``convert`` makes one for its results."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.partial")
    try:
        yield partial
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


def run_image(args: argparse.Namespace) -> int:
    from inference_service.engines.classical import ClassicalEngine

    params = stereo_params_from(args)  # a mistyped option is said before any reading
    refuse_unwritable_image(args.output)
    frame = read_rgb(args.input)
    (packed,) = ClassicalEngine().convert([frame], Layout(args.layout), params)
    write_image(args.output, packed)
    say_written(args.output)
    return 0


def _video_depth(args: argparse.Namespace) -> int:
    """A grey depth video (white = nearest) with the source's frames at their times, upright as
    players show the source (a phone's sideways recording turned as its rotation says, as
    ``convert`` turns it: the depth cues read the picture the right way up)."""
    import dataclasses
    from collections import deque

    from inference_service.engines.classical import ClassicalEngine
    from stereo_spot.media.frames import SegmentWriter, open_video
    from stereo_spot.media.probe import probe_source
    from stereo_spot.settings import Settings

    output = Path(args.output)
    if output.suffix.lower() != ".mp4":
        raise InputRejected(
            f"A video's depth is written as an MP4; name it {output.with_suffix('.mp4').name}."
        )
    refuse_unwritable_folder(output.parent, output)
    # The refusals `convert` gives (not a video, no picture, a still, ...), in its words.
    info = probe_source(Path(args.input), Settings())
    source, frames = open_video(Path(args.input))
    # The probe's rotation is counter-clockwise, as numpy's rot90 turns.
    quarter_turns = info.rotation // 90 % 4
    if quarter_turns % 2:
        sar = source.sample_aspect_ratio
        source = dataclasses.replace(
            source,
            width=source.height,
            height=source.width,
            sample_aspect_ratio=1 / sar if sar else sar,
        )
    times: deque[int | None] = deque()

    def pictures():
        for frame in frames:
            times.append(frame.pts)
            yield np.ascontiguousarray(np.rot90(frame.rgb, quarter_turns))

    with (
        written_whole(output) as partial,
        SegmentWriter(partial, source, source.width, source.height) as writer,
    ):
        for depth in ClassicalEngine().estimate_depth(pictures()):
            grey = np.round(depth * 255).astype(np.uint8)
            writer.write(np.repeat(grey[:, :, None], 3, axis=2), times.popleft())
    say_written(args.output)
    return 0


def run_depth(args: argparse.Namespace) -> int:
    from inference_service.engines.classical import ClassicalEngine

    if Path(args.input).suffix.lower() not in _IMAGE_SUFFIXES:
        if not Path(args.input).is_file():
            raise InputRejected(f"{args.input} does not exist or is not a file.")
        return _video_depth(args)
    refuse_unwritable_image(args.output, other_endings=(".npy",), hint="")
    frame = read_rgb(args.input)
    (depth,) = ClassicalEngine().estimate_depth([frame])
    ending = Path(args.output).suffix.lower()
    if ending == ".npy":
        with written_whole(Path(args.output)) as partial, partial.open("wb") as file:
            np.save(file, depth.astype(np.float32))
    elif ending in _SIXTEEN_BITS:
        write_image(args.output, np.round(depth * 65535).astype(np.uint16))
    else:
        write_image(args.output, np.round(depth * 255).astype(np.uint8))
    say_written(args.output)
    return 0


def run_render_view(args: argparse.Namespace) -> int:
    from stereo_spot.stereo.view_synthesis import render_right_view

    refuse_unwritable_image(args.output)
    left = read_rgb(args.image)
    if not Path(args.disparity).is_file():
        raise InputRejected(f"{args.disparity} does not exist or is not a file.")
    try:
        disparity = np.load(args.disparity, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise InputRejected(f"{args.disparity} is not a NumPy .npy file.") from error
    if disparity.ndim != 2 or disparity.shape != left.shape[:2]:
        raise InputRejected(
            f"The disparity map is {'x'.join(map(str, disparity.shape[::-1]))} but the image "
            f"is {left.shape[1]}x{left.shape[0]}; they must be the same size."
        )
    if not np.issubdtype(disparity.dtype, np.number):
        raise InputRejected(f"{args.disparity} does not hold numbers.")
    disparity = disparity.astype(np.float32)
    write_image(args.output, render_right_view(left, disparity))
    say_written(args.output)
    known = np.abs(disparity[np.isfinite(disparity)])
    if known.size and known.max() <= 1:
        # A depth map from `depth` (0..1) given as the disparity moves nothing by a pixel: the
        # right eye came out as the left, and nothing said why.
        print(
            f"note: {args.disparity} moves no pixel by more than 1 pixel, so the right eye is "
            "about the left. It is read in pixels; a depth map (stereo-spot depth, 0..1) is "
            "not a disparity: scale it first (stereo-spot render-view --help).",
            file=sys.stderr,
        )
    return 0


def say_written(output: str) -> None:
    """Say where a picture verb's result went, as ``convert`` says where its video went."""
    print(f"wrote {output}", file=sys.stderr)


def register(subparsers: argparse._SubParsersAction) -> None:
    image = subparsers.add_parser(
        "image",
        help="turn one picture into 3D",
        description="Turn one picture into 3D with the classical engine (weight-free depth, "
        "then the other eye), packed in the layout asked for.",
    )
    image.add_argument("input", help="an image file (PNG, JPEG, ...)")
    image.add_argument(
        "-o",
        "--output",
        required=True,
        help="where to write the 3D image; its ending picks the format (.png, .jpg, .webp, .tif)",
    )
    add_stereo_options(image)
    image.set_defaults(func=run_image)

    depth = subparsers.add_parser(
        "depth",
        help="weight-free depth map of an image or a video",
        description="Estimate the depth of a picture, or of each frame of a video, with the "
        "classical engine's weight-free cues: 0 = farthest, 1 = nearest (a relative depth, not "
        "a disparity in pixels; see render-view).",
    )
    depth.add_argument("input", help="an image, or a video (written as a grey depth video)")
    depth.add_argument(
        "-o",
        "--output",
        required=True,
        help=(
            "image: .png or .tif (16-bit, 65535 = nearest), .jpg or .webp (8-bit, 255 = nearest) "
            "or .npy (float32 0..1); video: .mp4"
        ),
    )
    depth.set_defaults(func=run_depth)

    view = subparsers.add_parser(
        "render-view",
        help="the right eye from the left eye and a disparity map",
        description="Render the right eye from the left eye and a disparity map in pixels: "
        "each pixel moves to x_right = x_left - d (a larger d is nearer; 0 sits on the screen). "
        "A depth map from `stereo-spot depth` "
        "(0..1) is not one: scale it to pixels first, as convert does: d = (depth - "
        "convergence) x divergence/100 x width, e.g. (depth - 0.65) x 0.03 x width.",
    )
    view.add_argument("--image", required=True, help="the left eye (image file)")
    view.add_argument(
        "--disparity",
        required=True,
        help="the disparity of each pixel of the left eye, in pixels: a float32 .npy of the "
        "image's size, x_right = x_left - d (non-finite = unknown)",
    )
    view.add_argument("-o", "--output", required=True, help="where to write the right eye")
    view.set_defaults(func=run_render_view)


__all__ = ["StereoSpotError", "read_rgb", "register", "write_image"]
