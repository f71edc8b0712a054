"""`sparkctl digest schedule` without a cluster: --at and --timezone into a cron expression, the CronJob (validated
for Kubernetes 1.34 with kubernetes-validate, strict), the crontab line of the local stack, the refusals, and the
command's `--dry-run -o yaml` and `--local` output through the CLI."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from sparkctl.cli.app import app
from sparkctl.digest.schedule import (
    NAME_LIMIT,
    DailyAt,
    Schedule,
    cronjob,
    crontab_lines,
    parse_since,
    schedule_name,
    sparkctl_program,
)
from sparkctl.errors import ConfigError

KUBERNETES = "1.34.0"
API = "https://git.example.org/acme/api.git"
WEB = "https://git.example.org/acme/web"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

runner = CliRunner()


def _schedule(*repositories: str, at: str = "06:00", timezone: str | None = None, **options: Any) -> Schedule:
    return Schedule(DailyAt.parse(at, timezone), repositories or (API,), **options)


def _container(manifest: dict[str, Any]) -> dict[str, Any]:
    containers = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _git_repository(folder: Path, origin: str | None = None) -> Path:
    folder.mkdir(parents=True)
    subprocess.run(["git", "init", "--quiet", str(folder)], check=True)
    if origin:
        subprocess.run(["git", "-C", str(folder), "remote", "add", "origin", origin], check=True)
    return folder


@pytest.mark.parametrize(
    ("at", "cron"),
    [("06:00", "0 6 * * *"), ("6:05", "5 6 * * *"), ("00:00", "0 0 * * *"), ("23:59", "59 23 * * *")],
)
def test_at_becomes_a_daily_cron_expression(at: str, cron: str) -> None:
    assert DailyAt.parse(at).cron == cron


@pytest.mark.parametrize("at", ["24:00", "06:60", "6h", "0600", "", "-1:00", "06:00:00", "6:5"])
def test_a_time_that_is_not_one_is_refused_naming_it(at: str) -> None:
    with pytest.raises(ConfigError) as refused:
        DailyAt.parse(at)

    assert refused.value.message == f"--at {at!r} is not a time of day"
    assert "24-hour" in refused.value.hint


def test_the_time_zone_is_an_iana_name() -> None:
    assert DailyAt.parse("07:30", "Europe/Paris") == DailyAt(7, 30, "Europe/Paris")
    assert str(DailyAt.parse("07:30", "Europe/Paris")) == "07:30 (Europe/Paris)"
    for wrong in ("Mars/Olympus", "../../etc/passwd", "Europe/"):
        with pytest.raises(ConfigError, match=re.escape(f"--timezone {wrong!r} is not a time zone")):
            DailyAt.parse("07:30", wrong)


def test_the_window_is_a_duration_back_from_each_run() -> None:
    assert parse_since("24h") == timedelta(hours=24)
    assert parse_since("2d") == timedelta(days=2)
    for wrong in ("2026-01-01", "0h", "yesterday", "24"):
        with pytest.raises(ConfigError, match=re.escape(f"--since {wrong!r} is not a duration")):
            _schedule(since=wrong)


def test_a_window_shorter_than_the_day_between_runs_is_warned_about() -> None:
    assert _schedule(since="24h").warnings() == []
    assert _schedule(since="2d").warnings() == []
    (warning,) = _schedule(since="12h").warnings()
    assert warning.startswith("--since 12h is shorter than the 24 h between two runs")


def test_the_name_comes_from_the_repositories_whatever_their_order() -> None:
    name = schedule_name([API, WEB])

    assert name == schedule_name([WEB, API, WEB])
    assert re.fullmatch(r"digest-api-web-[0-9a-f]{6}", name)
    assert schedule_name([API]) != name
    assert schedule_name(["https://git.example.org/other/api.git"]) != schedule_name([API])


def test_the_same_repositories_in_another_order_are_the_same_cronjob() -> None:
    assert cronjob(_schedule(WEB, API, WEB)) == cronjob(_schedule(API, WEB))


def test_a_long_name_still_fits_a_cronjob() -> None:
    many = [f"https://git.example.org/acme/Service_Number_{index}.git" for index in range(12)]

    name = schedule_name(many)

    assert len(name) <= NAME_LIMIT
    assert DNS_LABEL.match(name)
    assert name.startswith("digest-service-number-")


def test_a_given_name_must_fit_kubernetes() -> None:
    assert _schedule(name="team-digest").cronjob_name == "team-digest"
    for wrong in ("Team_Digest", "-digest", "x" * (NAME_LIMIT + 1)):
        with pytest.raises(ConfigError, match="cannot name a CronJob"):
            _schedule(name=wrong)


def test_the_cronjob_is_valid_for_kubernetes_1_34() -> None:
    for schedule in (_schedule(API, WEB, timezone="Europe/Paris", workspace="acme", model="extract"), _schedule()):
        kubernetes_validate.validate(cronjob(schedule), KUBERNETES, strict=True)


def test_the_cronjob_runs_digest_run_against_the_clusters_orchestrator() -> None:
    manifest = cronjob(_schedule(API, WEB, at="06:30", timezone="Europe/Paris", since="36h", workspace="acme"))
    container = _container(manifest)
    environment = {item["name"]: item for item in container["env"]}

    assert manifest["metadata"]["namespace"] == "graphrag"
    assert manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "sparkctl"
    assert manifest["spec"]["schedule"] == "30 6 * * *"
    assert manifest["spec"]["timeZone"] == "Europe/Paris"
    assert manifest["spec"]["concurrencyPolicy"] == "Forbid"
    assert container["command"] == [
        "sparkctl", "digest", "run", "--since", "36h", "--output", "markdown", "--workspace", "acme", API, WEB,
    ]  # fmt: skip
    assert environment["SPARKCTL_ENDPOINT"]["value"] == "http://orchestrator.graphrag.svc.cluster.local:8100"
    assert environment["SPARKCTL_API_KEY"] == {
        "name": "SPARKCTL_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "graphrag-credentials", "key": "api-keys"}},
    }
    assert container["image"] == "localhost/sparkctl-services:" + container["image"].rsplit(":", 1)[1]
    assert container["imagePullPolicy"] == "Never"


def test_the_clones_go_to_a_writable_cache_on_a_read_only_root() -> None:
    manifest = cronjob(_schedule())
    pod = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = _container(manifest)
    environment = {item["name"]: item.get("value") for item in container["env"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}

    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    cache = f"{environment['XDG_CACHE_HOME']}/sparkctl"  # sparkctl.paths.cache_dir() in the pod
    assert "emptyDir" in volumes[mounts[cache]]
    assert "emptyDir" in volumes[mounts[environment["HOME"]]]
    assert environment["XDG_STATE_HOME"].startswith(environment["HOME"])
    assert environment["XDG_CONFIG_HOME"].startswith(environment["HOME"])


def test_a_folder_is_refused_for_the_cluster_naming_its_origin(tmp_path: Path) -> None:
    folder = _git_repository(tmp_path / "api", origin=API)

    with pytest.raises(ConfigError) as refused:
        cronjob(_schedule(str(folder)))

    assert refused.value.message == f"{folder} is a folder on this machine, which the cluster's CronJob cannot read"
    assert f"Pass the URL it is cloned from ({API})" in refused.value.hint
    assert "--local" in refused.value.hint


def test_a_folder_without_an_origin_and_a_file_url_are_refused_too(tmp_path: Path) -> None:
    folder = _git_repository(tmp_path / "solo")
    for repository in (str(folder), f"file://{folder}"):
        with pytest.raises(ConfigError, match="is a folder on this machine") as refused:
            cronjob(_schedule(repository))
        assert "https://" in refused.value.hint


@pytest.mark.parametrize("url", ["git@github.com:acme/api.git", "ssh://git@github.com/acme/api.git"])
def test_ssh_urls_are_refused_since_the_image_has_no_ssh_client(url: str) -> None:
    with pytest.raises(ConfigError, match="no SSH client"):
        cronjob(_schedule(url))


def test_a_url_with_a_password_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError) as refused:
        cronjob(_schedule("https://ada:s3cret-token@git.example.org/acme/api.git"))

    assert "password" in refused.value.message
    assert "s3cret-token" not in refused.value.message + refused.value.hint


def test_the_crontab_line_runs_this_sparkctl_on_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _git_repository(tmp_path / "my api")
    monkeypatch.chdir(tmp_path)
    schedule = _schedule("my api", "https://git.example.org/acme/x%20y.git", at="06:30")

    lines = crontab_lines(schedule, ["/opt/sparkctl/bin/sparkctl"], Path("/var/log/digest.log"))

    assert lines == [
        f"30 6 * * * /opt/sparkctl/bin/sparkctl digest run --since 24h --output markdown '{tmp_path}/my api' "
        "https://git.example.org/acme/x\\%20y.git >> /var/log/digest.log 2>&1"
    ]


def test_the_crontab_line_follows_a_cron_tz_line_when_a_time_zone_is_given(tmp_path: Path) -> None:
    folder = _git_repository(tmp_path / "api")
    schedule = _schedule(str(folder), at="21:15", timezone="America/New_York", since="2d")

    lines = crontab_lines(schedule, ["/usr/bin/python3", "-m", "sparkctl"], Path("/tmp/d.log"))

    assert lines == [
        "CRON_TZ=America/New_York",
        f"15 21 * * * /usr/bin/python3 -m sparkctl digest run --since 2d --output markdown {folder} >> /tmp/d.log 2>&1",
    ]


def test_the_crontab_line_refuses_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such folder"):
        crontab_lines(_schedule(str(tmp_path / "gone")), ["sparkctl"], tmp_path / "d.log")


def test_cli_dry_run_prints_the_cronjob_as_yaml() -> None:
    result = runner.invoke(
        app, ["digest", "schedule", "--at", "05:45", "--timezone", "UTC", API, "--dry-run", "-o", "yaml"]
    )

    assert result.exit_code == 0, result.output
    (manifest,) = list(yaml.safe_load_all(result.stdout))
    assert manifest == cronjob(_schedule(API, at="05:45", timezone="UTC"))
    assert "&id" not in result.stdout, "no YAML anchors: every object is written out"


def test_cli_yaml_without_dry_run_is_refused() -> None:
    result = runner.invoke(app, ["digest", "schedule", "--at", "05:45", API, "-o", "yaml"])

    assert result.exit_code == 1
    assert "--output yaml prints the manifest of a dry run" in result.stderr


def test_cli_local_prints_the_crontab_line_and_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    folder = _git_repository(tmp_path / "api")

    result = runner.invoke(app, ["digest", "schedule", "--at", "06:00", "--local", str(folder), "--since", "12h"])

    assert result.exit_code == 0, result.output
    log = tmp_path / "state" / "sparkctl" / "logs" / f"{schedule_name([str(folder)])}.log"
    program = " ".join(sparkctl_program())
    assert result.stdout == f"0 6 * * * {program} digest run --since 12h --output markdown {folder} >> {log} 2>&1\n"
    assert Path(sparkctl_program()[0]).is_absolute()
    assert "shorter than the 24 h between two runs" in result.stderr
    assert "crontab -e" in result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--list", "--at", "06:00"], "--list takes no --at"),
        (["--remove", "digest-x", API], "--remove takes no REPO"),
        (["--list", "--remove", "digest-x"], "--list takes no --remove"),
        ([API], "digest schedule needs --at and at least one repository"),
        (["--at", "06:00"], "digest schedule needs --at and at least one repository"),
    ],
)
def test_cli_refuses_options_that_do_not_go_together(arguments: list[str], message: str) -> None:
    result = runner.invoke(app, ["digest", "schedule", *arguments])

    assert result.exit_code == 1
    assert message in result.stderr
