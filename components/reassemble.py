"""Stage 3 — reassemble: join the converted segments, put the source audio back, publish."""

from __future__ import annotations

import json
import logging
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from components.failures import reason_recorded
from stereo_spot import keys
from stereo_spot.disk_space import blame_a_full_disk, full_disk_said, is_out_of_space
from stereo_spot.domain import Job, JobStatus
from stereo_spot.errors import InputRejected, StereoSpotError
from stereo_spot.jobs import JobStore, drop_segments
from stereo_spot.media.assemble import concat_and_mux
from stereo_spot.media.ffmpeg_run import MediaError
from stereo_spot.media.preview import write_preview
from stereo_spot.media.probe import count_video_frames
from stereo_spot.media.tracks import export_text_tracks
from stereo_spot.storage import ObjectStorage

log = logging.getLogger(__name__)


class ReassemblyFailed(StereoSpotError):
    """The joined result does not match the source (frames lost or added)."""


JOINING = "Joining the segments"


class ResultNotStored(StereoSpotError):
    """Storage refused the result (a storage outage, a key that cannot be written)."""


def reassemble_job(job_id: str, source_uri: str, storage: ObjectStorage, jobs: JobStore) -> dict:
    """Write ``jobs/{job_id}/final.mp4`` and its preview; returns the run's figures."""
    with reason_recorded(jobs, job_id, JOINING):
        job = jobs.get(job_id)
        final = keys.final_key(job_id)
        if job.status is JobStatus.COMPLETED and storage.exists(final):
            return _figures(job, storage.size(final))
        if job.status is JobStatus.FAILED:
            raise ReassemblyFailed(job.error or "The job has failed.")
        jobs.transition(job_id, JobStatus.REASSEMBLING)
        converted = job.converted_source  # the part's probe, for a part
        with tempfile.TemporaryDirectory(prefix="stereo-reassemble-") as tmp:
            workdir = Path(tmp)
            # A part's sound is that of the part the chunk step cut, at the part's times.
            source_key = (
                keys.part_key(job_id) if job.cuts_its_source else storage.key_from_uri(source_uri)
            )
            source = storage.get_file(source_key, workdir / "source.mp4", read_only=True)
            segments = [
                storage.get_file(
                    keys.converted_segment_key(job_id, i),
                    workdir / f"seg-{i:05d}.mp4",
                    read_only=True,
                )
                for i in range(job.total_segments)
            ]
            result = workdir / "final.mp4"
            try:
                with full_disk_said(JOINING):
                    concat_and_mux(
                        segments, source, result, workdir / "concat",
                        layout=job.layout, codec=job.params.codec,
                        video_stream=converted.video_stream if converted else 0,
                        picture_delay=converted.first_picture_delay if converted else 0.0,
                    )  # fmt: skip
            except (MediaError, InputRejected) as error:
                # ffmpeg refusing the streams, or a segment that cannot be read, is no passing
                # fault: fail the job with its reason (the exit handler knew only that a task had
                # failed).
                reason = f"The segments could not be joined with the source's sound: {error}"
                jobs.transition(job_id, JobStatus.FAILED, error=reason)
                raise ReassemblyFailed(reason) from None
            # The preview still is cut (an ffmpeg process) while the frames are counted here.
            with ThreadPoolExecutor(max_workers=1) as pool:
                preview_cut = pool.submit(
                    write_preview,
                    result,
                    workdir / "preview.jpg",
                    duration=converted.duration if converted else None,
                )
                frames = count_video_frames(result)
                expected = converted.frames if converted else frames
                if frames != expected:
                    blame_a_full_disk(JOINING)  # a result a full disk cut short
                    reason = f"The joined video has {frames} frames instead of {expected}."
                    jobs.transition(job_id, JobStatus.FAILED, error=reason)
                    raise ReassemblyFailed(reason)
                preview = preview_cut.result()
            # Browsers show no text track from inside an MP4: the player is handed these.
            subtitles = export_text_tracks(result, workdir / "subtitles", "webvtt", ".vtt")
            subtitles = subtitles[: keys.MAX_SUBTITLE_TRACKS]
            size = result.stat().st_size
            try:
                storage.put_file(preview, keys.preview_key(job_id), "image/jpeg", move=True)
                for number, (vtt, _) in enumerate(subtitles):
                    storage.put_file(vtt, keys.subtitles_key(job_id, number), "text/vtt", move=True)
                # The final object goes last: its presence means the job's outputs are complete.
                storage.put_file(result, final, move=True)
            except Exception as error:
                if is_out_of_space(error):
                    raise  # said as such, with where and how much is left
                cause = getattr(error, "strerror", None) or type(error).__name__
                raise ResultNotStored(f"The result could not be stored ({cause}).") from error
        job = jobs.transition(
            job_id, JobStatus.COMPLETED, error=None, subtitles=[track for _, track in subtitles]
        )
        _drop_segments(job_id, storage)
        return _figures(job, size)


def _drop_segments(job_id: str, storage: ObjectStorage) -> None:
    """Delete the job's source and converted segments once its result is stored: nothing reads
    them after (a completed job is not resumed; converting again splits its source anew), and
    they hold the video twice over, as much again as the source and the result together."""
    try:
        drop_segments(storage, job_id)
    except Exception:  # the result stands; the bucket's lifecycle rule expires them anyway
        log.warning("job %s: its segments were not deleted", job_id, exc_info=True)


def _figures(job: Job, size: int) -> dict:
    source = job.converted_source
    figures = {
        "segments": job.total_segments,
        "frames": source.frames if source else 0,
        "duration_seconds": round(source.duration, 3) if source else 0.0,
        "output_megabytes": round(size / 1e6, 3),
    }
    if job.completed_at and job.created_at:
        figures["wall_seconds"] = round((job.completed_at - job.created_at).total_seconds(), 2)
    return figures


def render_preview_html(job_id: str, figures: dict, storage: ObjectStorage) -> str:
    """A small page for the KFP UI: the preview frame and the run's figures."""
    import base64

    with tempfile.TemporaryDirectory() as tmp:
        image = storage.get_file(keys.preview_key(job_id), Path(tmp) / "preview.jpg")
        encoded = base64.b64encode(image.read_bytes()).decode()
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in figures.items())
    return (
        "<!doctype html><html><body style='font-family:sans-serif'>"
        f"<h2>Stereo-Spot job {job_id}</h2>"
        f"<img alt='preview' style='max-width:100%' src='data:image/jpeg;base64,{encoded}'>"
        f"<table>{rows}</table><pre>{json.dumps(figures)}</pre></body></html>"
    )
