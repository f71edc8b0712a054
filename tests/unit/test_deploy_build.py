"""`graphrag deploy --build` planned from host facts (a DGX OS fixture, and ctr's output captured on this machine)
and applied on a strict fake host: nerdctl and BuildKit from nerdctl's pinned full release, the build context
made here and sent, the build into containerd's k8s.io namespace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sparkctl.cluster.actions import Target
from sparkctl.cluster.facts.runtime import ContainerdImages
from sparkctl.cluster.plan import apply_plan, make_plan
from sparkctl.deploy import image
from sparkctl.deploy.build import ImageBuild, build_steps
from support.cluster import FixtureFacts, SequenceFacts, StrictHost, load_host

RAW = Path(__file__).resolve().parent.parent / "fixtures" / "raw" / "debian12-ci"
PROJECT = Path("/home/me/sparkctl")
REFERENCE = image.reference()


def _raw(name: str) -> str:
    return (RAW / name).read_text()


def test_containerd_images_from_ctr_and_none_when_it_cannot_connect() -> None:
    fact = ContainerdImages("k8s.io")

    listed = fact.from_output(0, _raw("ctr-images-ls-q.imported.txt"))
    unreachable = fact.from_output(
        int(_raw("ctr-images-ls-q.rc.txt")), _raw("ctr-images-ls-q.txt"), _raw("ctr-images-ls-q.stderr.txt")
    )

    assert REFERENCE in listed
    assert len(listed) == 2, "the name and the digest"
    assert unreachable == []


def _facts(images: list[str], installed: bool = False) -> dict[str, Any]:
    facts = load_host("fresh-dgx-os")
    facts["FileContent(/usr/local/share/sparkctl/nerdctl-full.version)"] = "v2.1.4\n" if installed else None
    state = {"active": "active", "enabled": "enabled"} if installed else {"active": "", "enabled": ""}
    facts["Services(buildkit)"] = {"buildkit": state}
    facts["ContainerdImages(k8s.io)"] = images
    return facts


def test_a_fresh_spark_gets_nerdctl_and_buildkit_then_the_image() -> None:
    plan = make_plan(build_steps(ImageBuild(PROJECT)), FixtureFacts(_facts([])))

    assert [(p.step.name, p.check.state) for p in plan.steps] == [("buildkit", "missing"), ("build", "missing")]
    assert [a.render() for a in plan.steps[0].actions] == [
        'tmp=$(mktemp) && curl -fsSL --retry 3 -o "$tmp" '
        "https://github.com/containerd/nerdctl/releases/download/v2.1.4/nerdctl-full-2.1.4-linux-arm64.tar.gz && "
        'echo "124b171778f8cc9bb317e094e5a92de5faf6d1bb5f5c9ded4b82a55df2c3c295  $tmp" | sha256sum -c --quiet - && '
        'tar -xzf "$tmp" -C /usr/local bin/nerdctl bin/buildkitd bin/buildctl lib/systemd/system/buildkit.service '
        '&& rm -f "$tmp"',
        "write /usr/local/share/sparkctl/nerdctl-full.version (0644, 1 line)",
        "systemctl daemon-reload",
        "systemctl enable --now buildkit",
    ]
    assert [a.render() for a in plan.steps[1].actions] == [
        "local: make the build context here (a wheelhouse for aarch64, Python 3.11, and services/Containerfile) "
        "and send it to /var/lib/sparkctl/build/context.tar.gz",
        "rm -rf /var/lib/sparkctl/build/image && "
        "tar -xzf /var/lib/sparkctl/build/context.tar.gz -C /var/lib/sparkctl/build",
        "/usr/local/bin/nerdctl --namespace=k8s.io build --file=/var/lib/sparkctl/build/image/Containerfile "
        f"--build-arg=VERSION=0.1.0 --build-arg=WHEELHOUSE=wheelhouse --tag={REFERENCE} /var/lib/sparkctl/build/image",
        "rm -rf /var/lib/sparkctl/build",
    ]


def test_a_stopped_buildkit_is_only_started() -> None:
    facts = _facts([REFERENCE], installed=True)
    facts["Services(buildkit)"] = {"buildkit": {"active": "inactive", "enabled": "enabled"}}

    plan = make_plan(build_steps(ImageBuild(PROJECT)), FixtureFacts(facts))

    assert plan.steps[0].check.reason == "buildkit is inactive (enabled)"
    assert [a.render() for a in plan.steps[0].actions] == ["systemctl enable --now buildkit"]


def test_an_image_already_there_is_nothing_to_do() -> None:
    plan = make_plan(build_steps(ImageBuild(PROJECT)), FixtureFacts(_facts([REFERENCE], installed=True)))

    assert plan.nothing_to_do
    assert plan.steps[1].check.reason == f"{REFERENCE} is in containerd's k8s.io namespace"


def test_without_a_source_tree_it_is_refused_with_where_to_build() -> None:
    plan = make_plan(build_steps(ImageBuild(None)), FixtureFacts(_facts([], installed=True)))

    assert plan.refused is not None
    assert "services/README.md" in plan.refused.check.hint


def test_the_build_runs_in_order_with_the_context_made_for_the_hosts_machine(tmp_path: Path) -> None:
    made: list[tuple[Path, image.Target]] = []

    def make_context(project: Path, directory: Path, target: image.Target) -> Path:
        made.append((project, target))
        archive = directory / "context.tar.gz"
        archive.write_bytes(b"context")
        return archive

    before, after = _facts([], installed=True), _facts([REFERENCE], installed=True)
    host = StrictHost(allow=True)
    seen: list[str] = []

    apply_plan(
        build_steps(ImageBuild(PROJECT, make_context)),
        SequenceFacts(before, before, after),
        Target(host, lambda: pytest.fail("no cluster"), lambda: pytest.fail("no helm")),
        lambda kind, step, text: seen.append(f"{kind} {step.name}"),
    )

    assert made == [(PROJECT, image.Target(machine="aarch64"))]
    assert host.calls[0] == ("put", ("/var/lib/sparkctl/build/context.tar.gz", "context"))
    commands = [call[1] for call in host.calls[1:]]
    assert commands[0].startswith("rm -rf /var/lib/sparkctl/build/image && tar -xzf")
    assert [command[:3] for command in commands[1:]] == [
        ["/usr/local/bin/nerdctl", "--namespace=k8s.io", "build"],
        ["rm", "-rf", "/var/lib/sparkctl/build"],
    ]
    assert seen == ["skip buildkit", "start build", *["action build"] * 4, "done build"]
