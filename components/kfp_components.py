"""The KFP component shells: typed inputs and outputs, imports inside, one call into the stage.

KFP ships only each function's source to the task's container, so every import a shell needs
sits in its body; the stage logic lives in components/<stage>.py and is tested without KFP.

``install_kfp_package=False``: the component image already holds the project's pinned kfp, so a
task does not start with ``pip install kfp`` (a no-op that still costs ~0.5 s a task, needs an
index on a cluster without the package, and makes kfp.local run the loop's steps one at a time).
"""

import functools

from kfp import dsl
from kfp.dsl import HTML, Metrics, Output

from components.image import COMPONENT_IMAGE

component = functools.partial(dsl.component, base_image=COMPONENT_IMAGE, install_kfp_package=False)


@component
def chunk_op(
    job_id: str,
    source_uri: str,
    layout: str,
    segment_seconds: float,
    divergence: float,
    convergence: float,
    anaglyph_mode: str,
    edges_at_screen: bool,
    engine: str,
    chroma: str = "420",
    codec: str = "h264",
    crf: int = 18,
    preset: str = "veryfast",
    max_height: int = 0,
) -> list:
    from components.chunk import chunk_source
    from stereo_spot.settings import Settings
    from stereo_spot.wiring import job_store_from, storage_from

    settings = Settings().for_pipeline_steps()
    # The run's settings, checked against the job's record before anything is split.
    asked = {
        "divergence": divergence,
        "convergence": convergence,
        "anaglyph_mode": anaglyph_mode,
        "edges_at_screen": edges_at_screen,
        "chroma": chroma,
        "codec": codec,
        "crf": crf,
        "preset": preset,
        "max_height": max_height,
        "engine": engine,
    }
    return chunk_source(
        job_id, source_uri, layout, segment_seconds,
        storage_from(settings), job_store_from(settings), settings, asked,
    )  # fmt: skip


@component
def convert_op(
    job_id: str,
    segment: dict,
    layout: str,
    divergence: float,
    convergence: float,
    anaglyph_mode: str,
    edges_at_screen: bool,
    engine: str,
    model_url: str,
    chroma: str = "420",
    codec: str = "h264",
    crf: int = 18,
    preset: str = "veryfast",
    max_height: int = 0,
) -> str:
    from components.convert import convert_segment
    from stereo_spot.settings import Settings
    from stereo_spot.wiring import job_store_from, storage_from

    settings = Settings().for_pipeline_steps()
    params = {
        "divergence": divergence,
        "convergence": convergence,
        "anaglyph_mode": anaglyph_mode,
        "edges_at_screen": edges_at_screen,
        "chroma": chroma,
        "codec": codec,
        "crf": crf,
        "preset": preset,
    }
    if max_height:  # 0: the source's size (KFP has no optional integers)
        # Sent only when asked, so a model server older than the option still takes the rest.
        params["max_height"] = max_height
    return convert_segment(
        job_id, segment, layout, params, engine,
        model_url or settings.model_url or "", settings.model_name,
        storage_from(settings), job_store_from(settings), settings.model_wait_seconds,
        settings.segment_timeout_seconds,
    )  # fmt: skip


@component
def reassemble_op(
    job_id: str, source_uri: str, converted: list, metrics: Output[Metrics], preview: Output[HTML]
) -> str:
    from components.reassemble import reassemble_job, render_preview_html
    from stereo_spot.settings import Settings
    from stereo_spot.wiring import job_store_from, storage_from

    settings = Settings().for_pipeline_steps()
    storage = storage_from(settings)
    figures = reassemble_job(job_id, source_uri, storage, job_store_from(settings))
    for name, value in figures.items():
        metrics.log_metric(name, value)
    with open(preview.path, "w") as html:
        html.write(render_preview_html(job_id, figures, storage))
    from stereo_spot import keys

    return storage.uri_for(keys.final_key(job_id))


@component
def finalize_op(job_id: str, status: dsl.PipelineTaskFinalStatus) -> str:
    from components.finalize import finalize_job
    from stereo_spot.settings import Settings
    from stereo_spot.wiring import job_store_from, storage_from

    settings = Settings().for_pipeline_steps()
    return finalize_job(
        job_id, status.state, status.error_message or "",
        job_store_from(settings), storage_from(settings),
    )  # fmt: skip
