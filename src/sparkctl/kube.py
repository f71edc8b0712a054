"""The few Kubernetes verbs sparkctl needs: apply, annotate, delete, nodes and taints, waits through watches, check
pods, Jobs run to their end with their logs followed, status.

All through the official `kubernetes` client (imported lazily; no kubectl). Waits use watches, never polling
loops, and report what they see through an `on_event` callback; every failure is a KubeError with a hint.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparkctl.errors import (
    KubeConflict,
    KubeError,
    KubeNotFound,
    KubeTimeout,
    KubeUnreachable,
)
from sparkctl.kube_api import KubeApi, condition, kind_path, locate, pod_phase, pod_reason
from sparkctl.quantity import parse_quantity

EventCallback = Callable[[str], None]

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
KUBELET_HINT = (
    "Check the kubelet on the Spark (`systemctl status kubelet`, `journalctl -u kubelet`) and the pod network "
    "(the kube-flannel pods); `sparkctl cluster status` shows the node's conditions."
)


@dataclass(frozen=True)
class NodeInfo:
    """What the steps need to know about one node."""

    name: str
    ready: bool
    reason: str  # the Ready condition's message when the node is not Ready
    kubelet_version: str
    taints: list[str]  # "key:effect"
    allocatable: dict[str, str]
    capacity: dict[str, str]
    labels: dict[str, str]

    @classmethod
    def from_object(cls, node: dict[str, Any]) -> NodeInfo:
        status = node.get("status") or {}
        ready = condition(node, "Ready")
        is_ready = ready is not None and ready.get("status") == "True"
        if is_ready:
            reason = ""
        elif ready is None:
            reason = "the node reports no Ready condition yet"
        else:
            reason = ready.get("message") or ready.get("reason") or f"Ready is {ready.get('status')}"
        return cls(
            name=node["metadata"]["name"],
            ready=is_ready,
            reason=reason,
            kubelet_version=(status.get("nodeInfo") or {}).get("kubeletVersion", ""),
            taints=[f"{t['key']}:{t['effect']}" for t in (node.get("spec") or {}).get("taints") or []],
            allocatable=dict(status.get("allocatable") or {}),
            capacity=dict(status.get("capacity") or {}),
            labels=dict(node["metadata"].get("labels") or {}),
        )

    def count(self, resource: str) -> int:
        """The node's allocatable amount of `resource` as a whole number (0 when it advertises none)."""
        value = self.allocatable.get(resource)
        return int(parse_quantity(value)) if value else 0


@dataclass(frozen=True)
class PodOutcome:
    name: str
    phase: str  # Succeeded, Failed, Deleted (by someone else), or the last phase seen when the check timed out
    log: str
    reason: str  # why it did not succeed; "" when it did


@dataclass(frozen=True)
class PodState:
    """A pod as a readiness check sees it."""

    name: str
    phase: str
    ready: bool
    reason: str

    @classmethod
    def from_object(cls, pod: dict[str, Any]) -> PodState:
        ready = condition(pod, "Ready")
        return cls(
            name=pod["metadata"]["name"],
            phase=pod_phase(pod),
            ready=pod_phase(pod) == "Running" and ready is not None and ready.get("status") == "True",
            reason=pod_reason(pod),
        )


@dataclass(frozen=True)
class JobOutcome:
    """How a Job ended: succeeded or not, why not, and the last lines its pods printed."""

    name: str
    succeeded: bool
    reason: str
    tail: tuple[str, ...]


@dataclass(frozen=True)
class StorageClassInfo:
    name: str
    provisioner: str
    reclaim_policy: str
    is_default: bool


@dataclass(frozen=True)
class PodProblem:
    namespace: str
    name: str
    phase: str
    reason: str


@dataclass(frozen=True)
class ClusterStatus:
    server_version: str
    nodes: list[NodeInfo]
    storage_classes: list[StorageClassInfo]
    unready_pods: list[PodProblem]


class Kube:
    """The verbs, over one API server. Use as a context manager, or call close()."""

    def __init__(self, api: KubeApi) -> None:
        self._api = api

    @classmethod
    def from_kubeconfig(cls, path: Path, *, timeout: float = 10.0) -> Kube:
        """A client for the kubeconfig's current context; ConfigError when the file is missing or unusable."""
        return cls(KubeApi.from_kubeconfig(path, timeout=timeout))

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def server(self) -> str:
        return self._api.server

    def readyz(self) -> None:
        """Return when the API server answers /readyz with ok; KubeUnreachable otherwise, within the timeout."""
        status, body = self._api.call("GET", "/readyz", action="checking /readyz")
        if status in (401, 403):
            raise self._api.refused(status, body, "checking /readyz")
        if status != 200:
            failed = [line[3:] for line in body.decode("utf-8", "replace").splitlines() if line.startswith("[-]")]
            raise KubeUnreachable(
                f"the Kubernetes API server at {self.server} answers but is not ready "
                f"({'; '.join(failed) or f'/readyz answered {status}'})",
                hint="The control plane is starting or one of its parts failed: wait a minute, then check "
                "`sparkctl cluster status` and `journalctl -u kubelet` on the Spark.",
            )

    def apply(self, manifests: Iterable[dict[str, Any]], *, field_manager: str = "sparkctl") -> list[str]:
        """Server-side apply each manifest (forcing ownership); returns "Kind/namespace/name" ("Kind/name")."""
        located = [locate(manifest) for manifest in manifests]  # refuse a bad manifest before changing anything
        applied = []
        for body, path, label in located:
            self._api.request(
                "PATCH",
                path,
                action=f"applying {label}",
                query={"fieldManager": field_manager, "force": "true"},
                body=body,
                content_type="application/apply-patch+yaml",
            )
            applied.append(label)
        return applied

    def get(self, kind: str, name: str, *, namespace: str | None = None) -> dict[str, Any] | None:
        """One object of a kind in KINDS (namespaced kinds default to "default"); None when it does not exist."""
        try:
            return self._api.request("GET", _object_path(kind, name, namespace), action=f"reading {kind} {name}")
        except KubeNotFound:
            return None

    def objects(self, kind: str, namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        """The namespace's objects of a kind in KINDS that carry all these labels, by name."""
        group_version, plural, _ = kind_path(kind)
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        listing = self._api.request(
            "GET",
            f"/{group_version}/namespaces/{namespace}/{plural}",
            action=f"listing {plural} {selector} in {namespace}",
            query={"labelSelector": selector},
        )
        return sorted(listing.get("items") or [], key=lambda item: item["metadata"]["name"])

    def node(self, name: str) -> dict[str, Any] | None:
        try:
            return self._api.request("GET", f"/api/v1/nodes/{name}", action=f"reading node {name}")
        except KubeNotFound:
            return None

    def nodes(self) -> list[NodeInfo]:
        listing = self._api.request("GET", "/api/v1/nodes", action="listing nodes")
        return sorted((NodeInfo.from_object(item) for item in listing.get("items") or []), key=lambda n: n.name)

    def claims(self, namespace: str) -> list[dict[str, Any]]:
        """The namespace's claims: name, namespace, bound volume ("" when unbound), storage class, requested size."""
        listing = self._api.request(
            "GET", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims", action=f"listing claims in {namespace}"
        )
        return sorted(
            (
                {
                    "name": item["metadata"]["name"],
                    "namespace": namespace,
                    "volume": (item.get("spec") or {}).get("volumeName") or "",
                    "storage_class": (item.get("spec") or {}).get("storageClassName") or "",
                    "size": (((item.get("spec") or {}).get("resources") or {}).get("requests") or {}).get(
                        "storage", ""
                    ),
                }
                for item in listing.get("items") or []
            ),
            key=lambda claim: claim["name"],
        )

    def node_images(self) -> dict[str, list[str]]:
        listing = self._api.request("GET", "/api/v1/nodes", action="listing nodes")
        return {
            item["metadata"]["name"]: sorted(
                name for image in (item.get("status") or {}).get("images") or [] for name in image.get("names") or []
            )
            for item in listing.get("items") or []
        }

    def remove_taint(self, node: str, key: str, effect: str | None = None) -> bool:
        """Remove the node's taints with this key (and effect); True when one was there."""
        for attempt in range(3):
            current = self.node(node)
            if current is None:
                raise KubeNotFound(f"node {node} does not exist", hint=KUBELET_HINT)
            taints = (current.get("spec") or {}).get("taints") or []
            kept = [t for t in taints if not (t.get("key") == key and effect in (None, t.get("effect")))]
            if len(kept) == len(taints):
                return False
            patch = {"metadata": {"resourceVersion": current["metadata"]["resourceVersion"]}, "spec": {"taints": kept}}
            try:
                self._api.request(
                    "PATCH",
                    f"/api/v1/nodes/{node}",
                    action=f"removing taint {key} from node {node}",
                    body=patch,
                    content_type="application/merge-patch+json",
                )
                return True
            except KubeConflict:  # the node changed since we read it: read it again
                if attempt == 2:
                    raise
        return False  # pragma: no cover - the loop returns or raises

    def wait_node_ready(self, name: str, *, timeout: float, on_event: EventCallback | None = None) -> NodeInfo:
        """Watch the node until its Ready condition is True; KubeTimeout naming its last condition."""
        info = self._wait_node(name, timeout, on_event, lambda node: node.ready, _readiness)
        if info is not None and info.ready:
            return info
        seen = info.reason if info else "it has not registered with the API server"
        raise KubeTimeout(f"node {name} is not Ready after {timeout:g} s: {seen}", hint=KUBELET_HINT)

    def wait_allocatable(
        self, node: str, resource: str, count: int, *, timeout: float, on_event: EventCallback | None = None
    ) -> NodeInfo:
        """Watch the node until it advertises exactly `count` allocatable `resource`."""

        def describe(info: NodeInfo | None) -> str:
            return _readiness(info) if info is None else f"allocatable {resource} is {info.count(resource)}"

        info = self._wait_node(node, timeout, on_event, lambda n: n.count(resource) == count, describe)
        if info is not None and info.count(resource) == count:
            return info
        hint = "Check the pods that advertise this resource on the node."
        if resource.startswith("nvidia.com/"):
            hint = (
                "Check the GPU Operator's device plugin pods (nvidia-device-plugin-daemonset in the GPU Operator's "
                "namespace) and the time-slicing ConfigMap (key `any`, replicas) named by devicePlugin.config."
            )
        seen = info.count(resource) if info else "unknown (the node is not registered)"
        raise KubeTimeout(
            f"node {node}: allocatable {resource} is {seen}, expected {count} (waited {timeout:g} s)", hint=hint
        )

    def label_namespace(self, name: str, labels: dict[str, str]) -> None:
        """Create the namespace with these labels, or add them to the existing one (other labels stay)."""
        patch = {"metadata": {"labels": labels}}
        action = f"labelling namespace {name}"
        path = f"/api/v1/namespaces/{name}"
        try:
            self._api.request("PATCH", path, action=action, body=patch, content_type="application/merge-patch+json")
            return
        except KubeNotFound:
            pass
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        try:
            self._api.request("POST", "/api/v1/namespaces", action=f"creating namespace {name}", body=body)
        except KubeConflict:  # created by someone else in between: label theirs
            self._api.request("PATCH", path, action=action, body=patch, content_type="application/merge-patch+json")

    def run_pods_check(self, namespace: str, pods: list[dict[str, Any]], *, timeout: float) -> list[PodOutcome]:
        """Create the pods together, watch until each has finished (or the timeout), read their logs, delete them."""
        deadline = time.monotonic() + timeout
        names = [pod["metadata"]["name"] for pod in pods]
        created: list[str] = []
        seen: dict[str, dict[str, Any]] = {}
        try:
            for pod in pods:
                metadata = {**pod["metadata"], "namespace": namespace}
                body = {**pod, "apiVersion": "v1", "kind": "Pod", "metadata": metadata}
                name = pod["metadata"]["name"]
                path = f"/api/v1/namespaces/{namespace}/pods"
                seen[name] = self._api.request("POST", path, action=f"creating pod {namespace}/{name}", body=body)
                created.append(name)
            action = f"watching the check pods in {namespace}"
            for objects in self._watch("pods", deadline=deadline, action=action, namespace=namespace):
                for name in names:
                    if pod_phase(seen[name]) not in ("Succeeded", "Failed", "Deleted"):
                        seen[name] = objects.get(name) or {**seen[name], "status": {"phase": "Deleted"}}
                if all(pod_phase(seen[name]) in ("Succeeded", "Failed", "Deleted") for name in names):
                    break
            outcomes = [self._outcome(namespace, seen[name], timeout) for name in names]
        except BaseException:
            self._delete_pods(namespace, created, quiet=True)
            raise
        self._delete_pods(namespace, created, quiet=False)
        return outcomes

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create the object (KubeConflict when it exists): for objects sparkctl makes once and never re-applies."""
        body, path, label = locate(manifest)
        collection = path.rsplit("/", 1)[0]
        return self._api.request("POST", collection, action=f"creating {label}", body=body)

    def merge_patch(self, kind: str, name: str, patch: dict[str, Any], *, namespace: str | None = None) -> None:
        """Change an existing object by a JSON merge patch: what the patch names changes, the rest stays."""
        self._api.request(
            "PATCH",
            _object_path(kind, name, namespace),
            action=f"patching {kind} {name}",
            body=patch,
            content_type="application/merge-patch+json",
        )

    def annotate(self, kind: str, name: str, annotations: dict[str, str], *, namespace: str | None = None) -> None:
        """Set these annotations on an existing object; the others stay."""
        self.merge_patch(kind, name, {"metadata": {"annotations": annotations}}, namespace=namespace)

    def delete(self, kind: str, name: str, *, namespace: str | None = None) -> bool:
        """Delete one object, and in the background what it owns (a Job's pods); False when it did not exist."""
        try:
            self._api.request(
                "DELETE",
                _object_path(kind, name, namespace),
                action=f"deleting {kind} {name}",
                query={"propagationPolicy": "Background"},
            )
        except KubeNotFound:
            return False
        return True

    def run_job(
        self,
        job: dict[str, Any],
        *,
        timeout: float,
        on_line: EventCallback | None = None,
        on_event: EventCallback | None = None,
    ) -> JobOutcome:
        """Create the Job (replacing one of the same name), follow each of its pods' logs, and return once a pod
        succeeded or more have failed than spec.backoffLimit allows; KubeTimeout naming where it stuck."""
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        deadline = time.monotonic() + timeout
        self.delete("Job", name, namespace=namespace)
        created = self._api.request(
            "POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", action=f"creating job {namespace}/{name}", body=job
        )
        uid, backoff = created["metadata"]["uid"], (job.get("spec") or {}).get("backoffLimit", 6)
        tail: deque[str] = deque(maxlen=20)
        followed: set[str] = set()
        said = ""
        pods: list[dict[str, Any]] = []
        action = f"watching job {namespace}/{name}"
        for objects in self._watch("pods", deadline=deadline, action=action, namespace=namespace):
            pods = sorted((pod for pod in objects.values() if _owned_by(pod, uid)), key=lambda p: p["metadata"]["name"])
            for pod in pods:
                pod_name = pod["metadata"]["name"]
                if pod_name not in followed and pod_phase(pod) in ("Running", "Succeeded", "Failed"):
                    followed.add(pod_name)
                    for line in self._log_lines(namespace, pod_name, deadline):
                        tail.append(line)
                        if on_line is not None:
                            on_line(line)
            failed = [pod for pod in pods if pod_phase(pod) == "Failed"]
            if any(pod_phase(pod) == "Succeeded" for pod in pods):
                return JobOutcome(name, True, "", tuple(tail))
            if len(failed) > backoff:
                reason = pod_reason(failed[-1]) or "failed"
                return JobOutcome(name, False, f"{len(failed)} attempts failed; the last: {reason}", tuple(tail))
            if pods and on_event is not None and (now := _job_state(pods[-1])) != said:
                on_event(now)
                said = now
        where = _job_state(pods[-1]) if pods else "no pod was created"
        raise KubeTimeout(
            f"job {namespace}/{name} did not finish within {timeout:g} s ({where})",
            hint=f"See its pods: kubectl -n {namespace} describe job {name}. It keeps running; "
            "running the command again replaces it.",
        )

    def pods(self, namespace: str, labels: dict[str, str]) -> list[PodState]:
        """The namespace's pods that carry all these labels."""
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        listing = self._api.request(
            "GET",
            f"/api/v1/namespaces/{namespace}/pods",
            action=f"listing pods {selector} in {namespace}",
            query={"labelSelector": selector},
        )
        return sorted((PodState.from_object(pod) for pod in listing.get("items") or []), key=lambda p: p.name)

    def wait_pods_ready(
        self, namespace: str, labels: dict[str, str], *, timeout: float, on_event: EventCallback | None = None
    ) -> PodState:
        """Watch the namespace until a pod with these labels is Running and Ready; KubeTimeout saying why not."""
        deadline = time.monotonic() + timeout
        said, last = "", None
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        action = f"waiting for {selector} in {namespace}"
        for objects in self._watch("pods", deadline=deadline, action=action, namespace=namespace):
            mine = [
                PodState.from_object(pod)
                for pod in objects.values()
                if labels.items() <= (pod["metadata"].get("labels") or {}).items()
            ]
            ready = next((pod for pod in mine if pod.ready), None)
            if ready is not None:
                return ready
            last = mine[-1] if mine else None
            now = f"{last.name}: {last.phase}" + (f" ({last.reason})" if last.reason else "") if last else "no pod yet"
            if on_event is not None and now != said:
                on_event(now)
                said = now
        why = f"{last.name} is {last.phase}" + (f": {last.reason}" if last and last.reason else "") if last else ""
        raise KubeTimeout(
            f"no pod {selector} in {namespace} is ready after {timeout:g} s" + (f" ({why})" if why else ""),
            hint=f"See the pod's events and log: kubectl -n {namespace} describe pod -l {selector}.",
        )

    def _log_lines(self, namespace: str, pod: str, deadline: float) -> Iterator[str]:
        """The pod's log, followed until its container ends (or the deadline)."""
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        remaining = max(1.0, deadline - time.monotonic())
        try:
            yield from self._api.lines(
                path, action=f"reading the log of {pod}", query={"follow": "true"}, timeout=remaining
            )
        except KubeError:
            return  # the pod went, or never started: its phase and reason tell the rest

    def status(self) -> ClusterStatus:
        version = self._api.request("GET", "/version", action="reading the server version").get("gitVersion", "")
        classes = self._api.request("GET", "/apis/storage.k8s.io/v1/storageclasses", action="listing storage classes")
        pods = self._api.request("GET", "/api/v1/pods", action="listing pods")
        return ClusterStatus(
            server_version=version,
            nodes=self.nodes(),
            storage_classes=sorted((_storage_class(item) for item in classes.get("items") or []), key=lambda s: s.name),
            unready_pods=[problem for pod in pods.get("items") or [] if (problem := _unready(pod)) is not None],
        )

    def delete_namespace(self, name: str, *, wait: bool, timeout: float) -> bool:
        """Delete the namespace and all in it; False when it did not exist. With `wait`, return once it is gone."""
        deadline = time.monotonic() + timeout
        try:
            self._api.request("DELETE", f"/api/v1/namespaces/{name}", action=f"deleting namespace {name}")
        except KubeNotFound:
            return False
        if not wait:
            return True
        last: dict[str, Any] = {}
        for objects in self._watch("namespaces", deadline=deadline, action=f"deleting namespace {name}", name=name):
            if name not in objects:
                return True
            last = objects[name]
        stuck = "; ".join(
            c.get("message", "")
            for c in (last.get("status") or {}).get("conditions") or []
            if c.get("status") == "True"
        )
        raise KubeTimeout(
            f"namespace {name} is still {(last.get('status') or {}).get('phase', 'there')} after {timeout:g} s"
            + (f": {stuck}" if stuck else ""),
            hint="Something in it has a finalizer that nothing removes (often a volume or a custom resource whose "
            "controller is gone): `sparkctl cluster status` shows what is left.",
        )

    def _watch(
        self, plural: str, *, deadline: float, action: str, namespace: str = "", name: str = ""
    ) -> Iterator[dict[str, dict[str, Any]]]:
        """The nodes, namespaces or a namespace's pods by name, after the listing and after each change."""
        from kubernetes.client import CoreV1Api

        core = CoreV1Api(self._api.client)
        if namespace:
            lister: Callable[..., Any] = functools.partial(core.list_namespaced_pod, namespace)
            path = f"/api/v1/namespaces/{namespace}/{plural}"
        else:
            lister, path = {"nodes": core.list_node, "namespaces": core.list_namespace}[plural], f"/api/v1/{plural}"
        selector = f"metadata.name={name}" if name else None
        return self._api.watch(lister, path, deadline=deadline, action=action, field_selector=selector)

    def _wait_node(
        self,
        name: str,
        timeout: float,
        on_event: EventCallback | None,
        done: Callable[[NodeInfo], bool],
        describe: Callable[[NodeInfo | None], str],
    ) -> NodeInfo | None:
        """Watch one node until `done`; the last NodeInfo seen (None when it never appeared)."""
        info: NodeInfo | None = None
        said = None
        deadline = time.monotonic() + timeout
        for objects in self._watch("nodes", deadline=deadline, action=f"watching node {name}", name=name):
            info = NodeInfo.from_object(objects[name]) if name in objects else None
            if on_event is not None and (message := f"node {name}: {describe(info)}") != said:
                on_event(message)
                said = message
            if info is not None and done(info):
                break
        return info

    def _outcome(self, namespace: str, pod: dict[str, Any], timeout: float) -> PodOutcome:
        name, phase = pod["metadata"]["name"], pod_phase(pod)
        log = ""
        if phase != "Deleted":
            path = f"/api/v1/namespaces/{namespace}/pods/{name}/log"
            try:
                log = self._api.request("GET", path, action=f"reading the log of {name}", text=True)
            except KubeError:
                log = ""  # it never started: the reason says why
        if phase == "Succeeded":
            reason = ""
        elif phase == "Failed":
            reason = pod_reason(pod) or "failed"
        elif phase == "Deleted":
            reason = "deleted before it finished"
        else:
            reason = f"still {phase} after {timeout:g} s" + (f": {why}" if (why := pod_reason(pod)) else "")
        return PodOutcome(name=name, phase=phase, log=log, reason=reason)

    def _delete_pods(self, namespace: str, names: list[str], *, quiet: bool) -> None:
        """Delete every pod named, even when one deletion fails; raise the first failure unless `quiet`."""
        failure: KubeError | None = None
        for name in names:
            path, now = f"/api/v1/namespaces/{namespace}/pods/{name}", {"gracePeriodSeconds": "0"}
            try:
                self._api.request("DELETE", path, action=f"deleting pod {namespace}/{name}", query=now)
            except KubeNotFound:
                continue
            except KubeError as exc:
                failure = failure or exc
        if failure is not None and not quiet:
            raise failure


def _object_path(kind: str, name: str, namespace: str | None) -> str:
    """The URL of one object of a kind in KINDS (namespaced kinds default to "default")."""
    group_version, plural, namespaced = kind_path(kind, name)
    scope = f"namespaces/{namespace or 'default'}/" if namespaced else ""
    return f"/{group_version}/{scope}{plural}/{name}"


def _owned_by(obj: dict[str, Any], uid: str) -> bool:
    return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])


def _job_state(pod: dict[str, Any]) -> str:
    reason = pod_reason(pod)
    return f"pod {pod['metadata']['name']}: {pod_phase(pod)}" + (f" ({reason})" if reason else "")


def _readiness(info: NodeInfo | None) -> str:
    if info is None:
        return "not registered yet"
    return "Ready" if info.ready else f"not Ready ({info.reason})"


def _unready(pod: dict[str, Any]) -> PodProblem | None:
    """A problem when the pod has not finished and is not Running with Ready true."""
    phase = pod_phase(pod)
    ready = condition(pod, "Ready")
    if phase == "Succeeded" or (phase == "Running" and (ready is None or ready.get("status") != "False")):
        return None
    reason = pod_reason(pod) or (ready or {}).get("message", "") or phase
    meta = pod["metadata"]
    return PodProblem(namespace=meta.get("namespace", ""), name=meta["name"], phase=phase, reason=reason)


def _storage_class(item: dict[str, Any]) -> StorageClassInfo:
    annotations = item["metadata"].get("annotations") or {}
    return StorageClassInfo(
        name=item["metadata"]["name"],
        provisioner=item.get("provisioner", ""),
        reclaim_policy=item.get("reclaimPolicy", "Delete"),
        is_default=any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS),
    )
