"""Collecting a window of commits from real git repositories made by the tests: several authors, a branch and
its merge, a rename, a huge diff, a binary file, a message that is not UTF-8, a bot, an empty window, and a
remote repository cloned into a cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sparkctl.digest.collect import DIFF_BYTES, GitError, Selection, Window, cached_clone, collect
from sparkctl.errors import ConfigError
from support.git_repos import WHEN, Repo

pytestmark = pytest.mark.integration
DAY = Window(WHEN - timedelta(hours=12), WHEN + timedelta(hours=12))
GRACE = ("Grace Hopper", "grace@example.org")
BOT = ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """A day of work on `parser`, and one commit the day before."""
    repo = Repo(tmp_path / "parser")
    repo.commit("Start the parser", {"parser.py": "def parse(text):\n    return text\n"}, at=WHEN - timedelta(days=1))
    repo.commit("Parse numbers", {"parser.py": "def parse(text):\n    return int(text)\n"}, at=WHEN)
    repo.git("checkout", "--quiet", "-b", "feature")
    repo.commit("Add a lexer", {"lexer.py": "TOKENS = []\n"}, at=WHEN + timedelta(minutes=10), author=GRACE)
    repo.git("checkout", "--quiet", "main")
    repo.commit("Document it", {"README.md": "# parser\n"}, at=WHEN + timedelta(minutes=20))
    repo.git("merge", "--quiet", "--no-ff", "-m", "Merge feature", "feature", at=WHEN + timedelta(minutes=30))
    repo.git("mv", "lexer.py", "tokens.py")
    repo.commit("Rename the lexer", at=WHEN + timedelta(minutes=40), author=GRACE)
    repo.commit("Bump a dependency", {"requirements.txt": "httpx==0.28\n"}, at=WHEN + timedelta(minutes=50),
                author=BOT)  # fmt: skip
    repo.commit("Add the logo", {"logo.png": bytes(range(256)) * 4}, at=WHEN + timedelta(minutes=60))
    repo.commit("Generate tables", {"tables.py": "X = 1\n" * 40000}, at=WHEN + timedelta(minutes=70))
    repo.commit("Caf\xe9 au lait".encode("latin-1"), {"cafe.txt": "x\n"}, at=WHEN + timedelta(minutes=80))
    return repo


def test_the_window_s_commits_oldest_first_each_once_merges_and_bots_left_out(repo: Repo) -> None:
    collected = collect(repo.path, DAY)

    subjects = [commit.subject for commit in collected.commits]
    assert subjects == [
        "Parse numbers",
        "Add a lexer",
        "Document it",
        "Rename the lexer",
        "Add the logo",
        "Generate tables",
        subjects[-1],
    ]
    assert subjects[-1].startswith("Caf") and subjects[-1].endswith(" au lait"), "Latin-1 bytes, read as text"
    assert collected.left_out == {"merge": 1, "bot": 1}
    assert collected.repository == "parser"
    assert {commit.author for commit in collected.commits} == {"Ada Lovelace", "Grace Hopper"}
    assert len({commit.sha for commit in collected.commits}) == len(subjects)


def test_merges_and_bots_come_in_when_asked(repo: Repo) -> None:
    collected = collect(repo.path, DAY, Selection(merges=True, bots=True))

    merge = next(commit for commit in collected.commits if commit.subject == "Merge feature")
    bump = next(commit for commit in collected.commits if commit.subject == "Bump a dependency")
    assert merge.merge and len(merge.parents) == 2
    assert [change.path for change in merge.files] == ["lexer.py"], "against its first parent"
    assert bump.bot
    assert collected.left_out == {}


def test_files_lines_renames_binaries_and_capped_diffs(repo: Repo) -> None:
    commits = {commit.subject: commit for commit in collect(repo.path, DAY).commits}

    parse = commits["Parse numbers"]
    assert [(c.path, c.insertions, c.deletions) for c in parse.files] == [("parser.py", 1, 1)]
    assert "+    return int(text)" in parse.diff and not parse.diff_truncated
    renamed = commits["Rename the lexer"].files
    assert [(c.old_path, c.path) for c in renamed] == [("lexer.py", "tokens.py")]
    logo = commits["Add the logo"]
    assert [(c.path, c.insertions, c.deletions) for c in logo.files] == [("logo.png", None, None)]
    assert "Binary files" in logo.diff
    tables = commits["Generate tables"]
    assert tables.insertions == 40000
    assert tables.diff_truncated and len(tables.diff.encode()) <= DIFF_BYTES


def test_one_branch_only_and_an_empty_window(repo: Repo) -> None:
    main_only = collect(repo.path, DAY, Selection(branch="feature"))
    assert [commit.subject for commit in main_only.commits] == ["Parse numbers", "Add a lexer"]

    quiet = Window(WHEN + timedelta(days=5), WHEN + timedelta(days=6))
    assert collect(repo.path, quiet).commits == []


def test_a_remote_repository_is_cloned_into_the_cache_once_and_fetched_again(repo: Repo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    url = repo.path.as_uri()

    first = cached_clone(url, cache)
    repo.commit("Later work", {"later.py": "y = 2\n"}, at=WHEN + timedelta(hours=2))
    again = cached_clone(url, cache)

    assert first == again and list(cache.rglob("*.git")) == [first]
    subjects = [commit.subject for commit in collect(again, DAY).commits]
    assert subjects[-1] == "Later work"
    assert collect(again, DAY).repository == "parser"


def test_windows_parse_durations_and_dates_and_refuse_nonsense() -> None:
    now = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    assert Window.parse("24h", now=now) == Window(now - timedelta(hours=24), now)
    assert Window.parse("2026-11-20", "7d", now=now) == Window(datetime(2026, 11, 20, tzinfo=UTC), now - timedelta(7))
    with pytest.raises(ConfigError, match="neither a duration nor a date"):
        Window.parse("yesterday", now=now)
    with pytest.raises(ConfigError, match="the window is empty"):
        Window.parse("1h", "2h", now=now)


def test_a_folder_that_is_not_a_repository_is_named(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="git failed reading"):
        collect(tmp_path, DAY)
