"""DynamoDB job store for the cluster.

Table (created by Terraform, or ``stereo-spot aws-init`` for development; see docs/AWS.md):

* partition key ``job_id`` (S); every :class:`~stereo_spot.domain.Job` field is an attribute
  (``model_dump(mode="json")``, floats as Decimal, ``None`` fields left out);
* ``done_segments`` (NS): the segment indexes already converted, next to ``completed_segments``;
* GSI ``status-completed_at`` (partition ``status``, sort ``completed_at`` ISO-8601 UTC string,
  projection ALL). Only completed jobs carry ``completed_at``, so the index is sparse;
* GSI ``status-created_at`` (partition ``status``, sort ``created_at``, projection ALL): every
  job, for the lists of jobs by status (the portal's "not finished").
* one item that is no job, under ``job_id`` ``#runner-lease``: which portal runs the jobs with
  its local runner (:meth:`DynamoJobStore.hold_runner_lease`). It has no ``status``, so neither
  index holds it, and the scan of ``list_all`` leaves it out.

Every write is one conditional request, so concurrent pipeline tasks cannot undo each other: a
status change names the statuses it may come from (``#status IN (...)``), a segment is counted only
if its index is not yet in ``done_segments``. Nothing reads then writes without a condition.

A table that does not exist, or an endpoint that does not answer, is said in one sentence naming
it (:class:`~stereo_spot.errors.StoreUnavailable`, see ``stereo_spot.aws_errors``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import ClientError

from stereo_spot.aws_errors import (
    endpoint_of,
    error_code,
    reports_unavailable,
    service_fault_sentence,
)
from stereo_spot.domain import Job, JobStatus, can_transition, utc_now
from stereo_spot.errors import (
    InvalidKey,
    JobNotFound,
    StoreNotReady,
    StoreUnavailable,
    TransitionConflict,
)
from stereo_spot.jobs import JobPage, RunnerLease, cursors

if TYPE_CHECKING:
    from stereo_spot.settings import Settings

COMPLETED_INDEX = "status-completed_at"
CREATED_INDEX = "status-created_at"
# The key of the runner lease's item: no job id ("#" is not in one), so no job can take it.
RUNNER_LEASE_KEY = "#runner-lease"
# Attributes the store keeps beside the Job fields.
_STORE_ATTRIBUTES = ("done_segments", "expires_at")
_NON_FINAL = tuple(status for status in JobStatus if not status.is_final)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def dynamodb_client_config(tries: int = 3) -> Config:
    """Timeouts that give up in seconds, not botocore's 60 s each, and ``tries`` in all (3 by
    default, ``Settings.store_tries``; the pipeline's steps take more, ``for_pipeline_steps``).

    An endpoint that accepts and never answers (a partition, a stopped moto) cost 6 tries (the
    first and max_attempts=5 retries) x 60 s, six minutes, before the portal's 503, while each
    waiting request held one of the 40 threads of its sync routes. DynamoDB answers in
    milliseconds, so 10 s of silence is an outage: 3 x 10 s + at most 1 + 2 s of backoff is 33 s
    at worst, under an ALB's 60 s idle timeout; a dropped SYN, 3 x 3 s + 3 s. A refused
    connection now fails after those 3 s of backoff (the 5 retries waited up to 31 s), so the
    pipeline's steps try more often (PIPELINE_STORE_TRIES).
    """
    return Config(
        connect_timeout=3,
        read_timeout=10,
        retries={"mode": "standard", "total_max_attempts": tries},
    )


def allowed_predecessors(status: JobStatus) -> tuple[JobStatus, ...]:
    """The statuses a job may be in for a move to ``status`` (:func:`can_transition`)."""
    return tuple(current for current in JobStatus if can_transition(current, status))


@reports_unavailable
class DynamoJobStore:
    def __init__(self, table_name: str, client_or_resource: Any) -> None:
        self.table_name = table_name
        # Accept a low-level client or a boto3 resource; this store speaks the client API.
        meta_client = getattr(getattr(client_or_resource, "meta", None), "client", None)
        self.client = meta_client if meta_client is not None else client_or_resource

    @classmethod
    def from_settings(cls, settings: Settings) -> DynamoJobStore:
        from stereo_spot.aws_session import aws_session

        config = dynamodb_client_config(settings.store_tries)
        client = aws_session(settings).client("dynamodb", config=config)
        return cls(settings.jobs_table, client)

    def _unavailable(self, fault: BaseException) -> str | None:
        """The sentence for a fault no method handled (``reports_unavailable``)."""
        # What is left of "not found" once the methods have had their say is the table: a
        # missing index is StoreNotReady already, a missing item is no error to DynamoDB.
        if error_code(fault) == "ResourceNotFoundException":
            return (
                f"The DynamoDB table {self.table_name} does not exist at "
                f"{endpoint_of(self.client)}; create it with stereo-spot aws-init or Terraform."
            )
        return service_fault_sentence("DynamoDB", self.client, fault)

    # -- reads ----------------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        item = self._get_item(job_id)
        if item is None:
            raise JobNotFound(f"There is no job '{job_id}'.")
        return item

    def _get_item(self, job_id: str) -> Job | None:
        response = self.client.get_item(
            TableName=self.table_name, Key=_key(job_id), ConsistentRead=True
        )
        item = response.get("Item")
        return _job_from_item(item) if item else None

    def list_completed(self, limit: int = 20, cursor: str | None = None) -> JobPage:
        if limit <= 0:
            return JobPage(jobs=[], next_cursor=None)
        start_key = _completed_start_key(cursor) if cursor else None
        items: list[dict[str, Any]] = []
        # Ask for one item more than the page so the last page carries no cursor; a query can also
        # stop early at 1 MB, so keep going until the page is full or the index is exhausted.
        while len(items) <= limit:
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "IndexName": COMPLETED_INDEX,
                "KeyConditionExpression": "#status = :completed",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":completed": {"S": JobStatus.COMPLETED.value}},
                "ScanIndexForward": False,
                "Limit": limit + 1 - len(items),
            }
            if start_key:
                request["ExclusiveStartKey"] = start_key
            response = self.client.query(**request)
            items.extend(response.get("Items", []))
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                break
        page = items[:limit]
        next_cursor = (
            cursors.encode({name: page[-1][name]["S"] for name in _COMPLETED_CURSOR})
            if len(items) > limit
            else None
        )
        return JobPage(jobs=[_job_from_item(item) for item in page], next_cursor=next_cursor)

    def list_by_status(
        self, statuses: Collection[JobStatus], limit: int = 20, cursor: str | None = None
    ) -> JobPage:
        after = None
        if cursor:
            fields = cursors.decode(cursor, _CREATED_CURSOR)
            after = fields["created_at"], fields["job_id"]
        wanted = dict.fromkeys(JobStatus(status) for status in statuses)
        if limit <= 0 or not wanted:
            return JobPage(jobs=[], next_cursor=None)
        # The index is partitioned by status: take each status's newest page and merge them.
        found = [item for status in wanted for item in self._newest_created(status, limit, after)]
        found.sort(key=_created_position, reverse=True)
        page = found[:limit]
        next_cursor = (
            cursors.encode({name: page[-1][name]["S"] for name in _CREATED_CURSOR})
            if len(found) > limit
            else None
        )
        return JobPage(jobs=[_job_from_item(item) for item in page], next_cursor=next_cursor)

    def _newest_created(
        self, status: JobStatus, limit: int, after: tuple[str, str] | None
    ) -> list[dict[str, Any]]:
        """The first ``limit + 1`` items of one status, newest ``(created_at, job_id)`` first,
        that come after the position ``after``.

        The index sorts by ``created_at`` alone, so jobs made in the same microsecond come back
        in no set order: read on past the last wanted item's instant so none of its ties is
        missed, and let the caller order them by id too.
        """
        condition = "#status = :status"
        values: dict[str, Any] = {":status": {"S": status.value}}
        if after is not None:
            condition += " AND created_at <= :created"
            values[":created"] = {"S": after[0]}
        wanted = limit + 1
        kept: list[dict[str, Any]] = []
        start_key = None
        while True:
            request: dict[str, Any] = {
                "TableName": self.table_name,
                "IndexName": CREATED_INDEX,
                "KeyConditionExpression": condition,
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": values,
                "ScanIndexForward": False,
                "Limit": wanted,
            }
            if start_key:
                request["ExclusiveStartKey"] = start_key
            response = self._query_created_index(request)
            items = response.get("Items", [])
            kept.extend(item for item in items if after is None or _created_position(item) < after)
            start_key = response.get("LastEvaluatedKey")
            if not start_key or (
                len(kept) >= wanted
                and items
                and items[-1]["created_at"]["S"] < kept[wanted - 1]["created_at"]["S"]
            ):
                break
        kept.sort(key=_created_position, reverse=True)
        return kept[:wanted]

    def _query_created_index(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.client.query(**request)
        except ClientError as error:
            # A table an older version made has no such index until Terraform or aws-init adds
            # it, and it cannot be read while DynamoDB fills it ("backfilling").
            details = error.response.get("Error", {})
            if details.get("Code") in (
                "ValidationException",
                "ResourceNotFoundException",
            ) and CREATED_INDEX in str(details.get("Message", "")):
                raise StoreNotReady(
                    f"Listing jobs by status needs the index {CREATED_INDEX} on the table "
                    f"{self.table_name}, which is missing or still being built: apply the "
                    "infra stage's Terraform (or run stereo-spot aws-init), then wait until "
                    "the index is active."
                ) from None
            raise

    def list_all(self, limit: int = 50) -> list[Job]:
        # An operator's listing: a full scan, sorted here (DynamoDB has no table-wide order).
        jobs: list[Job] = []
        for page in self.client.get_paginator("scan").paginate(TableName=self.table_name):
            jobs.extend(
                _job_from_item(item) for item in page.get("Items", []) if _is_job_item(item)
            )
        jobs.sort(key=lambda job: job.created_at, reverse=True)
        return jobs[:limit]

    # -- writes ---------------------------------------------------------------------------------

    def create(self, job: Job) -> Job:
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=_item_from_job(job),
                ConditionExpression="attribute_not_exists(job_id)",
            )
        except ClientError as error:
            if _condition_failed(error):
                raise TransitionConflict(f"A job with id '{job.job_id}' already exists.") from None
            raise
        return job

    def transition(self, job_id: str, status: JobStatus, **fields: Any) -> Job:
        status = JobStatus(status)
        current = self.get(job_id)
        if not can_transition(current.status, status):
            raise _transition_refused(job_id, current.status, status)
        now = utc_now()
        changes: dict[str, Any] = {"status": status, "updated_at": now, **fields}
        if status is JobStatus.COMPLETED:
            changes.setdefault("completed_at", now)
        try:
            return self._conditional_set(job_id, current, changes, allowed_predecessors(status))
        except _ConditionFailed:
            latest = self.get(job_id)  # raises JobNotFound if it was deleted meanwhile
            raise _transition_refused(job_id, latest.status, status) from None

    def update(self, job_id: str, **fields: Any) -> Job:
        current = self.get(job_id)
        if current.status.is_final:
            raise TransitionConflict(f"Job {job_id} is {current.status.value}; it is not changed.")
        try:
            return self._conditional_set(
                job_id, current, {**fields, "updated_at": utc_now()}, _NON_FINAL
            )
        except _ConditionFailed:
            latest = self.get(job_id)
            raise TransitionConflict(
                f"Job {job_id} is {latest.status.value}; it is not changed."
            ) from None

    def mark_segment_done(self, job_id: str, segment_index: int, damaged_frames: int = 0) -> Job:
        segment_index = int(segment_index)
        try:
            # ADD to the set and to the counters in one request, only if the index is new and
            # the job is still running: a retried or duplicated task counts once, a final job
            # stays.
            response = self.client.update_item(
                TableName=self.table_name,
                Key=_key(job_id),
                UpdateExpression=(
                    "ADD done_segments :index_set, completed_segments :one, "
                    "damaged_frames :damaged SET updated_at = :now"
                ),
                ConditionExpression=(
                    "attribute_exists(job_id) AND #status IN ("
                    + ", ".join(f":s{i}" for i in range(len(_NON_FINAL)))
                    + ") AND (attribute_not_exists(done_segments)"
                    " OR NOT contains(done_segments, :index))"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":index_set": {"NS": [str(segment_index)]},
                    ":index": {"N": str(segment_index)},
                    ":one": {"N": "1"},
                    ":damaged": {"N": str(int(damaged_frames))},
                    ":now": {"S": _sortable_iso(utc_now())},
                    **_status_values(_NON_FINAL),
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _condition_failed(error):
                return self.get(job_id)  # already counted, final, or missing (JobNotFound)
            raise
        return _job_from_item(response["Attributes"])

    def delete(self, job_id: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=_key(job_id),
                ConditionExpression="attribute_exists(job_id)",
            )
        except ClientError as error:
            if _condition_failed(error):
                raise JobNotFound(f"There is no job '{job_id}'.") from None
            raise

    # -- the runner lease -----------------------------------------------------------------------

    def hold_runner_lease(self, lease: RunnerLease, stale_after: float) -> RunnerLease:
        # One conditional put takes, renews or takes over the lease; when refused, the holder is
        # read. A holder that let go between the two is asked again.
        for _ in range(3):
            try:
                self.client.put_item(
                    TableName=self.table_name,
                    Item=_lease_item(lease),
                    ConditionExpression=(
                        "attribute_not_exists(job_id) OR lease_token = :token"
                        " OR renewed_at < :stale_before"
                    ),
                    ExpressionAttributeValues={
                        ":token": {"S": lease.token},
                        ":stale_before": {"N": repr(lease.renewed_at - stale_after)},
                    },
                )
                return lease
            except ClientError as error:
                if not _condition_failed(error):
                    raise
            response = self.client.get_item(
                TableName=self.table_name, Key=_key(RUNNER_LEASE_KEY), ConsistentRead=True
            )
            if "Item" in response:
                return _lease_from_item(response["Item"])
        raise StoreUnavailable(
            f"The runner lease in the DynamoDB table {self.table_name} changes hands too often "
            "to be taken; try again."
        )

    def release_runner_lease(self, token: str) -> None:
        try:
            self.client.delete_item(
                TableName=self.table_name,
                Key=_key(RUNNER_LEASE_KEY),
                ConditionExpression="lease_token = :token",
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except ClientError as error:
            if not _condition_failed(error):  # another holds it, or nobody: nothing to give up
                raise

    def _conditional_set(
        self,
        job_id: str,
        current: Job,
        changes: dict[str, Any],
        allowed: tuple[JobStatus, ...],
    ) -> Job:
        """SET the changed fields (REMOVE the ones set to None) if the status is in ``allowed``.

        Only the named fields are written, so a concurrent ``mark_segment_done`` is never undone.
        """
        # Validate through the model so a bad field fails here, not in a later reader.
        merged = Job.model_validate({**current.model_dump(), **changes})
        dumped = _job_values(merged)
        names: dict[str, str] = {"#status": "status"}
        values: dict[str, Any] = _status_values(allowed)
        set_parts: list[str] = []
        remove_parts: list[str] = []
        for i, name in enumerate(sorted(set(changes) & set(Job.model_fields))):
            names[f"#f{i}"] = name
            if dumped.get(name) is None:
                remove_parts.append(f"#f{i}")
            else:
                values[f":v{i}"] = _serializer.serialize(dumped[name])
                set_parts.append(f"#f{i} = :v{i}")
        expression = ""
        if set_parts:
            expression += "SET " + ", ".join(set_parts)
        if remove_parts:
            expression += " REMOVE " + ", ".join(remove_parts)
        try:
            response = self.client.update_item(
                TableName=self.table_name,
                Key=_key(job_id),
                UpdateExpression=expression.strip(),
                ConditionExpression=(
                    "attribute_exists(job_id) AND #status IN ("
                    + ", ".join(f":s{i}" for i in range(len(allowed)))
                    + ")"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if _condition_failed(error):
                raise _ConditionFailed from None
            raise
        return _job_from_item(response["Attributes"])


class _ConditionFailed(Exception):
    pass


def _transition_refused(job_id: str, current: JobStatus, new: JobStatus) -> TransitionConflict:
    if current.is_final:
        return TransitionConflict(
            f"Job {job_id} is already {current.value}; it cannot move to {new.value}."
        )
    return TransitionConflict(f"Job {job_id} is {current.value}; it cannot move to {new.value}.")


def _status_values(statuses: tuple[JobStatus, ...]) -> dict[str, Any]:
    return {f":s{i}": {"S": status.value} for i, status in enumerate(statuses)}


def _key(job_id: str) -> dict[str, Any]:
    return {"job_id": {"S": str(job_id)}}


def _condition_failed(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def _to_dynamo_values(value: Any) -> Any:
    """JSON-mode values to what DynamoDB takes: floats as Decimal, ``None`` members left out."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _to_dynamo_values(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_to_dynamo_values(v) for v in value]
    return value


def _from_dynamo_values(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo_values(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_from_dynamo_values(v) for v in value]
    return value


def _job_values(job: Job) -> dict[str, Any]:
    values = _to_dynamo_values(job.model_dump(mode="json"))
    for name in ("created_at", "updated_at", "completed_at"):
        moment = getattr(job, name)
        if moment is not None:
            values[name] = _sortable_iso(moment)
    return values


def _sortable_iso(moment: datetime) -> str:
    """UTC with fixed microseconds, so strings sort like instants (the GSI sort key).

    pydantic drops a zero fraction ("...:05Z" sorts after "...:05.1Z") and keeps other offsets.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _item_from_job(job: Job) -> dict[str, Any]:
    values = _job_values(job)
    return {name: _serializer.serialize(value) for name, value in values.items()}


def _job_from_item(item: dict[str, Any]) -> Job:
    plain = {
        name: _from_dynamo_values(_deserializer.deserialize(value))
        for name, value in item.items()
        if name not in _STORE_ATTRIBUTES
    }
    return Job.model_validate(plain)


# The completed list's cursor holds the GSI's ExclusiveStartKey (table key + index key) of the
# page's last job; the list by status's, that job's place in newest-created order.
_COMPLETED_CURSOR = ("job_id", "status", "completed_at")
_CREATED_CURSOR = ("created_at", "job_id")


def _completed_start_key(cursor: str) -> dict[str, Any]:
    fields = cursors.decode(cursor, _COMPLETED_CURSOR)
    if fields["status"] != JobStatus.COMPLETED.value:
        raise InvalidKey("That page cursor is not valid.")
    return {name: {"S": value} for name, value in fields.items()}


def _is_job_item(item: dict[str, Any]) -> bool:
    """Whether a scanned item is a job: every job has a status; the runner lease has none, so
    neither index holds it either."""
    return "status" in item


def _lease_item(lease: RunnerLease) -> dict[str, Any]:
    return {
        **_key(RUNNER_LEASE_KEY),
        "lease_token": {"S": lease.token},
        "lease_host": {"S": lease.host},
        "lease_pid": {"N": str(lease.pid)},
        "lease_data_dir": {"S": lease.data_dir},
        "renewed_at": {"N": repr(lease.renewed_at)},
    }


def _lease_from_item(item: dict[str, Any]) -> RunnerLease:
    return RunnerLease(
        token=item["lease_token"]["S"],
        host=item["lease_host"]["S"],
        pid=int(item["lease_pid"]["N"]),
        data_dir=item["lease_data_dir"]["S"],
        renewed_at=float(item["renewed_at"]["N"]),
    )


def _created_position(item: dict[str, Any]) -> tuple[str, str]:
    """Where a job's item stands in newest-created order (a cursor holds the same two)."""
    return item["created_at"]["S"], item["job_id"]["S"]
