"""How much disk a conversion takes in its data folder, as a multiple of the video's size.

Runs ``stereo-spot convert`` on a clip with a fresh ``--data-dir`` for each layout, measures
the folder's size every 20 ms while it runs, and prints the peak and what stays once it is done
(the job's source, segments and result, kept for resuming and playing), both over the clip's
size. ``stereo_spot.disk_space.ROOM_NEEDED`` (what ``convert`` warns below) comes from here.

    python benchmarks/disk_use.py [--seconds 20] [--height 720] [--layouts anaglyph sbs]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import tempfile
import threading
from pathlib import Path

from pipeline_speed import make_clip


def folder_size(folder: Path) -> int:
    """The bytes of the files under ``folder``, each file once: a step's hard link to a stored
    object is no second copy on the disk."""
    sizes: dict[tuple[int, int], int] = {}
    for root, _, files in os.walk(folder):
        for name in files:
            # Gone between listing and reading: a step's scratch file.
            with contextlib.suppress(OSError):
                stat = os.lstat(os.path.join(root, name))
                sizes[stat.st_dev, stat.st_ino] = stat.st_size
    return sum(sizes.values())


def peak_while(command: list[str], folder: Path) -> int:
    """Run ``command`` and return ``folder``'s largest size seen meanwhile."""
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, folder_size(folder))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        done.set()
        watcher.join()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--layouts", nargs="+", default=["anaglyph", "sbs"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="disk-use-") as tmp:
        work = Path(tmp)
        clip = work / "clip.mp4"
        make_clip(clip, args.height * 16 // 9, args.height, args.seconds)
        size = clip.stat().st_size
        print(f"clip: {args.seconds:g} s at {args.height}p, {size / 2**20:.1f} MiB")
        for layout in args.layouts:
            data = work / f"data-{layout}"
            output = work / f"{layout}.mp4"
            command = ["stereo-spot", "convert", str(clip), "-o", str(output), "--layout", layout,
                       "--data-dir", str(data)]  # fmt: skip
            peak = peak_while(command, data)
            kept = folder_size(data)
            print(
                f"{layout}: peak {peak / size:.2f} x the clip, kept {kept / size:.2f} x, "
                f"result {output.stat().st_size / size:.2f} x",
                flush=True,
            )


if __name__ == "__main__":
    main()
