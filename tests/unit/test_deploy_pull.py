"""What a pull Job does, from the catalog: its script, its volume, and which models a name selects."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparkctl.catalog import load_catalog
from sparkctl.deploy.pull import claim_manifest, clean_line, job_name, pull_job, pull_script, select_models
from sparkctl.errors import UnknownModel

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "models.toml")


def test_an_ollama_pull_skips_when_marked_then_pulls_verifies_and_marks() -> None:
    script = pull_script(CATALOG.resolve("deepseek-r1"))

    assert script.splitlines() == [
        "set -eu",
        'if [ -f /models/.sparkctl/pulled-deepseek-r1_32b ]; then echo "deepseek-r1:32b is already on the volume"; '
        "exit 0; fi",
        "mkdir -p /models/.sparkctl",
        "mkdir -p /models/ollama",
        "ollama serve >/tmp/ollama.log 2>&1 &",
        "for attempt in $(seq 1 60); do ollama list >/dev/null 2>&1 && break; sleep 1; done",
        "ollama pull deepseek-r1:32b",
        "ollama show deepseek-r1:32b >/dev/null",
        "echo deepseek-r1:32b > /models/.sparkctl/pulled-deepseek-r1_32b",
        'echo "deepseek-r1:32b pulled and verified"',
    ]


def test_the_job_mounts_the_models_claim_and_retries_twice() -> None:
    model = CATALOG.resolve("qwen3-coder-next")
    job = pull_job(model)

    assert job["metadata"] == {
        "name": "pull-qwen3-coder-next",
        "namespace": "llm-serving",
        "labels": {"app.kubernetes.io/part-of": "sparkctl", "sparkctl.dev/model": "qwen3-coder-next"},
    }
    spec = job["spec"]["template"]["spec"]
    assert spec["volumes"] == [{"name": "models", "persistentVolumeClaim": {"claimName": "qwen3-coder-next-models"}}]
    assert spec["containers"][0]["env"] == [{"name": "OLLAMA_MODELS", "value": "/models/ollama"}]
    assert job["spec"]["backoffLimit"] == 2
    assert claim_manifest(model)["spec"]["resources"] == {"requests": {"storage": "60Gi"}}


def test_a_long_model_name_still_makes_a_valid_job_name() -> None:
    model = CATALOG.resolve("qwen3").model_copy(update={"name": "a" * 60})

    assert job_name(model) == "pull-" + "a" * 58


def test_names_select_models_by_name_alias_or_whole_role() -> None:
    assert [m.name for m in select_models(CATALOG, None)] == [m.name for m in CATALOG]
    assert [m.name for m in select_models(CATALOG, ["embed", "deepseek", "qwen3-embedding"])] == [
        "qwen3-embedding",
        "deepseek-r1",
    ]
    with pytest.raises(UnknownModel):
        select_models(CATALOG, ["llama9"])


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("pulling a3de: 10% 0.5 GB\rpulling a3de: 55% 2.9 GB", "pulling a3de: 55% 2.9 GB"),
        ("success \x1b[K", "success"),
        ("\x1b[?25lpulling manifest \x1b[?25h", "pulling manifest"),
    ],
)
def test_log_lines_are_shown_as_a_terminal_would(line: str, shown: str) -> None:
    assert clean_line(line) == shown
