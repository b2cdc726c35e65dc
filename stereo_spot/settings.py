"""One settings object, read from the environment by every deployable (DESIGN.md, Configuration)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stereo_spot.domain import EngineName

# The longest a signed URL may work: SigV4's limit (S3 refuses a presigned URL whose X-Amz-Expires
# is larger with AuthorizationQueryParametersError). Held to on every backend, so that a setting
# that works on the local one does not break the day the portal moves to S3.
MAX_SIGNED_URL_SECONDS = 7 * 24 * 3600
# The least tries of a store request in the pipeline's steps: with botocore's backoff (up to 1,
# 2, 4, 8, 16, 20, 20 s between them) a store refusing connections for about a minute is ridden
# out, as the store clients' 5 retries (up to 31 s) rode out half a minute before requests were
# held to 3 tries for the pages' sake.
PIPELINE_STORE_TRIES = 8


def _default_data_dir() -> Path:
    return Path.home() / ".stereo-spot"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STEREO_SPOT_", extra="ignore")

    backend: Literal["local", "aws"] = "local"
    data_dir: Path = Field(default_factory=_default_data_dir)
    bucket: str = "stereo-spot-media"
    jobs_table: str = "stereo-spot-jobs"

    model_url: str | None = None
    model_name: str = "stereo"
    # How long a convert step waits for a model server that is not listening yet (one still
    # loading its weights) before the attempt fails and KFP's retry takes over.
    model_wait_seconds: float = Field(default=120.0, ge=0)
    # How long a model server this machine starts may take to load its model before the command
    # gives up on it; unset: 2 minutes for the classical engine, 30 for a learned one, whose
    # first start downloads gigabytes of weights from S3 into the cache.
    model_start_seconds: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    # How long a convert step waits for the model server's answer for one segment. An hour fits
    # a StereoCrafter segment on a GPU and the cluster's limits (the InferenceService's and
    # Knative's timeouts, which say the same); a full-size diffusion model on this machine's CPU
    # (STEREO_SPOT_ALLOW_CPU_DIFFUSION) takes hours a segment, and needs more.
    segment_timeout_seconds: float = Field(default=3600.0, gt=0, allow_inf_nan=False)
    # Tries of each DynamoDB or S3 request (botocore's standard mode, with backoff between them):
    # 3 keeps a page's answer under a load balancer's 60 s when a store stops answering. The
    # pipeline's steps, which no browser waits on, take at least PIPELINE_STORE_TRIES
    # (:meth:`for_pipeline_steps`), to ride out a store that refuses connections for a minute.
    store_tries: int = Field(default=3, ge=1, le=20)
    # Checked here, not when a model server fails to build it: a job made for an engine that
    # does not exist could never be converted, not even once the variable was put right.
    engine: EngineName = "classical"
    weights: str | None = None
    kfp_host: str | None = None
    # The Kubernetes service account KFP runs the pipeline's pods under (on EKS it carries the
    # pipeline's IRSA role); unset = the KFP deployment's default.
    kfp_service_account: str | None = None

    segment_seconds: float = Field(default=10.0, gt=0)
    # Limits applied when probing a source: anything past them is rejected with a reason.
    max_width: int = Field(default=7680, gt=0)
    max_height: int = Field(default=4320, gt=0)
    max_duration_seconds: float = Field(default=4 * 3600, gt=0, allow_inf_nan=False)
    max_upload_bytes: int = Field(default=20 * 1024**3, gt=0)
    # Uploads in parts (stereo_spot.storage.multipart): each part a PUT of its own. Larger parts
    # suit fast links; S3 takes 5 MiB to 5 GiB (a file too big for 10,000 of them gets larger).
    upload_part_bytes: int = Field(default=16 * 1024**2, ge=5 * 1024**2, le=5 * 1024**3)

    # Portal. secret_key signs local storage URLs and CSRF tokens; unset = generated once and kept
    # in the data dir (see stereo_spot.storage.signing.secret_from). public_url makes the local
    # storage's signed URLs absolute (unset = relative to the portal that hands them out).
    secret_key: SecretStr | None = None
    public_url: str | None = None
    # Optional portal auth: a bearer token for scripts and/or "user:password" for HTTP basic auth.
    # Both unset = the portal is open (bind it to 127.0.0.1).
    auth_token: SecretStr | None = None
    basic_auth: SecretStr | None = None
    # Without sign-in the portal answers only to the names of this machine (localhost), IP
    # addresses and public_url's host: a page whose own name an attacker points at this machine
    # (DNS rebinding) is refused. Other names people open it at, comma-separated ("studio-pc,
    # studio-pc.local"), go here.
    allowed_hosts: str = ""
    upload_url_seconds: int = Field(default=3600, gt=0)
    download_url_seconds: int = Field(default=3600, gt=0)

    @field_validator("upload_url_seconds", "download_url_seconds")
    @classmethod
    def _signable(cls, seconds: int) -> int:
        if seconds > MAX_SIGNED_URL_SECONDS:
            raise ValueError(
                f"a signed URL works for at most {MAX_SIGNED_URL_SECONDS} seconds (7 days: S3 "
                "refuses a URL signed for longer)"
            )
        return seconds

    @field_validator("secret_key", "auth_token", "basic_auth", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `STEREO_SPOT_AUTH_TOKEN=` (an env file's empty line) left the portal open while the
        # check for an open portal, which asks whether one is set, stayed silent.
        return None if value == "" else value

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value().encode()) < 16:
            raise ValueError("a key signs URLs and forms: it must be at least 16 bytes long")
        return key

    @field_validator("basic_auth")
    @classmethod
    def _user_and_password(cls, pair: SecretStr | None) -> SecretStr | None:
        if pair is not None:
            user, colon, password = pair.get_secret_value().partition(":")
            if not (user and colon and password):
                raise ValueError("it is user:password, both given")
        return pair

    @field_validator("data_dir")
    @classmethod
    def _a_folder(cls, folder: Path) -> Path:
        # Said here, as the variable it came from, rather than as what the first write into it
        # met ("Not a directory: .../logs").
        if folder.exists() and not folder.is_dir():
            raise ValueError("it is a file, not a folder")
        return folder

    @property
    def media_root(self) -> Path:
        """Where the local storage adapter keeps objects."""
        return self.data_dir / "media"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"

    @property
    def runs_dir(self) -> Path:
        """kfp.local's pipeline root and scratch space for local runs."""
        return self.data_dir / "runs"

    def for_pipeline_steps(self) -> Settings:
        """These settings as a pipeline step uses them: its store requests are tried at least
        :data:`PIPELINE_STORE_TRIES` times (a step fails its job on a store fault, and nobody
        waits on its answer as a page's visitor does)."""
        tries = max(self.store_tries, PIPELINE_STORE_TRIES)
        return self.model_copy(update={"store_tries": tries})

    def as_environment(self) -> dict[str, str]:
        """The variables that reproduce these settings in a child process."""
        env = {
            "STEREO_SPOT_BACKEND": self.backend,
            "STEREO_SPOT_DATA_DIR": str(self.data_dir),
            "STEREO_SPOT_BUCKET": self.bucket,
            "STEREO_SPOT_JOBS_TABLE": self.jobs_table,
            "STEREO_SPOT_MODEL_NAME": self.model_name,
            "STEREO_SPOT_MODEL_WAIT_SECONDS": f"{self.model_wait_seconds:g}",
            "STEREO_SPOT_SEGMENT_TIMEOUT_SECONDS": f"{self.segment_timeout_seconds:g}",
            "STEREO_SPOT_STORE_TRIES": str(self.store_tries),
            "STEREO_SPOT_ENGINE": self.engine,
        }
        optional = {
            "STEREO_SPOT_MODEL_URL": self.model_url,
            "STEREO_SPOT_WEIGHTS": self.weights,
            "STEREO_SPOT_KFP_HOST": self.kfp_host,
            "STEREO_SPOT_KFP_SERVICE_ACCOUNT": self.kfp_service_account,
        }
        env.update({name: value for name, value in optional.items() if value})
        return env


_SECRETS = frozenset(
    name for name, field in Settings.model_fields.items() if SecretStr in get_args(field.annotation)
)


def invalid_settings_sentence(error: ValidationError) -> str | None:
    """One sentence naming the ``STEREO_SPOT_*`` variables a Settings error is about, or None
    when the error is not about Settings."""
    if error.title != Settings.__name__:
        return None
    problems = []
    for item in error.errors():
        # A validator's own sentence comes as "Value error, ..." (pydantic's wording).
        message = item["msg"].removeprefix("Value error, ")
        name = "_".join(str(part) for part in item["loc"])
        # A key, token or password is not written to a terminal or a log, even a wrong one.
        value = "(not shown)" if name in _SECRETS else repr(item.get("input"))
        problems.append(f"STEREO_SPOT_{name.upper()}={value}: {message[:1].lower()}{message[1:]}")
    return "Invalid setting " + "; ".join(problems) + "."
