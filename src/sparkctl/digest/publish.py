"""Where a digest goes besides the store: Markdown files, and a webhook that takes Slack's JSON (`{"text": …}`).

Every publisher takes the digests as GET /v1/digests gives them and says what it did. The store keeps every
digest whatever a publisher does: a webhook that keeps failing is retried with back-off, then reported, and the
digest stays one `sparkctl digest show` away.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from sparkctl.errors import SparkctlError

SLACK_TEXT_LIMIT = 39_000
"""Slack truncates a message's text past 40 000 characters."""
RETRY_DELAYS = (1.0, 3.0, 10.0)


class PublishFailed(SparkctlError):
    """A publisher could not deliver; the digests are still in the store."""

    default_hint = "The digests are stored: `sparkctl digest show` prints them, and a new run publishes them again."


class Publisher(Protocol):
    def publish(self, digests: Sequence[dict[str, Any]]) -> str:
        """Deliver the digests; what was done, in words."""
        ...


@dataclass(frozen=True)
class MarkdownFiles:
    """One file per digest: FOLDER/REPOSITORY/DAY.md."""

    folder: Path

    def publish(self, digests: Sequence[dict[str, Any]]) -> str:
        for digest in digests:
            target = self.folder / str(digest["repository"]) / f"{digest['day']}.md"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(str(digest["markdown"]), encoding="utf-8")
        return f"wrote {len(digests)} Markdown file(s) under {self.folder}"


@dataclass(frozen=True)
class Webhook:
    """POSTs each digest as Slack's incoming-webhook JSON; 429, 5xx and transport failures are retried."""

    url: str
    delays: Sequence[float] = RETRY_DELAYS
    sleep: Callable[[float], None] = time.sleep
    timeout: float = 15.0

    def publish(self, digests: Sequence[dict[str, Any]]) -> str:
        with httpx.Client(timeout=self.timeout) as http:
            for digest in digests:
                what = f"{digest['repository']} {digest['day']}"
                self._post(http, {"text": _slack_text(str(digest["markdown"]))}, what)
        return f"posted {len(digests)} digest(s) to {_where(self.url)}"

    def _post(self, http: httpx.Client, payload: dict[str, str], what: str) -> None:
        delays = iter(self.delays)
        while True:
            try:
                response = http.post(self.url, json=payload)
            except httpx.HTTPError as exc:
                reason = f"unreachable ({type(exc).__name__})"
            else:
                if response.status_code < 400:
                    return
                reason = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500 and response.status_code != 429:
                    raise PublishFailed(f"the webhook at {_where(self.url)} refused the digest of {what}: {reason}")
            delay = next(delays, None)
            if delay is None:
                raise PublishFailed(
                    f"the webhook at {_where(self.url)} failed {len(self.delays) + 1} times for the digest of {what}: "
                    f"{reason}"
                )
            self.sleep(delay)


def _slack_text(markdown: str) -> str:
    """Slack's mrkdwn has no headings: they become bold lines."""
    lines = [f"*{line.lstrip('#').strip()}*" if line.startswith("#") else line for line in markdown.splitlines()]
    text = "\n".join(lines)
    return text if len(text) <= SLACK_TEXT_LIMIT else text[:SLACK_TEXT_LIMIT] + "\n…"


def _where(url: str) -> str:
    """The webhook's host, not its path: a Slack webhook's path is its secret."""
    parsed = httpx.URL(url)
    return f"{parsed.scheme}://{parsed.host}" + (f":{parsed.port}" if parsed.port else "")
