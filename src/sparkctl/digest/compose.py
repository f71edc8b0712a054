"""What the summariser asks the model, and the digest it writes from the answers.

One model call per commit (its message, files and diff, the diff trimmed to what the model's context leaves)
and one per repository and day (the themes and notable changes, from the commits' summaries). The rest of a
digest is counted, not asked: the risky changes (migrations, dependency files, security-sensitive paths, by
their paths) and each author's share.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any

from sparkctl.services.common.digests import StoredCommit

COMMIT_PROMPT = (
    "Summarise this git commit for a daily digest in one to three sentences: what changed and why it matters. "
    "Name the files or components involved. Write the summary only."
)
DAY_PROMPT = (
    "These are the summaries of one day's commits to the repository {repository}. Write the day's themes and its "
    "notable changes as two short Markdown bullet lists under the headings '## Themes' and '## Notable changes'. "
    "Write nothing else."
)
CHARS_PER_TOKEN = 3
"""A conservative estimate for code and diffs: fewer characters per token than prose."""
ANSWER_TOKENS = 300
DAY_ANSWER_TOKENS = 600
MAX_DIFF_CHARS = 24_000

_RISKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("migration", re.compile(r"(^|/)(migrations?|alembic|versions|db/migrate)/|\.sql$", re.I)),
    (
        "dependencies",
        re.compile(
            r"(^|/)(requirements[^/]*\.(txt|in)|pyproject\.toml|setup\.(py|cfg)|poetry\.lock|uv\.lock|Pipfile(\.lock)?|"
            r"package(-lock)?\.json|yarn\.lock|pnpm-lock\.yaml|go\.(mod|sum)|Cargo\.(toml|lock)|Gemfile(\.lock)?|"
            r"pom\.xml|build\.gradle(\.kts)?)$",
            re.I,
        ),
    ),
    (
        "security",
        re.compile(r"(auth|crypt|secret|password|token|permission|security|ssl|tls|oauth|\.pem$|\.key$)", re.I),
    ),
    ("ci", re.compile(r"(^|/)(\.github/workflows|\.gitlab-ci\.yml|Jenkinsfile|\.circleci)", re.I)),
)


def diff_budget(context: int | None) -> int:
    """Characters of diff a commit's request may carry: what the context leaves after the prompt and answer."""
    if not context:
        return MAX_DIFF_CHARS
    room = (context - ANSWER_TOKENS - 512) * CHARS_PER_TOKEN
    return max(1000, min(MAX_DIFF_CHARS, room))


def commit_messages(commit: StoredCommit, diff_chars: int) -> list[dict[str, Any]]:
    files = "\n".join(
        f"{change.old_path + ' -> ' if change.old_path else ''}{change.path} "
        f"({'binary' if change.insertions is None else f'+{change.insertions} -{change.deletions}'})"
        for change in commit.files[:200]
    )
    more = f"\n… and {len(commit.files) - 200} more files" if len(commit.files) > 200 else ""
    diff, cut = trim(commit.diff, diff_chars)
    note = " (cut)" if cut or commit.diff_truncated else ""
    body = f"Author: {commit.author}\nMessage:\n{commit.message}\n\nFiles:\n{files}{more}\n\nDiff{note}:\n{diff}"
    return [{"role": "system", "content": COMMIT_PROMPT}, {"role": "user", "content": body}]


def day_messages(repository: str, commits: Sequence[StoredCommit]) -> list[dict[str, Any]]:
    lines = "\n".join(f"- {commit.author}: {commit.summary}" for commit in commits)
    return [
        {"role": "system", "content": DAY_PROMPT.format(repository=repository)},
        {"role": "user", "content": lines},
    ]


def trim(text: str, chars: int) -> tuple[str, bool]:
    """The text cut at `chars` characters, at a line's end where there is one."""
    if len(text) <= chars:
        return text, False
    cut = text[:chars]
    end = cut.rfind("\n")
    return (cut[: end + 1] if end > chars // 2 else cut), True


def risks(commit: StoredCommit) -> list[str]:
    """What makes a commit worth a reviewer's look, by the paths it touched."""
    found = []
    for name, pattern in _RISKS:
        paths = [change.path for change in commit.files if pattern.search(change.path)]
        if paths:
            found.append(f"{name}: {', '.join(paths[:3])}{' …' if len(paths) > 3 else ''}")
    return found


def digest_markdown(repository: str, day: date, commits: Sequence[StoredCommit], themes: str) -> str:
    """The day's digest: counts, the model's themes and notable changes, risky changes, authors, every commit."""
    authors = Counter(commit.author for commit in commits)
    lines = sum(commit.insertions for commit in commits), sum(commit.deletions for commit in commits)
    parts = [
        f"# {repository} — {day.isoformat()}",
        "",
        f"{len(commits)} commit(s) by {len(authors)} author(s), +{lines[0]} -{lines[1]} lines.",
        "",
        themes.strip(),
        "",
        "## Risky changes",
        "",
    ]
    risky = [(commit, risks(commit)) for commit in commits]
    flagged = [f"- `{commit.sha[:10]}` {commit.subject}: {'; '.join(found)}" for commit, found in risky if found]
    parts += flagged or ["None found by path."]
    parts += ["", "## By author", ""]
    for author, count in authors.most_common():
        mine = [commit for commit in commits if commit.author == author]
        added, removed = sum(c.insertions for c in mine), sum(c.deletions for c in mine)
        parts.append(f"- {author}: {count} commit(s), +{added} -{removed}")
    parts += ["", "## Commits", ""]
    parts += [f"- `{commit.sha[:10]}` {commit.subject} — {commit.summary}" for commit in commits]
    return "\n".join(parts) + "\n"
