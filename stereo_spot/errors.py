"""Errors that carry a sentence a user can act on.

Every error the user may see subclasses :class:`StereoSpotError`; its ``str()`` is one plain
sentence, which is what the CLI prints, the job record stores and the portal shows.
"""


class StereoSpotError(Exception):
    """Base class: ``str(error)`` is a complete, human-readable sentence."""


class InputRejected(StereoSpotError):
    """The uploaded file is not something we can convert (not a video, unreadable, too big...)."""


class InvalidOption(StereoSpotError):
    """A command-line option outside what it takes: the command exits 2, as for any misuse."""


class RunInProgress(StereoSpotError):
    """Another process on this machine is running the job: two runs would redo and undo each
    other's work. A pipeline runner that finds so exits with ``exit_code``, and whoever started
    it leaves the job as it is."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class JobBusy(StereoSpotError):
    """The job is running and cannot be deleted now."""


class InvalidKey(StereoSpotError):
    """An object key or URI that does not follow the contract in DESIGN.md."""


class JobNotFound(StereoSpotError):
    """No job with that id exists."""


class NothingToCancel(StereoSpotError):
    """The job has already completed or failed."""


class TransitionConflict(StereoSpotError):
    """A status update lost a race or tried to move a job backwards."""


class ObjectNotFound(StereoSpotError):
    """A storage key that does not exist."""


class EngineError(StereoSpotError):
    """The stereo engine could not convert a segment (bad frames, missing weights...)."""


class UploadNotFound(StereoSpotError):
    """A multipart upload id that this key has no unfinished upload under (never started,
    already completed or aborted)."""


class UploadRejected(StereoSpotError):
    """A multipart upload that cannot be completed as asked: a part missing or sent again
    since it was listed, parts out of order, a part but the last below the minimum size, or
    more than the upload may hold."""


class StoreUnavailable(StereoSpotError):
    """A bucket, table or endpoint the backend needs cannot be used now: it does not exist, does
    not answer, or refuses our credentials. Nothing the user asked for is wrong; the operator
    has something to set up or bring back (the portal answers 503, the CLI exits 1)."""


class StoreNotReady(StoreUnavailable):
    """The job store cannot answer this yet: the index a listing reads is missing or still being
    built (a table an older version made). Asking again later may work."""
