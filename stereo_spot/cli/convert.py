"""``stereo-spot convert``: the whole pipeline on this machine, with a progress bar."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from stereo_spot import keys
from stereo_spot.cli.follow_run import (
    ModelServerFailed,
    ModelServerHandle,
    model_server,
    run_with_progress,
)
from stereo_spot.cli.outputs import (
    default_output,
    fetch_result,
    names_a_file,
    plan_outputs,
    say_if_replaced,
    say_written,
)
from stereo_spot.cli.stereo_options import (
    DATA_DIR_DEFAULT,
    add_encoding_options,
    add_part_options,
    add_stereo_options,
    data_folder,
    part_from,
    segment_seconds,
    stereo_params_from,
)
from stereo_spot.disk_space import (
    ROOM_NEEDED,
    DiskFull,
    free_bytes,
    in_words,
    is_out_of_space,
    ran_out,
)
from stereo_spot.domain import (
    ENGINE_NAMES,
    Job,
    JobStatus,
    Layout,
    Part,
    StereoParams,
    clock,
)
from stereo_spot.errors import (
    InputRejected,
    StereoSpotError,
    TransitionConflict,
)
from stereo_spot.jobs import JobStore
from stereo_spot.jobs import delete as delete_job
from stereo_spot.settings import Settings
from stereo_spot.storage import ObjectStorage
from stereo_spot.wiring import job_store_from, storage_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert a video to 3D on this machine",
        description="Convert a 2D video to stereoscopic 3D through the whole pipeline, locally.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="input",
        help="the video to convert; several are converted one after another by one model server",
    )
    parser.add_argument(
        "-o",
        "--output",
        help="output file, or a folder to write into (one that exists, or any ending in /); "
        "default: next to the input, its name + the layout's tag",
    )
    add_stereo_options(parser)
    parser.add_argument("--engine", choices=ENGINE_NAMES, default=None, help="default: classical")
    parser.add_argument(
        "--segment-seconds",
        type=segment_seconds,
        default=None,
        help="segment length in seconds (default 10)",
    )
    parser.add_argument(
        "--data-dir",
        type=data_folder,
        help=f"where jobs, media and logs are kept ({DATA_DIR_DEFAULT})",
    )
    add_encoding_options(parser)
    add_part_options(parser)
    parser.set_defaults(func=run_convert)


def run_convert(args: argparse.Namespace) -> int:
    settings = Settings()
    if args.data_dir:
        settings = settings.model_copy(update={"data_dir": args.data_dir.resolve()})
    if args.engine:
        settings = settings.model_copy(update={"engine": args.engine})
    layout = Layout(args.layout)
    params = stereo_params_from(args)
    part = part_from(args)
    plan = plan_outputs(
        args.inputs,
        args.output,
        layout,
        preview=args.preview,
        anaglyph_mode=params.anaglyph_mode,
        part=part,
    )
    failed: list[Path] = []
    # Results named after their inputs are named after the part converted, once it is known:
    # one ending at a time past the video's end is named after the video's end.
    named_late = not names_a_file(args.output) and part is not None and part.end is not None
    taken = {path.resolve() for pair in plan for path in pair}
    # The model server loads while the first upload is stored and probed and its run chunks
    # it, and one server converts every video: its start is paid once.
    with model_server(settings) as (settings, server):
        conversion = _Conversion(
            layout,
            params,
            settings,
            args.segment_seconds,
            part,
            args.preview,
            storage_from(settings),
            job_store_from(settings),
        )
        ahead = _StartedAhead(conversion)
        try:
            for number, (source, output) in enumerate(plan, start=1):
                if len(plan) > 1:
                    print(f"[{number}/{len(plan)}] {source}", file=sys.stderr)
                last = number == len(plan)
                try:
                    started = ahead.take(source, output)
                    if named_late:
                        output = conversion.named_after_the_part(source, output, started, taken)
                    # Said once the video is past its refusals (an engine without its weights,
                    # a file that is not a video): a refusal replaces nothing.
                    say_if_replaced(output)
                    conversion.finish(
                        started,
                        output,
                        server if last else _KeptForTheNextVideo(server),
                        # The next video starts while this one is joined.
                        when_joining=None if last else partial(ahead.start, *plan[number]),
                    )
                except ModelServerFailed:
                    raise
                except StereoSpotError as error:
                    if len(plan) == 1:
                        raise
                    # One bad video does not cost the others their conversion.
                    print(f"stereo-spot: {source}: {error}", file=sys.stderr)
                    failed.append(source)
        finally:
            ahead.stop()  # Ctrl-C, or a server that failed: no run outlives the command
    if failed:
        names = ", ".join(str(source) for source in failed)
        print(
            f"stereo-spot: {len(plan) - len(failed)} of {len(plan)} videos converted; "
            f"failed: {names}.",
            file=sys.stderr,
        )
        return 1
    return 0


@dataclass(frozen=True)
class _Conversion:
    """What every video of one ``convert`` command is converted with."""

    layout: Layout
    params: StereoParams
    settings: Settings
    segment_seconds: float | None
    part: Part | None  # of each video, or None for the whole
    preview: bool
    storage: ObjectStorage
    jobs: JobStore

    def start(self, source: Path, output: Path) -> _Started:
        """Store and probe ``source`` (or the preview of it asked for) as a new job for
        ``output`` and start its run, which converts the part asked for, if one was."""
        # Imported here (PyAV): `convert` starts the model server before it needs the media code.
        from pipelines.local_runner import start_job_process, stop_job_process
        from stereo_spot.media.excerpt import cut_preview, preview_sound_note
        from stereo_spot.media.probe import probe_source

        with contextlib.ExitStack() as stack, self._picture_pointed_to_image(source, output):
            within = whole = None
            name = source.name
            if self.preview:
                workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix="preview-"))
                whole = probe_source(source, self.settings)
                within = self.part.in_video_of(whole.duration) if self.part else None
                # Named as the portal names its previews (holiday_preview.mp4): jobs list, the
                # job's page and its download say it is one, not the whole video.
                name = preview_name(source, within)
                source = cut_preview(source, Path(workdir), self.settings, within, whole)
            refuse_what_cannot_fit(source, self.settings.data_dir)
            job = submit_job(
                source, self.layout, self.params, self.settings.engine,
                self.storage, self.jobs, self.settings, None if self.preview else self.part,
                preview_within=within, name=name,
            )  # fmt: skip
        self._record_for_retry(job.job_id, output)
        converted = within if self.preview else job.part
        video = whole or job.source
        process, log_path = start_job_process(self.settings, job.job_id, self.segment_seconds)
        try:
            notes = [job.source.left_out if job.source else None]
            if self.part is not None and converted != self.part and video is not None:
                notes.append(
                    f"The video ends at {clock(video.duration)}, before the end asked for "
                    f"({clock(self.part.end or 0)}): the part is converted to its end."
                )
            if self.preview and whole is not None:
                notes.append(preview_sound_note(whole, output))
            note = " ".join(filter(None, notes)) or None
            # A preview's excerpt is gone by now, and its audio is the MP4's already; a part's
            # result takes what the MP4 could not hold from the part the run cut and stored.
            original = None if self.preview or self.part else source
            return _Started(job.job_id, name, process, log_path, note, original, converted)
        except BaseException:
            # Ctrl-C (or SIGTERM) between the runner's start and its hand-over: nobody else
            # knows of it to stop it.
            stop_job_process(process, log_path)
            raise

    @contextlib.contextmanager
    def _picture_pointed_to_image(self, source: Path, output: Path) -> Iterator[None]:
        """A still picture refused as no video, said with the command that turns it into 3D as
        asked (the layout and stereo options given, beside the planned output, as a PNG): a note
        beside the refusal, which stays the one sentence the job records and the portal shows
        (its users have no command line)."""
        from stereo_spot.media.probe import StillPicture

        try:
            yield
        except StillPicture:
            print(
                f"note: {source} is a picture; turn it into 3D with: "
                f"{shlex.join(self._image_command(source, output.with_suffix('.png')))}",
                file=sys.stderr,
            )
            raise

    def _image_command(self, source: Path, output: Path) -> list[str]:
        """``stereo-spot image`` with this conversion's layout and stereo options, where they
        are not the defaults."""
        defaults, params = StereoParams(), self.params
        command = ["stereo-spot", "image", str(source)]
        if self.layout is not Layout.ANAGLYPH:
            command += ["--layout", self.layout.value]
        elif params.anaglyph_mode is not defaults.anaglyph_mode:
            command += ["--anaglyph-mode", params.anaglyph_mode.value]
        for name in ("divergence", "convergence"):
            if getattr(params, name) != getattr(defaults, name):
                command += [f"--{name}", f"{getattr(params, name):g}"]
        if params.edges_at_screen:
            command.append("--edges-at-screen")
        return [*command, "-o", str(output)]

    def named_after_the_part(
        self, source: Path, planned: Path, started: _Started, taken: set[Path]
    ) -> Path:
        """Where the result of ``source`` named after it goes: ``planned`` (named after the
        part asked for), or, where the video ends before the end asked for, the name of the part
        as converted (``_0m00s-end``, not ``_0m00s-1m39s``), unless another input or result has
        that name."""
        if started.part == self.part:
            return planned
        mode = self.params.anaglyph_mode
        named = default_output(source, self.layout, self.preview, mode, started.part)
        target = planned.with_name(named.name)
        if target.resolve() in taken:
            return planned
        return target

    def _record_for_retry(self, job_id: str, output: Path) -> None:
        """What ``jobs retry`` resumes the job with: where its result goes, and its segments'
        length. Recorded as the job is made, so that a run stopped before it was followed (a
        batch's next video, started ahead) is resumed as this command would have finished it,
        and is listed as stopped, not queued for a run nobody will start."""
        with contextlib.suppress(TransitionConflict):  # a run that already ended keeps its say
            self.jobs.update(
                job_id, output_path=str(output.resolve()), segment_seconds=self.segment_seconds
            )

    def finish(
        self,
        started: _Started,
        output: Path,
        server: ModelServerHandle,
        when_joining: Callable[[], None] | None = None,
    ) -> None:
        """Follow a started run to its end and write its 3D version to ``output``."""
        try:
            print(
                f"job {started.job_id}: converting {started.name} to {self.layout.value}",
                file=sys.stderr,
            )
            if started.note:
                print(f"note: {started.note}", file=sys.stderr)
            self._record_for_retry(started.job_id, output)  # named after the part since, maybe
            run_with_progress(
                self.settings, started.job_id, self.segment_seconds, server,
                started=(started.process, started.log_path), when_joining=when_joining,
            )  # fmt: skip
        except KeyboardInterrupt:
            print(
                f"job {started.job_id} stopped; resume it (it writes {output} when it is "
                f"done) with: stereo-spot jobs retry {started.job_id}",
                file=sys.stderr,
            )
            raise
        job = self.jobs.get(started.job_id)
        fetch_result(self.storage, job, output, started.source)
        say_written(output, job)


@dataclass(frozen=True)
class _Started:
    """A video whose job is queued and whose run has started."""

    job_id: str
    name: str
    process: subprocess.Popen
    log_path: Path
    note: str | None = None  # what of the source the result leaves out
    source: Path | None = None  # the file converted, where it is still there to read
    part: Part | None = None  # the part converted (of a preview: the part it is taken from)


class _StartedAhead:
    """The next video of a ``convert``, started while the one before it is joined.

    Joining is mostly stream copies and leaves the CPUs idle, and a run's start (the runner's
    imports, the chunk step) is ~1-2 s of CPU: overlapped, a batch saves that much a video. A
    video that cannot be started is reported at its turn, in order.
    """

    def __init__(self, conversion: _Conversion) -> None:
        self._conversion = conversion
        # The next video's run, or why it could not start; None when nothing was started ahead.
        self._ahead: _Started | StereoSpotError | None = None
        # The run last handed over to be followed (its follower stops it when interrupted).
        self._handed_over: _Started | None = None

    def start(self, source: Path, output: Path) -> None:
        try:
            self._ahead = self._conversion.start(source, output)
        except StereoSpotError as error:
            self._ahead = error

    def take(self, source: Path, output: Path) -> _Started:
        """The run of ``source``, the next video: the one started ahead, or one started now."""
        ahead = self._ahead
        if isinstance(ahead, StereoSpotError):
            self._ahead = None
            raise ahead
        # Handed over before it stops being ahead: an interrupt in between finds it either way.
        self._handed_over = ahead or self._conversion.start(source, output)
        self._ahead = None
        return self._handed_over

    def stop(self) -> None:
        """Stop a run started ahead that no one will follow, and the one handed over if it
        still runs: an interrupt that came before its follower began to follow it (a moment
        that a loaded machine makes longer) would have left it converting after the command
        had ended. Their jobs stay resumable, listed as stopped, and the one started ahead,
        which nothing had named yet, is said to be so."""
        from pipelines.local_runner import mark_run_stopped, stop_job_process

        settings = self._conversion.settings
        ahead = self._ahead
        if isinstance(ahead, _Started):
            stop_job_process(ahead.process, ahead.log_path)
            mark_run_stopped(settings, ahead.job_id)
            print(
                f"job {ahead.job_id} ({ahead.name}, the next video) stopped before it was "
                f"converted; resume it with: stereo-spot jobs retry {ahead.job_id}",
                file=sys.stderr,
            )
        # Only while it runs: a runner that has ended may have its process group's number
        # given to another by now.
        handed_over = self._handed_over
        if handed_over is not None and handed_over.process.poll() is None:
            stop_job_process(handed_over.process, handed_over.log_path)
            mark_run_stopped(settings, handed_over.job_id)
        self._ahead = self._handed_over = None


LARGER_DISK = "or convert with --data-dir on a larger disk"


def preview_name(source: Path, within: Part | None = None) -> str:
    """The name of a preview's job: ``holiday_preview.mkv``, or for a preview of a part
    ``holiday_0m30s-1m00s_preview.mkv``, as the portal names the previews it makes."""
    tag = (within.filename_tag if within else "") + "_preview"
    return source.with_name(f"{source.stem}{tag}{source.suffix}").name


def submit_job(
    source: Path,
    layout: Layout,
    params: StereoParams,
    engine: str,
    storage: ObjectStorage,
    jobs: JobStore,
    settings: Settings | None = None,
    part: Part | None = None,
    preview_within: Part | None = None,
    name: str | None = None,
) -> Job:
    """Create the job record, store the source, probe it and queue it; its run converts only
    ``part`` of it, if one is given. A preview's record says the part it was taken from. The
    job is named ``name`` (default: the source's file name).

    A source that is not a usable video fails the job with the probe's reason before any run
    starts (as the portal's start does): a refusal is final, and a pipeline run would only
    spend the chunk step's retries on it.
    """
    # Imported here (PyAV, numpy): `convert` starts the model server before it needs them.
    from stereo_spot.media.excerpt import part_bounds, read_for_part
    from stereo_spot.media.probe import probe_source

    # A part past the video's end refused before a job is made and a film copied (gigabytes).
    read = None if part is None else read_for_part(source, part, settings or Settings())
    job = jobs.create(
        Job(
            layout=layout,
            params=params,
            engine=engine,
            source_name=name or source.name,
            part=part,
            preview_within=preview_within,
        )
    )
    try:
        storage.put_file(source, keys.source_key(job.job_id))
    except BaseException as error:
        # A full disk, a bucket that does not exist, or Ctrl-C while a long film was copied:
        # nothing of the job is stored, and its record would only be litter in `jobs list`
        # that no retry could convert.
        try:
            delete_job(jobs, storage, job.job_id)
        except Exception:
            # The storage that refused the source may refuse to delete under it too (a bucket
            # that does not exist): the record goes all the same.
            with contextlib.suppress(Exception):
                jobs.delete(job.job_id)
        if isinstance(error, Exception) and is_out_of_space(error):
            folder = (settings or Settings()).data_dir
            raise DiskFull(ran_out(f"Storing {source.name}", folder, then=LARGER_DISK)) from None
        raise
    jobs.transition(job.job_id, JobStatus.UPLOADED)
    try:
        info = read or probe_source(source, settings or Settings())
        if part is not None:
            part_bounds(info, part)  # a part past the video's end is refused before any run
    except InputRejected as rejected:
        jobs.transition(job.job_id, JobStatus.FAILED, error=str(rejected))
        raise
    # An end past the video's end is converted to its end: the job says so (jobs list, the
    # result's name, a retry's), not the time asked for.
    converted = {"part": part.in_video_of(info.duration)} if part is not None else {}
    return jobs.transition(job.job_id, JobStatus.QUEUED, source=info, **converted)


def refuse_what_cannot_fit(source: Path, data_dir: Path) -> None:
    """Refuse a video the data folder's disk cannot even store, before anything is written;
    say so when it has less room than a conversion of it takes at its peak (a rough figure:
    the conversion may still fit)."""
    free = free_bytes(data_dir)
    if free is None:
        return
    size = source.stat().st_size
    needed = ROOM_NEEDED * size
    if free < size:
        raise DiskFull(
            f"{source.name} ({in_words(size)}) does not fit in the data folder {data_dir}: its "
            f"disk has {in_words(free)} left, and converting the video takes about "
            f"{in_words(needed)}. Free some space, {LARGER_DISK}."
        )
    if free < needed:
        print(
            f"note: the data folder {data_dir} has {in_words(free)} left; converting "
            f"{source.name} ({in_words(size)}) takes up to about {in_words(needed)} there.",
            file=sys.stderr,
        )


class _KeptForTheNextVideo:
    """A server that more videos will need: the run's release of it is ignored."""

    def __init__(self, server: ModelServerHandle) -> None:
        self._server = server

    def raise_if_failed(self) -> None:
        self._server.raise_if_failed()

    def release(self) -> None:
        pass
