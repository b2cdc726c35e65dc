"""Stage 2 — convert: one KServe request per segment; the model server writes the result."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import httpx

from components.failures import reason_recorded
from stereo_spot import keys
from stereo_spot.domain import JobStatus
from stereo_spot.errors import StereoSpotError
from stereo_spot.jobs import JobStore
from stereo_spot.storage import ObjectStorage

log = logging.getLogger(__name__)

# A StereoCrafter segment on a 24 GB card can take most of an hour; the cluster's InferenceService
# timeout (manifests/base/inferenceservice.yaml) and Knative's limit (terraform/platform) match.
# The default of STEREO_SPOT_SEGMENT_TIMEOUT_SECONDS, which a machine converting with a
# full-size diffusion model on its CPU raises.
REQUEST_TIMEOUT_SECONDS = 3600


# How long the step waits before asking an unavailable model server again: three more tries
# over 70 s, the backoff the task's KFP retry policy had when it alone retried. Kept here, in
# the step, so the try that gives up is known (KFP tells a task neither its attempt number nor
# whether another follows, under Argo or kfp.local), and that try fails the job with the reason:
# the loop's other segments then skip at once instead of each spending the same 70 s (with
# kfp.local running them one or two at a time, a run with the server down took as long again
# for each further pair of segments). KFP's own retries stay for faults of the task's pod.
UNAVAILABLE_RETRY_SECONDS: tuple[float, ...] = (10.0, 20.0, 40.0)


class SegmentFailed(StereoSpotError):
    """The model server refused the segment (a fault in the input, not worth retrying)."""


class ModelUnavailable(StereoSpotError):
    """The model server could not be reached or failed (HTTP 5xx, no answer in time)."""


def convert_segment(
    job_id: str,
    segment: dict,
    layout: str,
    params: dict,
    engine: str,
    model_url: str,
    model_name: str,
    storage: ObjectStorage,
    jobs: JobStore,
    wait_seconds: float = 0.0,
    answer_seconds: float = REQUEST_TIMEOUT_SECONDS,
    retry_seconds: Sequence[float] = UNAVAILABLE_RETRY_SECONDS,
) -> str:
    """Have the model server convert one segment; returns the converted segment's URI.

    A server that is not listening yet is waited for up to ``wait_seconds``: the local launcher
    starts it beside the chunk step, so the first segments often arrive while it still loads
    its weights. Its answer is waited for up to ``answer_seconds``.

    Skips the request when the converted segment already exists (a resumed run), or when the
    job has failed (another segment failed it). Refusals (HTTP 4xx) fail the job with the
    server's reason. A server that cannot be reached, fails (5xx) or does not answer in time is
    asked again after each of ``retry_seconds``; past the last, the job fails with the reason
    (SegmentFailed), so the rest of the run skips its segments and ends.
    """
    index = int(segment["segment_index"])
    with reason_recorded(jobs, job_id, f"Converting segment {index}"):
        if _job_has_failed(jobs, job_id, index):
            return segment["output_uri"]
        output_key = keys.converted_segment_key(job_id, index)
        if storage.exists(output_key):
            log.info("job %s segment %d: already converted", job_id, index)
            jobs.mark_segment_done(job_id, index)
            return segment["output_uri"]

        instance = {
            "job_id": job_id,
            "segment_index": index,
            "input_uri": segment["input_uri"],
            "output_uri": segment["output_uri"],
            "layout": layout,
            "params": params,
            "engine": engine,
        }
        url = f"{model_url.rstrip('/')}/v1/models/{model_name}:predict"
        delays = list(retry_seconds)
        while True:
            try:
                response = _asked(url, instance, model_url, index, wait_seconds, answer_seconds)
                break
            except ModelUnavailable as unavailable:
                if not delays:
                    reason = str(unavailable)
                    if retry_seconds:
                        reason = (
                            f"{reason.rstrip('.')} (asked {len(retry_seconds) + 1} times over "
                            f"{sum(retry_seconds):g} s)."
                        )
                    jobs.transition(job_id, JobStatus.FAILED, error=reason)
                    raise SegmentFailed(reason) from None
                delay = delays.pop(0)
                log.warning(
                    "job %s segment %d: %s; asking again in %g s",
                    job_id, index, str(unavailable).rstrip("."), delay,
                )  # fmt: skip
                jobs.update(job_id, error=str(unavailable))  # what a stopped run would say
                time.sleep(delay)
                if _job_has_failed(jobs, job_id, index):
                    return segment["output_uri"]
                # Waited for once (a server still starting); from now on a retry asks once.
                wait_seconds = 0.0
        if 400 <= response.status_code < 500:
            reason = f"Segment {index} could not be converted: {_reason(response)}"
            jobs.transition(job_id, JobStatus.FAILED, error=reason)
            raise SegmentFailed(reason)
        prediction = response.json()["predictions"][0]
        damaged = int(prediction.get("damaged_frames") or 0)
        if damaged:
            log.warning(
                "job %s segment %d: %d damaged pictures stood in for", job_id, index, damaged
            )
        jobs.mark_segment_done(job_id, index, damaged_frames=damaged)
        return prediction["output_uri"]


def _job_has_failed(jobs: JobStore, job_id: str, index: int) -> bool:
    """Whether another segment failed the job: converting this one is wasted work, and raising
    would only make KFP retry it with backoff. Reassembly refuses a failed job, so the run
    still ends failed."""
    if jobs.get(job_id).status is not JobStatus.FAILED:
        return False
    log.info("job %s segment %d: skipped, the job has failed", job_id, index)
    return True


def _asked(
    url: str,
    instance: dict,
    model_url: str,
    index: int,
    wait_seconds: float,
    answer_seconds: float,
) -> httpx.Response:
    """The server's answer to one request: 200 or a refusal (4xx); ModelUnavailable when it
    could not be reached, did not answer in time or failed (5xx)."""
    try:
        response = _post_when_listening(
            url, {"instances": [instance]}, wait_seconds, answer_seconds
        )
    except httpx.TimeoutException:
        raise ModelUnavailable(
            f"The model server at {model_url} did not answer for segment {index} within "
            f"{answer_seconds:g} s (STEREO_SPOT_SEGMENT_TIMEOUT_SECONDS)."
        ) from None
    except httpx.HTTPError as error:
        raise ModelUnavailable(
            f"The model server at {model_url} could not be reached ({type(error).__name__})."
        ) from None
    if response.status_code != 200 and not 400 <= response.status_code < 500:
        raise ModelUnavailable(f"The model server failed on segment {index}: {_reason(response)}")
    return response


def _post_when_listening(
    url: str, body: dict, wait_seconds: float, answer_seconds: float = REQUEST_TIMEOUT_SECONDS
) -> httpx.Response:
    """POST, retrying while nothing listens at ``url`` yet (a refused connection sent nothing,
    so trying again cannot convert a segment twice)."""
    deadline = time.monotonic() + wait_seconds
    # One client for the attempts: a new one per attempt (httpx.post) builds an SSL context
    # each time, which made a waiting step burn 15 % of a core beside the starting server.
    with httpx.Client(timeout=answer_seconds) as client:
        while True:
            try:
                return client.post(url, json=body)
            except httpx.ConnectError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error") or response.text).strip()
    except ValueError:
        return response.text.strip()[:300] or f"HTTP {response.status_code}"
