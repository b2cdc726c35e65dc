"""Where ``stereo-spot convert`` (and ``submit --wait``) writes results on this machine, and how.

Outputs are planned for every input before anything is converted, so what would lose or
overwrite a file is refused at once; results are written atomically, in the container the
output's name asks for.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from stereo_spot import keys
from stereo_spot.atomic_files import replaced_whole
from stereo_spot.disk_space import nearest_existing
from stereo_spot.domain import AnaglyphMode, Job, Layout, Part, result_tag
from stereo_spot.errors import InputRejected, StereoSpotError
from stereo_spot.storage import ObjectStorage


def default_output(
    source: Path,
    layout: Layout,
    preview: bool = False,
    anaglyph_mode: AnaglyphMode = AnaglyphMode.DUBOIS,
    part: Part | None = None,
) -> Path:
    middle = (part.filename_tag if part else "") + ("_preview" if preview else "")
    return source.with_name(f"{source.stem}{middle}{result_tag(layout, anaglyph_mode)}.mp4")


def plan_outputs(
    inputs: list[Path],
    output: str | None,
    layout: Layout,
    preview: bool = False,
    anaglyph_mode: AnaglyphMode = AnaglyphMode.DUBOIS,
    part: Part | None = None,
) -> list[tuple[Path, Path]]:
    """Each input with the file its 3D version goes to.

    ``output`` is ``-o`` as typed: a folder when it is one or ends with a slash (created when
    the first result is written), else a file. Everything that would lose or overwrite a file
    is refused here, before any video is converted: a missing input, one named twice, an
    output that is one of the inputs, two inputs written to one output, an output whose folder
    cannot be written.
    """
    folder, file = _folder_or_file(output)
    if file is not None and len(inputs) > 1:
        raise InputRejected(
            f"-o {file} names one file for {len(inputs)} videos; name a folder to write them "
            "into (ending in /), or leave -o out to write each next to its input."
        )
    sources = refuse_missing_inputs(inputs)
    plan: list[tuple[Path, Path]] = []
    targets: dict[Path, Path] = {}
    for source in inputs:
        target = file or default_output(source, layout, preview, anaglyph_mode, part)
        if folder is not None:
            target = folder / target.name
        resolved = target.resolve()
        if resolved in sources:
            whose = "" if sources[resolved] is source else f"of {source} "
            raise InputRejected(
                f"The output {whose}would overwrite the input {sources[resolved]}; "
                "choose another -o."
            )
        if resolved in targets:
            raise InputRejected(
                f"{targets[resolved]} and {source} would both be written to {target}; "
                "convert them one at a time with -o."
            )
        targets[resolved] = source
        _refuse_unwritable(target)
        plan.append((source, target))
    return plan


def names_a_file(output: str | None) -> bool:
    """Whether ``-o`` as typed names the result's file; else each result is named after its
    input (beside it, or in the folder ``-o`` names)."""
    return _folder_or_file(output)[1] is not None


def refuse_missing_inputs(inputs: list[Path]) -> dict[Path, Path]:
    """Refuse an input that is not a file, or one named twice (it would be converted twice);
    each input by its resolved path."""
    sources: dict[Path, Path] = {}
    for source in inputs:
        if source.is_dir():
            # A folder of videos is a common first try: say how to give them.
            raise InputRejected(f"{source} is a folder; name its videos, e.g. {source / '*.mp4'}")
        if not source.is_file():
            raise InputRejected(f"{source} does not exist or is not a file.")
        if source.resolve() in sources:
            raise InputRejected(f"{source} is named twice.")
        sources[source.resolve()] = source
    return sources


def plan_output(output: str, default: Path) -> Path:
    """The file one result goes to (``jobs retry -o``), with ``-o`` read and checked as
    ``convert`` reads it: a folder (``default``'s name in it), or a file with a result's ending,
    that can be written now."""
    folder, file = _folder_or_file(output)
    target = file or (folder or Path()) / default.name
    _refuse_unwritable(target)
    return target


def _folder_or_file(output: str | None) -> tuple[Path | None, Path | None]:
    """``-o`` as typed: a folder when it is one or ends with a slash (made when the first result
    is written), else a file, whose ending must be one a result is written as."""
    from stereo_spot.media.assemble import RESULT_CONTAINERS

    if output is None:
        return None, None
    if output.endswith(("/", os.sep)) or Path(output).is_dir():
        return Path(output), None
    file = Path(output)
    if file.suffix.lower() not in RESULT_CONTAINERS:
        *others, last = RESULT_CONTAINERS
        raise InputRejected(
            f"-o {file}: results are written as {', '.join(others)} or {last} files; "
            "name the output with one of those endings."
        )
    return None, file


def _refuse_unwritable(target: Path) -> None:
    """Refuse an output that cannot be written now, rather than after the whole conversion."""
    existing = refuse_unwritable_folder(target.parent, target)
    longest = os.pathconf(existing, "PC_NAME_MAX")
    named = len(os.fsencode(target.name))
    if named > longest:
        # A long source name with the result's tag added (``_redcyan``) passes the limit.
        raise InputRejected(
            f"The result's name {target.name[:40]}... is {named} bytes long, more than the "
            f"{longest} the folder {existing.resolve()} allows; name the result with -o."
        )


def refuse_unwritable_folder(folder: Path, target: Path | None = None) -> Path:
    """Refuse ``folder`` (for writing ``target`` into it; by default the folder itself) when it
    cannot be made or written to now: the nearest folder on its way that exists must take a new
    file. That folder is returned."""
    written = target or f"{folder}{os.sep}"
    existing = nearest_existing(folder) or Path(".")  # "." or "/" always exists
    if not existing.is_dir():
        raise InputRejected(f"Cannot write {written}: {existing} is a file, not a folder.")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise InputRejected(
            f"Cannot write {written}: the folder {existing} takes no new files "
            f"({error.strerror or error})."
        ) from None
    return existing


def say_if_replaced(output: Path) -> None:
    """Tell, before a result is written (``convert``, ``submit --wait``), that it replaces a
    file already there."""
    if output.exists():
        print(f"note: {output} exists; it will be replaced.", file=sys.stderr)


def say_written(output: Path, job: Job) -> None:
    """Tell that ``job``'s result is at ``output``, and which of its pictures could not be
    decoded, if any."""
    print(f"wrote {output}", file=sys.stderr)
    if job.damage_note:
        print(f"note: {job.damage_note}", file=sys.stderr)


def fetch_result(
    storage: ObjectStorage, job: Job, output: Path, local_source: Path | None = None
) -> None:
    """Download ``job``'s final video to ``output`` atomically: no partial file is ever left
    there.

    An ``output`` named ``.mkv`` or ``.mov`` gets the MP4's streams copied into that container
    (Matroska tagged with the layout's StereoMode), not MP4 bytes under a misleading name, and
    the source's own tracks where the MP4 could not hold them as they were and that container
    can (``assemble.rewrap``): from ``local_source``, the file ``convert`` was given, else from
    the copy the job stored.
    """
    from stereo_spot.media.assemble import RESULT_CONTAINERS, rewrap

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        with replaced_whole(
            output, prefix=f".{output.name}.", suffix=".part", private=False
        ) as written:
            muxer = RESULT_CONTAINERS.get(output.suffix.lower())
            if muxer is None:
                storage.get_file(keys.final_key(job.job_id), written)
            else:
                with (
                    tempfile.TemporaryDirectory(prefix="stereo-spot-result-") as scratch,
                    _source_for_rewrap(storage, job, muxer, local_source) as source,
                ):
                    final = Path(scratch) / "final.mp4"
                    result = storage.get_file(keys.final_key(job.job_id), final)
                    rewrap(result, written, muxer, job.layout, source, job.params)
    except OSError as error:
        raise _not_written(storage, job.job_id, output, error) from None


@contextlib.contextmanager
def _source_for_rewrap(
    storage: ObjectStorage, job: Job, muxer: str, local: Path | None
) -> Iterator[Path | None]:
    """The source a result rewrapped by ``muxer`` may take tracks from as they are (what the
    MP4 could not hold: PCM sound, styled and picture subtitles), or None: ``local``, else the
    copy the job stored, fetched for the time being where the job's record says it may hold
    such tracks (sound the MP4 encoded, picture subtitles, or a Matroska source, which is where
    styled subtitles and fonts come from)."""
    from stereo_spot.media.assemble import holds_source_audio

    source = job.converted_source
    if source is None:
        yield None
    elif local is not None and local.is_file():
        yield local
    elif holds_source_audio(source.audio_codecs, muxer) or (
        muxer == "matroska"
        and (source.picture_subtitles or source.container.startswith("matroska"))
    ):
        # A part's tracks are those of the part its run cut out of the source.
        key = keys.part_key(job.job_id) if job.cuts_its_source else keys.source_key(job.job_id)
        with tempfile.TemporaryDirectory(prefix="stereo-spot-source-") as scratch:
            yield storage.get_file(key, Path(scratch) / "source.mp4")
    else:
        yield None


class ResultNotWritten(StereoSpotError):
    """The conversion finished but its result could not be written where asked."""


def _not_written(storage: ObjectStorage, job_id: str, output: Path, error: OSError):
    reason = error.strerror or str(error)
    return ResultNotWritten(
        f"Could not write {output}: {reason}. The 3D video is kept at "
        f"{storage.uri_for(keys.final_key(job_id))}."
    )
