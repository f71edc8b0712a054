"""A daily digest, scheduled: what `sparkctl digest schedule` makes of `--at`, `--timezone`, `--since` and the
repositories, rendered two ways (digest/schedule_plan.py installs, lists and removes it in the cluster).

- In the cluster, a CronJob (batch/v1) in the GraphRAG namespace runs `sparkctl digest run` from the services
  image, as the chart runs the services (uid 10001, read-only root filesystem, no capability). It reaches the
  orchestrator at its in-cluster Service through SPARKCTL_ENDPOINT, with the API key `graphrag deploy` generated
  (SPARKCTL_API_KEY from the Secret, never a literal). The pod cannot read the user's folders: it clones the
  repositories' URLs into an emptyDir, made anew for each run and gone with it, so a removed schedule leaves no
  volume behind and a broken mirror never outlives a run; the price is one full clone a day per repository.
- On the local stack, a crontab line running this very sparkctl with the repositories' absolute paths, printed
  for the user to add (nothing here edits a crontab).

Nothing here prints; errors are ConfigError with what to do.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sparkctl.deploy import images
from sparkctl.deploy.values import COMPONENTS, CREDENTIALS_SECRET, GRAPHRAG_NAMESPACE
from sparkctl.digest.collect import is_remote
from sparkctl.errors import ConfigError

DAY = timedelta(hours=24)
"""The time between two runs."""
NAME_LIMIT = 52
"""Longest CronJob name: the controller adds 11 characters to name its Jobs, which must fit in 63."""
LABELS = {
    "app.kubernetes.io/name": "digest",
    "app.kubernetes.io/component": "digest-schedule",
    "app.kubernetes.io/part-of": "sparkctl",
    "app.kubernetes.io/managed-by": "sparkctl",
}
"""Every schedule's labels: `digest schedule --list` and `--remove` find them (and only them) by these."""
AT = "sparkctl.dev/at"
REPOSITORIES = "sparkctl.dev/repositories"
"""Annotations recording what was asked: the time of day and the repositories (one per line)."""
CACHE_HOME = "/var/cache"
CACHE_MOUNT = f"{CACHE_HOME}/sparkctl"
"""Where the clones' emptyDir is mounted: sparkctl's cache_dir() with XDG_CACHE_HOME set to CACHE_HOME."""
CACHE_LIMIT = "20Gi"
"""The bare mirrors of the day's repositories; a pod that writes more is evicted."""
MEMORY, CPU = "1Gi", "250m"
"""git's packing of a large repository dominates; the commits themselves go out in batches of 200."""
STARTING_DEADLINE = 3600
"""A run the controller could not start within an hour of its time (the node was down) waits for the next day."""
RUN_DEADLINE = 3 * 3600
"""A run still going after three hours is stopped: the day's run takes minutes, and the next one must start."""
RETRIES = 2
"""Failed pods retried per run (an unreachable Git host or orchestrator); the summaries done are kept."""
HISTORY = 3

_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_CLONE_SCHEMES = ("https", "http", "git")


@dataclass(frozen=True)
class DailyAt:
    """A time of day, in a time zone (None: the cluster's or the machine's own)."""

    hour: int
    minute: int
    timezone: str | None = None

    @classmethod
    def parse(cls, at: str, timezone: str | None = None) -> DailyAt:
        """`--at HH:MM` on a 24-hour clock, and `--timezone` an IANA name such as Europe/Paris."""
        match = _TIME.match(at)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise ConfigError(
                f"--at {at!r} is not a time of day", hint="Give hours and minutes on a 24-hour clock: --at 06:00."
            )
        return cls(int(match.group(1)), int(match.group(2)), _timezone(timezone) if timezone is not None else None)

    @property
    def cron(self) -> str:
        """The cron expression of a run every day at this time."""
        return f"{self.minute} {self.hour} * * *"

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}" + (f" ({self.timezone})" if self.timezone else "")


def _timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"--timezone {name!r} is not a time zone",
            hint="Give an IANA time zone name, such as UTC, Europe/Paris or America/New_York.",
        ) from None
    return name


def parse_since(since: str) -> timedelta:
    """`--since` of a schedule: a duration back from each run. A date would make every run's window grow."""
    match = _DURATION.match(since)
    if not match or int(match.group(1)) == 0:
        raise ConfigError(
            f"--since {since!r} is not a duration",
            hint="A schedule's window is a duration back from each run, such as 24h, 36h or 2d.",
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@dataclass(frozen=True)
class Schedule:
    """What `digest schedule` was asked for."""

    at: DailyAt
    repositories: tuple[str, ...]
    since: str = "24h"
    name: str | None = None
    workspace: str = "default"
    model: str | None = None

    def __post_init__(self) -> None:
        if not self.repositories:
            raise ConfigError("no repository to digest", hint="Name one or more: digest schedule --at 06:00 URL.")
        # In one order, each once: the same repositories are the same schedule, named and rendered alike.
        object.__setattr__(self, "repositories", tuple(sorted(set(self.repositories))))
        parse_since(self.since)
        if self.name is not None:
            check_name(self.name)

    @property
    def window(self) -> timedelta:
        return parse_since(self.since)

    def warnings(self) -> list[str]:
        """What the user should know before relying on it."""
        if self.window < DAY:
            return [
                f"--since {self.since} is shorter than the 24 h between two runs: commits made in between are "
                "never collected. Give --since 24h or more (a longer window costs nothing: a commit is "
                "summarised once)."
            ]
        return []

    @property
    def cronjob_name(self) -> str:
        return self.name or schedule_name(self.repositories)

    def on_this_machine(self) -> Schedule:
        """The schedule with its folders as absolute paths (URLs stay), as cron runs it from another folder."""
        return replace(
            self, repositories=tuple(item if is_remote(item) else str(_folder(item)) for item in self.repositories)
        )

    def run_arguments(self) -> list[str]:
        """`digest run`'s arguments, after the program's name."""
        options = ["digest", "run", "--since", self.since, "--output", "markdown"]
        if self.workspace != "default":
            options += ["--workspace", self.workspace]
        if self.model:
            options += ["--model", self.model]
        return [*options, *self.repositories]


def check_name(name: str) -> str:
    """A CronJob name as Kubernetes takes it (a DNS-1123 label of at most 52 characters), or ConfigError."""
    if len(name) > NAME_LIMIT or not _DNS_LABEL.match(name):
        raise ConfigError(
            f"--name {name!r} cannot name a CronJob",
            hint=f"Use at most {NAME_LIMIT} lower-case letters, digits and '-', starting and ending with a letter "
            "or digit.",
        )
    return name


def schedule_name(repositories: Sequence[str]) -> str:
    """`digest-<repositories>-<hash>`: the same repositories give the same name whatever their order, so
    scheduling them again changes that schedule rather than adding one."""
    unique = sorted(set(repositories))
    digest = hashlib.sha256("\n".join(unique).encode()).hexdigest()[:6]
    words = [_slug(_short_name(repository)) for repository in unique]
    room = NAME_LIMIT - len("digest--") - len(digest)
    middle = "-".join(word for word in words if word)[:room].strip("-") or "repositories"
    return f"digest-{middle}-{digest}"


def _short_name(repository: str) -> str:
    tail = re.split(r"[/:]", repository.rstrip("/"))[-1]
    return tail.removesuffix(".git")


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")


def clone_urls(repositories: Sequence[str]) -> tuple[str, ...]:
    """The repositories as the CronJob's pod can clone them: http(s) or git URLs without credentials."""
    return tuple(_clone_url(repository) for repository in repositories)


def _clone_url(repository: str) -> str:
    if not is_remote(repository) or repository.startswith("file://"):
        origin = _origin(Path(repository.removeprefix("file://")))
        raise ConfigError(
            f"{repository} is a folder on this machine, which the cluster's CronJob cannot read",
            hint=(
                f"Pass the URL it is cloned from ({origin}): the CronJob clones it."
                if origin
                else "Pass a URL the cluster can clone (https://…): the CronJob clones it."
            )
            + " Or schedule it on this machine with --local.",
        )
    parts = urlsplit(repository) if "://" in repository else None
    if parts is None or parts.scheme not in _CLONE_SCHEMES:
        raise ConfigError(
            f"{repository}: the services image has no SSH client, so the CronJob clones over https only",
            hint="Pass the repository's https URL.",
        )
    if parts.password is not None:
        raise ConfigError(
            f"{parts.scheme}://{parts.hostname}/…: the URL holds a password, which the CronJob's manifest would show",
            hint="Schedule repositories the cluster can clone without credentials (public ones).",
        )
    return repository


def _origin(folder: Path) -> str | None:
    """The folder's `origin` URL when it is a git repository that has one."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "remote", "get-url", "origin"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def orchestrator_url() -> str:
    """The orchestrator's Service, as pods of the cluster reach it."""
    return f"http://orchestrator.{GRAPHRAG_NAMESPACE}.svc.cluster.local:{COMPONENTS['orchestrator'].port}"


def cronjob(schedule: Schedule) -> dict[str, Any]:
    """The CronJob running `sparkctl digest run` every day at the schedule's time."""
    urls = clone_urls(schedule.repositories)
    name = schedule.cronjob_name
    labels = {**LABELS, "app.kubernetes.io/instance": name}
    container = {
        "name": "digest",
        "image": images.SERVICES.reference,
        "imagePullPolicy": images.SERVICES.pull_policy,
        "command": ["sparkctl", *schedule.run_arguments()],
        "env": [
            {"name": "SPARKCTL_ENDPOINT", "value": orchestrator_url()},
            {
                "name": "SPARKCTL_API_KEY",
                "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": "api-keys"}},
            },
            {"name": "HOME", "value": "/tmp"},
            {"name": "XDG_CACHE_HOME", "value": CACHE_HOME},
            {"name": "XDG_CONFIG_HOME", "value": "/tmp/config"},
            {"name": "XDG_STATE_HOME", "value": "/tmp/state"},
            {"name": "GIT_TERMINAL_PROMPT", "value": "0"},
        ],
        "resources": {"requests": {"cpu": CPU, "memory": MEMORY}, "limits": {"memory": MEMORY}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "repositories", "mountPath": CACHE_MOUNT}],
    }
    pod = {
        "metadata": {"labels": dict(labels)},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "runAsGroup": 10001,
                "fsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
            "volumes": [
                {"name": "tmp", "emptyDir": {}},
                {"name": "repositories", "emptyDir": {"sizeLimit": CACHE_LIMIT}},
            ],
        },
    }
    spec: dict[str, Any] = {"schedule": schedule.at.cron}
    if schedule.at.timezone:
        spec["timeZone"] = schedule.at.timezone
    spec |= {
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": STARTING_DEADLINE,
        "successfulJobsHistoryLimit": HISTORY,
        "failedJobsHistoryLimit": HISTORY,
        "jobTemplate": {
            "metadata": {"labels": dict(labels)},
            "spec": {"backoffLimit": RETRIES, "activeDeadlineSeconds": RUN_DEADLINE, "template": pod},
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": name,
            "namespace": GRAPHRAG_NAMESPACE,
            "labels": dict(labels),
            "annotations": {AT: str(schedule.at), REPOSITORIES: "\n".join(urls)},
        },
        "spec": spec,
    }


def sparkctl_program() -> list[str]:
    """This sparkctl, as cron (whose PATH is short) can start it: the console script beside this Python, else the
    one on the PATH, else this Python with `-m sparkctl`."""
    beside = Path(sys.executable).parent / "sparkctl"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("sparkctl")
    return [str(Path(found).absolute())] if found else [sys.executable, "-m", "sparkctl"]


def crontab_lines(schedule: Schedule, program: Sequence[str], log: Path) -> list[str]:
    """The crontab entry of the local stack (after a CRON_TZ line when a time zone was given): `program`, the
    repositories as absolute paths or URLs, the output appended to `log`. A `%` is escaped, as cron wants."""
    argv = [*program, *schedule.on_this_machine().run_arguments()]
    command = " ".join(shlex.quote(part) for part in argv) + f" >> {shlex.quote(str(log))} 2>&1"
    entry = f"{schedule.at.cron} " + command.replace("%", "\\%")
    return [f"CRON_TZ={schedule.at.timezone}", entry] if schedule.at.timezone else [entry]


def _folder(repository: str) -> Path:
    folder = Path(repository).expanduser().resolve()
    if not folder.is_dir():
        raise ConfigError(f"{repository}: no such folder", hint="Give the path of a git repository, or its URL.")
    return folder
