"""Digest jobs in the worker: summarise each new commit of the window, then write one digest per day.

Each commit's summary is stored as soon as the model answers, so a job cut off (a model failure, a worker
restart) resumes with the commits left and never sends a summarised commit to the model again. Model calls
run a few at a time, and a passing failure (unreachable, 429, 5xx, a timeout) is retried with back-off; a
commit the model refuses is recorded with its reason and left out of the digest. Each day's digest also goes
into the workspace's graph as a document (chunks only, no model call), so that chat can draw on it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Iterable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from pydantic import Field

from sparkctl.catalog import Catalog, Model
from sparkctl.digest.compose import ANSWER_TOKENS, DAY_ANSWER_TOKENS, commit_messages, day_messages, diff_budget
from sparkctl.digest.compose import digest_markdown as compose_digest
from sparkctl.errors import ConfigError, ServiceUnavailable
from sparkctl.services.common import digests, jobs
from sparkctl.services.common.digests import StoredCommit
from sparkctl.services.common.llm import ChatModel, LlmClient, LlmError, LlmRefused
from sparkctl.services.common.remote import LightragClient
from sparkctl.services.common.settings import LlmSettings, Url

if TYPE_CHECKING:
    import httpx
    from psycopg_pool import AsyncConnectionPool

log = logging.getLogger(__name__)

DIGEST_SOURCE = "digests/{repository}/{day}.md"


class DigestSettings(LlmSettings):
    """The model side of digest jobs (SPARKCTL_* variables, like every service's settings)."""

    model_urls: dict[str, Url] = Field(default={}, description="model name → its server's URL; others use llm_url")
    digest_concurrency: int = Field(default=4, ge=1, description="commits summarised at once")
    digest_retry_delays: tuple[float, ...] = Field(
        default=(1.0, 4.0, 15.0), description="seconds before each new try of a model call that failed for now"
    )


class DigestPipeline:
    def __init__(
        self,
        settings: DigestSettings,
        catalog: Catalog,
        pool: AsyncConnectionPool,
        http: httpx.AsyncClient,
        lightrag: LightragClient,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.pool = pool
        self.http = http
        self.lightrag = lightrag

    async def __call__(self, job: jobs.Job) -> None:
        params = job.params
        since, until = datetime.fromisoformat(params["since"]), datetime.fromisoformat(params["until"])
        model = self._model(params.get("model"))
        client = LlmClient(
            self.settings.model_urls.get(model.name, self.settings.llm_url), self.http, api_key=self.settings.llm_key
        )
        chat_model = ChatModel.from_catalog(model)
        async with self.pool.connection() as conn:
            repository = await digests.repository_id(conn, job.workspace, job.source)
            window = await digests.commits_of(conn, repository, since, until)
        pending = [commit for commit in window if commit.summary is None]
        refused: list[tuple[str, str]] = []
        done = len(window) - len(pending)
        await self._progress(job, len(window), done, refused, status="indexing")

        limit = asyncio.Semaphore(self.settings.digest_concurrency)
        retry = self.settings.digest_retry_delays
        budget = diff_budget(model.context)

        async def summarise(commit: StoredCommit) -> None:
            nonlocal done
            async with limit:
                messages = commit_messages(commit, budget)
                try:
                    summary = await _with_retries(client, chat_model, messages, ANSWER_TOKENS, retry)
                except LlmRefused as exc:
                    refused.append((commit.sha[:12], f"summary refused: {exc.message}"))
                    return
                async with self.pool.connection() as conn:
                    await digests.save_summary(conn, repository, commit.sha, summary, model.pull_ref)
                done += 1
                await self._progress(job, len(window), done, refused)

        await _all(summarise(commit) for commit in pending)
        await self._write_days(job, repository, since, until, client, chat_model, model)
        await self._progress(job, len(window), done, refused)

    async def _write_days(
        self,
        job: jobs.Job,
        repository: int,
        since: datetime,
        until: datetime,
        client: LlmClient,
        chat_model: ChatModel,
        model: Model,
    ) -> None:
        """One digest per day of the window that has summarised commits, stored and put into the graph; a day
        whose digest already covers as many commits is left as it is (a re-run asks the model nothing)."""
        async with self.pool.connection() as conn:
            summarised = await digests.commits_of(conn, repository, since, until, summarised=True)
            written = await digests.digest_counts(conn, repository)
        days: dict[date, list[StoredCommit]] = defaultdict(list)
        for commit in summarised:
            days[commit.committed_at.astimezone(UTC).date()].append(commit)
        retry = self.settings.digest_retry_delays
        for day, commits in sorted(days.items()):
            if written.get(day) == len(commits):
                continue
            messages = day_messages(job.source, commits)
            try:
                themes = await _with_retries(client, chat_model, messages, DAY_ANSWER_TOKENS, retry)
            except LlmRefused as exc:
                themes = f"## Themes\n\n(The model did not write them: {exc.message})"
            markdown = compose_digest(job.source, day, commits, themes)
            async with self.pool.connection() as conn:
                await digests.save_digest(conn, repository, day, markdown, model.pull_ref, len(commits))
            await self._into_graph(job, day, markdown)

    async def _into_graph(self, job: jobs.Job, day: date, markdown: str) -> None:
        source = DIGEST_SOURCE.format(repository=job.source, day=day.isoformat())
        await self.lightrag.delete_files(job.workspace, [source])
        chunk = {"content": markdown, "source_id": f"digest-{job.source}-{day.isoformat()}", "file_path": source}
        await self.lightrag.insert_custom_kg(job.workspace, {"chunks": [chunk], "entities": [], "relationships": []})

    def _model(self, name: str | None) -> Model:
        if name:
            return self.catalog.resolve(name)
        extract = self.catalog.by_role("extract")
        if not extract:
            raise ConfigError(f"{self.catalog.path} has no 'extract' model to summarise commits with")
        return extract[0]

    async def _progress(
        self, job: jobs.Job, total: int, done: int, refused: list[tuple[str, str]], status: jobs.JobStatus | None = None
    ) -> None:
        async with self.pool.connection() as conn:
            await jobs.update_progress(
                conn,
                job.id,
                status=status,
                skipped={"summary refused": len(refused)} if refused else {},
                skipped_files=refused,
                files_total=total,
                files_done=done,
                files_skipped=len(refused),
            )


async def _with_retries(
    client: LlmClient, model: ChatModel, messages: list[dict[str, object]], tokens: int, retry: tuple[float, ...]
) -> str:
    """The model's answer, thinking off; a passing failure is tried again after each of the `retry` delays."""
    delays = iter(retry)
    while True:
        try:
            return await client.chat(model, messages, think=False, max_tokens=tokens)
        except LlmRefused:
            raise
        except LlmError as exc:
            delay = next(delays, None)
            if delay is None:
                raise ServiceUnavailable(f"summarising commits: {exc.message}") from exc
            log.info("model call failed (%s); again in %.0f s", exc.message, delay)
            await asyncio.sleep(delay)


async def _all(work: Iterable[Awaitable[None]]) -> None:
    """Run every coroutine; the first failure is raised once all have ended (summaries already stored stay)."""
    results = await asyncio.gather(*work, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
