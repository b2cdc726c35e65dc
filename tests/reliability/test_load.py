"""The embedded stack under load: 12 short jobs at once through the JSON API.

``stereo-spot up`` runs as a user runs it (a subprocess on a free port over a temporary data dir).
Every job must complete with every frame, the process tree's memory must stay bounded, and the
portal must keep answering; its latency while the jobs run is measured and printed (and recorded
in docs/BENCHMARKS.md), not asserted — this machine is shared.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from inference_service.launcher import free_port
from tests.media import make_clip, probe, video_stream

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

# Twelve: they are queued at once and run one after another (~5 s each), so each more job adds
# its run to the suite's time; twenty took 112 s.
JOBS = 12
# Generous: the portal, the model server and one pipeline run at a time (~150 MB each), plus
# kfp.local's task processes. A leak per job would show against it.
MAX_TREE_RSS_MB = 2500


def _tree_rss_mb(root: psutil.Process) -> float:
    total = 0
    for process in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += process.memory_info().rss
    return total / 1e6


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 20 else max(samples)


def test_a_dozen_jobs_at_once_complete_while_the_portal_answers(tmp_path):
    clip = make_clip(tmp_path / "tiny.mp4", seconds=1, size="96x64")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "STEREO_SPOT_SEGMENT_SECONDS": "10"}
    env.pop("STEREO_SPOT_MODEL_URL", None)
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115
    up = subprocess.Popen(
        ["stereo-spot", "up", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    tree = psutil.Process(up.pid)
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (tmp_path / "up.log").read_text()
                time.sleep(0.5)

            # Submit them all at once: create, upload, start — from parallel threads.
            job_ids: list[str] = []
            errors: list[str] = []

            def submit() -> None:
                try:
                    created = http.post("/api/jobs", json={"layout": "sbs"}).json()
                    target = created["upload"]
                    with open(clip, "rb") as handle:
                        sent = http.post(
                            target["url"],
                            data=target["fields"],
                            files={"file": ("tiny.mp4", handle, "video/mp4")},
                        )
                    assert sent.status_code == 204, sent.text
                    job_id = created["job"]["job_id"]
                    started = http.post(f"/api/jobs/{job_id}/start")
                    assert started.status_code == 202, started.text
                    job_ids.append(job_id)
                except Exception as error:  # collected and asserted below
                    errors.append(repr(error))

            started_at = time.monotonic()
            threads = [threading.Thread(target=submit) for _ in range(JOBS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert not errors and len(job_ids) == JOBS, errors

            # Meanwhile: page and status latency, and the memory of the whole tree.
            page_ms: list[float] = []
            status_ms: list[float] = []
            peak_rss = 0.0
            statuses: dict[str, str] = {}
            index = 0
            while time.monotonic() - started_at < 360:
                peak_rss = max(peak_rss, _tree_rss_mb(tree))
                t0 = time.perf_counter()
                assert http.get("/").status_code == 200
                page_ms.append((time.perf_counter() - t0) * 1000)
                job_id = job_ids[index % JOBS]
                index += 1
                t0 = time.perf_counter()
                answer = http.get(f"/api/jobs/{job_id}")
                status_ms.append((time.perf_counter() - t0) * 1000)
                statuses[job_id] = answer.json()["status"]
                if len(statuses) == JOBS and all(
                    s in ("completed", "failed") for s in statuses.values()
                ):
                    break
                time.sleep(0.2)
            wall = time.monotonic() - started_at

            for job_id in job_ids:
                job = http.get(f"/api/jobs/{job_id}").json()
                assert job["status"] == "completed", (job["job_id"], job["error"])
            frames = int(video_stream(probe(clip))["nb_read_packets"])
            for job_id in job_ids:
                result = tmp_path / "data" / "media" / "jobs" / job_id / "final.mp4"
                out = video_stream(probe(result))
                assert int(out["nb_read_packets"]) == frames
                assert (int(out["width"]), int(out["height"])) == (192, 64)
    finally:
        children = tree.children(recursive=True)
        up.terminate()  # SIGTERM, as a service manager stops it
        try:
            up.wait(30)
        except subprocess.TimeoutExpired:
            up.kill()
        log.close()
    assert up.returncode == 0, (tmp_path / "up.log").read_text()
    # The model server and the runner stop with it; none is left running on its own.
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, [process.cmdline() for process in alive]

    report = (
        f"{JOBS} jobs (1 s, 96x64, sbs) in {wall:.0f} s; peak RSS of the stack "
        f"{peak_rss:.0f} MB; GET / p50 {statistics.median(page_ms):.0f} ms, "
        f"p95 {_p95(page_ms):.0f} ms ({len(page_ms)} requests); GET /api/jobs/{{id}} "
        f"p50 {statistics.median(status_ms):.0f} ms, p95 {_p95(status_ms):.0f} ms"
    )
    print("\nportal under load:", report)
    (Path(os.environ.get("STEREO_SPOT_LOAD_REPORT", tmp_path / "load.txt"))).write_text(report)
    assert peak_rss < MAX_TREE_RSS_MB, report
