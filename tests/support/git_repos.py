"""Real git repositories made by the tests, with commits at chosen times by chosen authors."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

WHEN = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
"""The day most commits of the tests' repositories are made on."""


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args: str, at: datetime | None = None, author: tuple[str, str] | None = None) -> str:
        name, email = author or ("Ada Lovelace", "ada@example.org")
        moment = (at or WHEN).isoformat()
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
            "GIT_AUTHOR_DATE": moment,
            "GIT_COMMITTER_DATE": moment,
        }
        done = subprocess.run(["git", "-C", str(self.path), *args], env=env, capture_output=True, check=True)
        return done.stdout.decode(errors="replace").strip()

    def write(self, name: str, data: str | bytes) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            target.write_bytes(data)
        else:
            target.write_text(data)

    def commit(
        self,
        message: str | bytes,
        files: dict[str, str | bytes] | None = None,
        *,
        at: datetime | None = None,
        author: tuple[str, str] | None = None,
    ) -> str:
        for name, data in (files or {}).items():
            self.write(name, data)
        self.git("add", "--all", at=at, author=author)
        if isinstance(message, bytes):
            message_file = self.path.parent / f".{self.path.name}-message"
            message_file.write_bytes(message)
            self.git("commit", "--quiet", "--allow-empty", "--cleanup=verbatim", "-F", str(message_file), at=at,
                     author=author)  # fmt: skip
        else:
            self.git("commit", "--quiet", "--allow-empty", "-m", message, at=at, author=author)
        return self.git("rev-parse", "HEAD")
