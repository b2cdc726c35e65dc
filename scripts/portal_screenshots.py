"""Screenshots of every portal page, taken from the real embedded stack (``stereo-spot up``).

    python scripts/portal_screenshots.py [--out docs/portal]

Needs Debian ``chromium`` and ``pip install playwright`` (no ``playwright install``), ffmpeg.
Makes a 10 s test clip, starts ``stereo-spot up`` over a temporary data dir, and walks through
create → upload (throttled so the progress bar shows) → status → play → completed list, a half
side-by-side job's play page seen as an anaglyph, a failed job (a text file uploaded as a video),
the list of jobs not finished and the not-found page.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1100, "height": 860}


def make_clip(path: Path) -> Path:
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=s=640x360:r=24:d=10",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:d=10",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "24", "-b:v", "1500k",
            "-c:a", "aac", "-shortest", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_stack(data_dir: Path, port: int) -> tuple[subprocess.Popen, Path]:
    log_path = data_dir.parent / "up.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEREO_SPOT_")}
    env["STEREO_SPOT_SEGMENT_SECONDS"] = "1"
    command = [
        sys.executable,
        "-c",
        "import sys; from stereo_spot.cli import main; sys.exit(main())",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [*command, "up", "--port", str(port), "--data-dir", str(data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 120
    while "Stereo-Spot is running at" not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"stereo-spot up did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    return process, log_path


def create_job(page: Page, base: str, layout: str) -> str:
    page.goto(base)
    page.check(f'input[name="layout"][value="{layout}"]')
    page.click("text=Continue to upload")
    page.wait_for_url("**/jobs/*")
    return page.url


def shoot(page: Page, out: Path, name: str) -> None:
    page.screenshot(path=str(out / f"{name}.png"), full_page=True)
    print(f"wrote {out / name}.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/portal"))
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="portal-shots-") as scratch:
        scratch = Path(scratch)
        clip = make_clip(scratch / "holiday.mp4")
        not_video = scratch / "notes.mp4"
        not_video.write_text("meeting notes, not a video\n" * 100)
        port = free_port()
        base = f"http://127.0.0.1:{port}/"
        process, _log = start_stack(scratch / "data", port)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                # bypass_csp: Playwright evaluates its wait predicates as strings, which the CSP forbids.
                page = browser.new_page(viewport=VIEWPORT, bypass_csp=True)

                page.goto(base)
                shoot(page, out, "create")

                job_url = create_job(page, base, "anaglyph")
                shoot(page, out, "upload")
                # Throttle the upload so the progress bar is caught part-way.
                cdp = page.context.new_cdp_session(page)
                cdp.send("Network.enable")
                cdp.send(
                    "Network.emulateNetworkConditions",
                    {"offline": False, "latency": 20, "downloadThroughput": -1,
                     "uploadThroughput": 400_000},
                )  # fmt: skip
                page.set_input_files("#file", str(clip))
                page.click("#upload-button")
                # Part-way, with the speed and the time left shown (after 2 s of sending).
                page.wait_for_function(
                    "document.getElementById('upload-bar').value >= 30 && "
                    "document.getElementById('upload-percent').textContent.includes('MB/s')"
                )
                shoot(page, out, "upload-progress")
                cdp.send(
                    "Network.emulateNetworkConditions",
                    {"offline": False, "latency": 0, "downloadThroughput": -1,
                     "uploadThroughput": -1},
                )  # fmt: skip

                page.wait_for_selector(".status-processing", timeout=120_000)
                page.wait_for_function(
                    "/^[1-9]\\d* \\//.test(document.getElementById('segments').textContent)",
                    timeout=120_000,
                )
                shoot(page, out, "status")

                page.wait_for_selector("text=Play the 3D video", timeout=300_000)
                page.goto(job_url + "/play")
                page.wait_for_function("document.getElementById('player').readyState >= 2")
                page.evaluate("document.getElementById('player').currentTime = 4")
                page.wait_for_function(
                    "(v => !v.seeking && v.readyState >= 3)(document.getElementById('player'))"
                )
                time.sleep(1.0)
                shoot(page, out, "play")

                page.goto(base + "jobs")
                shoot(page, out, "completed")

                # A half side by side, seen in the page as an anaglyph for red-cyan glasses.
                sbs_url = create_job(page, base, "half-sbs")
                page.set_input_files("#file", str(clip))
                page.click("#upload-button")
                page.wait_for_selector("text=Play the 3D video", timeout=300_000)
                page.goto(sbs_url + "/play")
                page.wait_for_function("document.getElementById('player').readyState >= 2")
                page.select_option("#view", "dubois")
                page.evaluate("document.getElementById('player').currentTime = 4")
                page.wait_for_function(
                    "(v => !v.seeking && v.readyState >= 3)(document.getElementById('player'))"
                )
                time.sleep(1.0)
                shoot(page, out, "play-sbs")

                create_job(page, base, "sbs")
                page.set_input_files("#file", str(not_video))
                page.click("#upload-button")
                page.wait_for_selector("#failure", timeout=60_000)
                shoot(page, out, "failed")

                page.goto(base + "jobs?show=unfinished")
                shoot(page, out, "not-finished")

                page.goto(base + "jobs/no-such-job-0123456789")
                shoot(page, out, "not-found")
                browser.close()
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
