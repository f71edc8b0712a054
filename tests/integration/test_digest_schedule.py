"""`sparkctl digest schedule` against a cluster: the CronJob applied (server-side), read back, listed, changed and
removed through the FAKE Kubernetes API server (tests/support/fake_kube.py, a test double: no real API server can
run here), with the command run as a user runs it. The CronJob's pod is also compared with the chart's services
as the real helm renders them (same image, pull policy and security contexts).
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sparkctl.deploy.releases import graphrag_release
from sparkctl.digest.schedule import DailyAt, Schedule, cronjob, schedule_name
from sparkctl.helm import Helm
from sparkctl.kube import Kube
from support.fake_kube import FakeKube
from support.local_cli import Cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

API = "https://git.example.org/acme/api.git"
WEB = "https://git.example.org/acme/web.git"
KEY = "spk-the-orchestrators-only-key"
NAME = schedule_name([API, WEB])


def _stack(fake: FakeKube, api_keys: str = KEY) -> None:
    """What `graphrag deploy` leaves that the schedule needs: the namespace, the Secret, the orchestrator."""
    fake.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "graphrag"}, "status": {"phase": "Active"}})
    fake.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "graphrag-credentials", "namespace": "graphrag"},
            "data": {"api-keys": base64.b64encode(api_keys.encode()).decode()},
        }
    )
    fake.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "orchestrator", "namespace": "graphrag"},
            "spec": {"template": {"spec": {"containers": [{"name": "orchestrator", "image": "x"}]}}},
        }
    )


def _schedule(cli: Cli, fake: FakeKube, *args: str) -> subprocess.CompletedProcess:
    return cli.run("--kubeconfig", str(fake.kubeconfig), "digest", "schedule", *args, timeout=60)


def _cronjobs(fake: FakeKube) -> dict[str, dict[str, Any]]:
    return {item["metadata"]["name"]: item for item in fake.objects("cronjobs", "graphrag")}


def test_schedule_applies_the_cronjob_server_side_and_again_changes_nothing(cli: Cli, fake_kube: FakeKube) -> None:
    _stack(fake_kube)

    first = _schedule(cli, fake_kube, "--at", "06:00", "--timezone", "Europe/Paris", API, WEB)

    assert first.returncode == 0, first.stdout + first.stderr
    assert f"Scheduled: {NAME} runs `digest run` every day at 06:00 (Europe/Paris)" in first.stdout
    stored = _cronjobs(fake_kube)[NAME]
    wanted = cronjob(Schedule(DailyAt(6, 0, "Europe/Paris"), (API, WEB)))
    assert stored["spec"] == wanted["spec"]
    assert stored["metadata"]["labels"] == wanted["metadata"]["labels"]
    (applied,) = fake_kube.requested("PATCH", f"/apis/batch/v1/namespaces/graphrag/cronjobs/{NAME}")
    assert applied.content_type == "application/apply-patch+yaml"
    assert applied.query["fieldManager"] == "sparkctl"
    assert KEY not in first.stdout + first.stderr + json.dumps(stored)

    again = _schedule(cli, fake_kube, "--at", "06:00", "--timezone", "Europe/Paris", WEB, API, "-o", "json")

    assert again.returncode == 0, again.stderr
    plan = json.loads(again.stdout)
    assert plan["nothing_to_do"] is True
    assert [step["state"] for step in plan["steps"]] == ["done", "done"]
    assert len(fake_kube.requested("PATCH", "/cronjobs/")) == 1


def test_a_new_time_is_shown_as_a_change_and_applied(cli: Cli, fake_kube: FakeKube) -> None:
    _stack(fake_kube)
    assert _schedule(cli, fake_kube, "--at", "06:00", API, WEB).returncode == 0

    plan = _schedule(cli, fake_kube, "--at", "07:15", API, WEB, "--dry-run", "-o", "json")
    changed = _schedule(cli, fake_kube, "--at", "07:15", API, WEB)

    steps = {step["name"]: step for step in json.loads(plan.stdout)["steps"]}
    assert steps["cronjob"]["state"] == "drifted"
    assert "spec.schedule: 0 6 * * * → 15 7 * * *" in steps["cronjob"]["reason"]
    assert changed.returncode == 0, changed.stderr
    assert _cronjobs(fake_kube)[NAME]["spec"]["schedule"] == "15 7 * * *"


def test_a_dry_run_shows_the_plan_and_applies_nothing(cli: Cli, fake_kube: FakeKube) -> None:
    _stack(fake_kube)

    result = _schedule(cli, fake_kube, "--at", "06:00", API, "--dry-run")

    assert result.returncode == 0, result.stderr
    assert "digest schedule: plan for" in result.stdout
    assert f"apply CronJob graphrag/{schedule_name([API])} (server-side): cron '0 6 * * *'" in result.stdout
    assert fake_kube.objects("cronjobs") == []
    assert fake_kube.requested("PATCH") == []


def test_without_the_graphrag_stack_it_is_refused(cli: Cli, fake_kube: FakeKube) -> None:
    result = _schedule(cli, fake_kube, "--at", "06:00", API)

    assert result.returncode == 1
    assert "Secret graphrag/graphrag-credentials does not exist" in result.stderr
    assert "sparkctl graphrag deploy" in result.stderr
    assert fake_kube.objects("cronjobs") == []


def test_api_keys_bound_to_workspaces_are_refused_without_showing_them(cli: Cli, fake_kube: FakeKube) -> None:
    _stack(fake_kube, api_keys=f"{KEY}:acme,spk-second")

    result = _schedule(cli, fake_kube, "--at", "06:00", API)

    assert result.returncode == 1
    assert "holds several entries or a key bound to workspaces" in result.stderr
    assert KEY not in result.stdout + result.stderr
    assert fake_kube.objects("cronjobs") == []


def test_list_shows_the_schedules_and_remove_deletes_one(cli: Cli, fake_kube: FakeKube) -> None:
    _stack(fake_kube)
    assert _schedule(cli, fake_kube, "--at", "06:00", "--timezone", "UTC", API, WEB).returncode == 0
    assert _schedule(cli, fake_kube, "--at", "22:30", "--name", "nightly-api", API).returncode == 0
    foreign = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "backup", "namespace": "graphrag"},
        "spec": {"schedule": "0 1 * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}},
    }
    with Kube.from_kubeconfig(fake_kube.kubeconfig) as kube:
        kube.create(foreign)

    listed = _schedule(cli, fake_kube, "--list", "-o", "json")

    assert listed.returncode == 0, listed.stderr
    assert [(item["name"], item["at"], item["repositories"]) for item in json.loads(listed.stdout)] == [
        (NAME, "06:00 (UTC)", [API, WEB]),
        ("nightly-api", "22:30", [API]),
    ]

    refused = _schedule(cli, fake_kube, "--remove", "backup", "--yes")
    removed = _schedule(cli, fake_kube, "--remove", "nightly-api", "--yes")
    again = _schedule(cli, fake_kube, "--remove", "nightly-api", "--yes", "-o", "json")

    assert refused.returncode == 1
    assert "CronJob graphrag/backup is not one of sparkctl's digests" in refused.stderr
    assert removed.returncode == 0, removed.stderr
    assert "nightly-api is removed" in removed.stdout
    (deleted,) = fake_kube.requested("DELETE", "/cronjobs/")
    assert deleted.path == "/apis/batch/v1/namespaces/graphrag/cronjobs/nightly-api"
    assert sorted(_cronjobs(fake_kube)) == ["backup", NAME]
    assert json.loads(again.stdout)["steps"][0]["reason"] == "there is no CronJob graphrag/nightly-api"


def test_the_pod_runs_as_the_charts_services_do(helm_binary: Path) -> None:
    from sparkctl.catalog import load_catalog

    rendered = graphrag_release(load_catalog()).render(Helm(helm_binary))
    worker = next(obj for obj in rendered if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "worker")
    chart_pod = worker["spec"]["template"]["spec"]
    chart_container = next(c for c in chart_pod["containers"] if c["name"] == "worker")
    pod = cronjob(Schedule(DailyAt(6, 0), (API,)))["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert pod["securityContext"] == chart_pod["securityContext"]
    assert container["securityContext"] == chart_container["securityContext"]
    assert (container["image"], container["imagePullPolicy"]) == (
        chart_container["image"],
        chart_container["imagePullPolicy"],
    )
    assert pod["automountServiceAccountToken"] is chart_pod["automountServiceAccountToken"] is False
