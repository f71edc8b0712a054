"""`sparkctl models pull`: each model's weights into its own volume, by a Kubernetes Job, once.

A model's claim (models.toml `pvc`, on the `longhorn-models` class, kept when released) holds Ollama's store
under /models/ollama or a Hugging Face snapshot under /models/hf/REPO. The Job writes a marker on the volume
after a verified download and sparkctl records it on the claim (annotation sparkctl.dev/pulled), so a model
already there is skipped without starting anything, and a Job started again finds the marker and ends at once.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sparkctl.catalog import Catalog, Model
from sparkctl.deploy import images
from sparkctl.deploy.values import HF_DIR, MODELS_MOUNT, OLLAMA_MODELS_DIR, hf_path

if TYPE_CHECKING:
    from sparkctl.kube import EventCallback, JobOutcome, Kube

MODELS_CLASS = "longhorn-models"
PULLED = "sparkctl.dev/pulled"
MARKERS = f"{MODELS_MOUNT}/.sparkctl"
PULL_TIMEOUT = 6 * 3600.0
"""A 50 GB model over a slow line takes hours; the Job's own deadline is the same."""

State = Literal["pulled", "missing", "pulling"]


@dataclass(frozen=True)
class PullTarget:
    model: Model
    state: State
    reason: str


def select_models(catalog: Catalog, names: list[str] | None) -> list[Model]:
    """The models named (by name, alias, `ref:tag` or role: all of a role), or every model."""
    if not names:
        return list(catalog)
    chosen: list[Model] = []
    for name in names:
        for model in catalog.by_role(name) or (catalog.resolve(name),):
            if model not in chosen:
                chosen.append(model)
    return chosen


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def clean_line(line: str) -> str:
    """What a terminal would show of a log line: the last carriage-return segment, without escape codes."""
    return _ANSI.sub("", line.rsplit("\r", 1)[-1]).strip()


def marker_path(model: Model) -> str:
    safe = model.pull_ref.replace("/", "_").replace(":", "_")
    return f"{MARKERS}/pulled-{safe}"


def claim_manifest(model: Model) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": model.claim_name,
            "namespace": model.namespace,
            "labels": {"app.kubernetes.io/part-of": "sparkctl", "sparkctl.dev/model": model.name},
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": MODELS_CLASS,
            "resources": {"requests": {"storage": model.storage}},
        },
    }


def pull_script(model: Model) -> str:
    """The Job's shell script: done already, or download, verify, then write the marker."""
    marker = shlex.quote(marker_path(model))
    ref = shlex.quote(model.pull_ref)
    head = f'set -eu\nif [ -f {marker} ]; then echo "{model.pull_ref} is already on the volume"; exit 0; fi\n'
    head += f"mkdir -p {MARKERS}\n"
    if model.source == "ollama":
        body = (
            f"mkdir -p {OLLAMA_MODELS_DIR}\n"
            "ollama serve >/tmp/ollama.log 2>&1 &\n"
            "for attempt in $(seq 1 60); do ollama list >/dev/null 2>&1 && break; sleep 1; done\n"
            f"ollama pull {ref}\n"
            f"ollama show {ref} >/dev/null\n"
        )
    else:
        target = shlex.quote(hf_path(model))
        revision = shlex.quote(model.tag)
        body = (
            f"mkdir -p {HF_DIR}\n"
            f"if command -v hf >/dev/null; then hf download {ref} --revision {revision} --local-dir {target}; "
            f"else huggingface-cli download {ref} --revision {revision} --local-dir {target}; fi\n"
            f"test -f {target}/config.json\n"
        )
    return head + body + f'echo {ref} > {marker}\necho "{model.pull_ref} pulled and verified"\n'


def job_name(model: Model) -> str:
    return f"pull-{model.name}"[:63].rstrip("-")


def pull_job(model: Model) -> dict[str, Any]:
    image = images.OLLAMA if model.source == "ollama" else images.VLLM
    container: dict[str, Any] = {
        "name": "pull",
        "image": image.reference,
        "imagePullPolicy": image.pull_policy,
        "command": ["/bin/sh", "-c", pull_script(model)],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}},
        "volumeMounts": [{"name": "models", "mountPath": MODELS_MOUNT}],
    }
    if model.source == "ollama":
        container["env"] = [{"name": "OLLAMA_MODELS", "value": OLLAMA_MODELS_DIR}]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(model),
            "namespace": model.namespace,
            "labels": {"app.kubernetes.io/part-of": "sparkctl", "sparkctl.dev/model": model.name},
        },
        "spec": {
            "backoffLimit": 2,
            "activeDeadlineSeconds": int(PULL_TIMEOUT),
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": {"sparkctl.dev/model": model.name}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "containers": [container],
                    "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": model.claim_name}}],
                },
            },
        },
    }


def pull_state(kube: Kube, model: Model) -> PullTarget:
    """Pulled (the claim says so, for this very ref), pulling (its Job runs), or missing."""
    claim = kube.get("PersistentVolumeClaim", model.claim_name, namespace=model.namespace)
    pulled = ((claim or {}).get("metadata") or {}).get("annotations", {}).get(PULLED)
    if pulled == model.pull_ref:
        return PullTarget(model, "pulled", f"{model.claim_name} holds {model.pull_ref}")
    job = kube.get("Job", job_name(model), namespace=model.namespace)
    status = (job or {}).get("status") or {}
    if job is not None and status.get("active"):
        return PullTarget(model, "pulling", f"job {job_name(model)} is running")
    why = f"{model.claim_name} holds {pulled}" if pulled else f"{model.claim_name} has no verified download"
    return PullTarget(model, "missing", why)


def pull_model(
    kube: Kube, model: Model, *, on_line: EventCallback | None = None, timeout: float = PULL_TIMEOUT
) -> JobOutcome:
    """The namespace and the claim (server-side apply), the Job to its end, then the claim marked as pulled."""
    kube.apply(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": model.namespace}},
            claim_manifest(model),
        ]
    )
    outcome = kube.run_job(pull_job(model), timeout=timeout, on_line=on_line, on_event=on_line)
    if outcome.succeeded:
        kube.annotate("PersistentVolumeClaim", model.claim_name, {PULLED: model.pull_ref}, namespace=model.namespace)
        kube.delete("Job", job_name(model), namespace=model.namespace)
    return outcome
