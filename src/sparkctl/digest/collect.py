"""Collecting the commits of a window from git repositories, on the user's machine: what `sparkctl digest run`
sends to the orchestrator.

git itself reads the repositories (`git log` for the commits of the window, `git show` for each one's files
and diff), so that every repository git can read works, without a clone held in memory. Messages and diffs
are bytes in any encoding: they are decoded as UTF-8 with replacement characters, never refused. A diff is
cut at a size cap, and says so.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sparkctl.errors import ConfigError, SparkctlError

DIFF_BYTES = 64 * 1024
"""Largest diff kept per commit; the summariser trims further, to its model's token budget."""
GIT_TIMEOUT = 120.0
_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%cI", "%B")
_RECORD, _UNIT = "\x1e", "\x1f"
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_BOT = re.compile(r"(\[bot\]|(^|[-_.])bot)$", re.I)


class GitError(SparkctlError):
    """git could not read a repository."""


@dataclass(frozen=True)
class FileChange:
    path: str
    insertions: int | None
    """None for a binary file (git counts no lines)."""
    deletions: int | None
    old_path: str | None = None
    """Where a renamed or copied file came from."""


@dataclass(frozen=True)
class Commit:
    repository: str
    sha: str
    parents: tuple[str, ...]
    author: str
    email: str
    authored_at: datetime
    committed_at: datetime
    message: str
    files: tuple[FileChange, ...] = ()
    diff: str = ""
    diff_truncated: bool = False

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    def to_json(self) -> dict[str, Any]:
        """The commit as POST /v1/digests takes it."""
        return {
            "sha": self.sha,
            "parents": list(self.parents),
            "author": self.author,
            "email": self.email,
            "authored_at": self.authored_at.isoformat(),
            "committed_at": self.committed_at.isoformat(),
            "message": self.message,
            "files": [change.__dict__ for change in self.files],
            "diff": self.diff,
            "diff_truncated": self.diff_truncated,
        }

    @property
    def merge(self) -> bool:
        return len(self.parents) > 1

    @property
    def bot(self) -> bool:
        return bool(_BOT.search(self.author.strip()) or _BOT.search(self.email.split("@", 1)[0]))

    @property
    def insertions(self) -> int:
        return sum(change.insertions or 0 for change in self.files)

    @property
    def deletions(self) -> int:
        return sum(change.deletions or 0 for change in self.files)


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    @classmethod
    def parse(cls, since: str, until: str | None = None, *, now: datetime | None = None) -> Window:
        """`since` and `until` as a duration back from now (`24h`, `7d`, `90m`, `2w`) or an ISO date or time."""
        now = now or datetime.now(UTC)
        end = _moment(until, now, "--until") if until else now
        start = _moment(since, now, "--since")
        if start >= end:
            raise ConfigError(
                f"the window is empty: --since {since} is not before --until {until or 'now'}",
                hint="Give a --since earlier than --until.",
            )
        return cls(start, end)


@dataclass(frozen=True)
class Selection:
    """Which commits of the window count."""

    branch: str | None = None
    """None: every branch (and tag), each commit once."""
    merges: bool = False
    bots: bool = False
    diff_bytes: int = DIFF_BYTES


@dataclass
class Collected:
    repository: str
    commits: list[Commit] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)
    """Commits of the window left out, by reason (merge, bot)."""


def collect(repo: Path, window: Window, selection: Selection = Selection()) -> Collected:
    """The window's commits of one repository, oldest first, with their files and (capped) diffs."""
    name = repository_name(repo)
    collected = Collected(name)
    for commit in _log(repo, name, window, selection.branch):
        reason = "merge" if commit.merge and not selection.merges else None
        reason = reason or ("bot" if commit.bot and not selection.bots else None)
        if reason:
            collected.left_out[reason] = collected.left_out.get(reason, 0) + 1
            continue
        files = _files(repo, commit.sha)
        diff, cut = _diff(repo, commit.sha, selection.diff_bytes)
        collected.commits.append(replace(commit, files=files, diff=diff, diff_truncated=cut))
    return collected


def is_remote(source: str) -> bool:
    """A URL git clones (https, ssh, git, file) or scp-like `user@host:path`, rather than a local folder."""
    return "://" in source or bool(re.match(r"^[\w.-]+@[\w.-]+:", source))


def repository_name(repo: Path) -> str:
    """The repository's name: its folder's, without a `.git` suffix."""
    resolved = repo.expanduser().resolve()
    name = resolved.name if resolved.name != ".git" else resolved.parent.name
    return name.removesuffix(".git") or "repository"


def cached_clone(url: str, cache: Path) -> Path:
    """A bare mirror of a remote repository in `cache` (named after it, in a folder of its URL's hash), made once
    and fetched again at each run."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    name = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "repository"
    target = cache / digest / f"{name}.git"
    if target.is_dir():
        _git(target, "fetch", "--prune", "--quiet", "origin", "+refs/*:refs/*")
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        _run(["git", "clone", "--mirror", "--quiet", url, str(target)], what=f"cloning {url}")
    return target


def _log(repo: Path, name: str, window: Window, branch: str | None) -> list[Commit]:
    refs = [branch] if branch else ["--all"]
    output = _git(
        repo,
        "log",
        *refs,
        f"--since={window.since.isoformat()}",
        f"--until={window.until.isoformat()}",
        "--reverse",
        "--date-order",
        f"--format={_RECORD}{_UNIT.join(_FIELDS)}",
    )
    commits = []
    for record in output.split(_RECORD)[1:]:
        sha, parents, author, email, authored, committed, message = record.split(_UNIT, 6)
        commits.append(
            Commit(
                repository=name,
                sha=sha,
                parents=tuple(parents.split()),
                author=author,
                email=email,
                authored_at=datetime.fromisoformat(authored).astimezone(UTC),
                committed_at=datetime.fromisoformat(committed).astimezone(UTC),
                message=message.strip("\n"),
            )
        )
    return commits


def _files(repo: Path, sha: str) -> tuple[FileChange, ...]:
    """Each file the commit changed, against its first parent, renames followed (`-z`: paths as they are)."""
    output = _git(repo, "show", "--first-parent", "--format=", "--numstat", "-M", "-z", sha)
    fields = output.split("\0")
    changes: list[FileChange] = []
    index = 0
    while index < len(fields):
        head = fields[index].lstrip("\n")
        index += 1
        if not head:
            continue
        added, deleted, path = head.split("\t", 2)
        old_path = None
        if not path:
            old_path, path = fields[index], fields[index + 1]
            index += 2
        changes.append(FileChange(path, _count(added), _count(deleted), old_path))
    return tuple(changes)


def _diff(repo: Path, sha: str, limit: int) -> tuple[str, bool]:
    """The commit's patch against its first parent, cut at `limit` bytes (git is stopped there)."""
    argv = ["git", "-C", str(repo), "show", "--first-parent", "--format=", "--patch", "-M", "--no-color", sha]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as process:
        assert process.stdout is not None
        data = process.stdout.read(limit + 1)
        cut = len(data) > limit
        if cut:
            process.kill()
        else:
            process.wait(GIT_TIMEOUT)
    return data[:limit].decode("utf-8", errors="replace"), cut


def _count(value: str) -> int | None:
    return None if value == "-" else int(value)


def _git(repo: Path, *args: str) -> str:
    return _run(["git", "-C", str(repo), *args], what=f"reading {repo}")


def _run(argv: Sequence[str], *, what: str) -> str:
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=GIT_TIMEOUT, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed", hint="Install git (apt install git).") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git took more than {GIT_TIMEOUT:g} s {what}") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", errors="replace").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        raise GitError(
            f"git failed {what}: {reason[0]}", hint="Check that the path is a git repository and the URL reachable."
        )
    return done.stdout.decode("utf-8", errors="replace")


def _moment(value: str, now: datetime, option: str) -> datetime:
    match = _DURATION.match(value)
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        return now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{option} {value!r} is neither a duration nor a date",
            hint="Use a duration back from now (24h, 7d, 90m, 2w) or an ISO date (2026-11-27, 2026-11-27T06:00).",
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
