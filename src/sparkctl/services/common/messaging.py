"""NATS JetStream for ingest jobs: stream INGEST, one subject per job kind, one message per job.

The message id is the job id, so a publish that is retried (a client retry, a crash between the
database insert and the publish) never queues the same job twice within the duplicate window.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nats.js import JetStreamContext

STREAM = "INGEST"
SUBJECTS = {"document": "ingest.document", "codebase": "ingest.codebase", "digest": "ingest.digest"}
SUBJECT_FILTER = "ingest.>"
DUPLICATE_WINDOW_SECONDS = 24 * 3600


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the INGEST stream (work-queue retention, file storage) or bring its settings up to date."""
    from nats.js.api import RetentionPolicy, StorageType, StreamConfig
    from nats.js.errors import NotFoundError

    config = StreamConfig(
        name=STREAM,
        subjects=[SUBJECT_FILTER],
        retention=RetentionPolicy.WORK_QUEUE,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    )
    try:
        await js.stream_info(STREAM)
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)


async def publish_job(js: JetStreamContext, job_id: uuid.UUID, kind: str) -> None:
    payload = json.dumps({"job_id": str(job_id)}).encode()
    await js.publish(SUBJECTS[kind], payload, headers={"Nats-Msg-Id": str(job_id)})


def job_id_of(payload: bytes) -> uuid.UUID:
    """The job id a message carries; ValueError when the message is not a job."""
    try:
        return uuid.UUID(json.loads(payload)["job_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not an ingest job message: {payload[:80]!r}") from exc
