"""A fake Kubernetes API server for the tests: a TEST DOUBLE, because no real API server can run on this machine.

It speaks the API's HTTP over TLS (a self-signed certificate made once per session) on 127.0.0.1, with a bearer
token, to the official `kubernetes` client through a kubeconfig written for it, and keeps objects in memory
keyed by (group/version, plural, namespace, name):

- GET of one object or a collection (labelSelector, fieldSelector on metadata.name / metadata.namespace),
  `?watch=true` streams of ADDED / MODIFIED / DELETED events as newline-delimited JSON from a resourceVersion
  (410 Expired once compact() forgot it), timeoutSeconds, and a BOOKMARK before a watch ends;
- POST (409 when the object exists, 404 when its namespace does not, 422 for a pod without containers);
- PATCH: server-side apply (application/apply-patch+yaml: fieldManager required, create or merge, the manager
  recorded in managedFields, 409 without force when a field another applier set gets another value) and
  merge / strategic-merge patches (409 when metadata.resourceVersion is stale);
- PUT (replace; 409 when metadata.resourceVersion is stale), with JSON bodies or, for Secrets and ConfigMaps,
  the protobuf bodies helm sends (tests/support/kube_protobuf.py);
- DELETE (a namespace turns Terminating, then goes with everything in it), /version, /readyz, pods' /log;
- what clients such as helm read first: legacy discovery (/api, /apis, /api/v1, /apis/GROUP/VERSION), an OpenAPI
  v2 document (protobuf) and v3 documents that check no field, and watch-lists (sendInitialEvents, ending the
  initial state with the k8s.io/initial-events-end bookmark).

Jobs get one pod at a time from their template (owned by the Job, labelled job-name), run by the pod script;
a failed pod is replaced while failures stay within spec.backoffLimit, and the Job's status counts them.
A new Deployment gets one pod from its template (a later change of the template makes none: no rollouts).

A test changes the cluster from outside while a client watches: set_node_ready(..., after=0.5),
set_allocatable(...), a pod script that moves each created pod to Running and then Succeeded or Failed with
a log, fail(403, ...) for refused requests. Every request is recorded in `requests`.

What it does not do: apply never removes fields a manager stopped applying, patches of lists replace them,
and nothing but the pod script runs anything.
"""

from __future__ import annotations

import base64
import copy
import datetime
import ipaddress
import itertools
import json
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from support import kube_protobuf

Key = tuple[str, str, str, str]  # (group/version, plural, namespace, name)

KINDS = {
    "namespaces": "Namespace",
    "nodes": "Node",
    "pods": "Pod",
    "services": "Service",
    "configmaps": "ConfigMap",
    "secrets": "Secret",
    "serviceaccounts": "ServiceAccount",
    "persistentvolumeclaims": "PersistentVolumeClaim",
    "deployments": "Deployment",
    "daemonsets": "DaemonSet",
    "clusterroles": "ClusterRole",
    "clusterrolebindings": "ClusterRoleBinding",
    "roles": "Role",
    "rolebindings": "RoleBinding",
    "storageclasses": "StorageClass",
    "jobs": "Job",
    "persistentvolumes": "PersistentVolume",
    "volumes": "Volume",
}
GROUPS = {"deployments": "apps/v1", "daemonsets": "apps/v1", "storageclasses": "storage.k8s.io/v1", "jobs": "batch/v1"}
GROUPS |= {"volumes": "longhorn.io/v1beta2"}
GROUPS |= dict.fromkeys(
    ("clusterroles", "clusterrolebindings", "roles", "rolebindings"), "rbac.authorization.k8s.io/v1"
)
CLUSTER_SCOPED = {"namespaces", "nodes", "clusterroles", "clusterrolebindings", "storageclasses", "persistentvolumes"}
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed"}
REASONS |= {409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType", 422: "Invalid", 500: "InternalError"}
PUBLIC_PATHS = {"/version", "/readyz", "/livez", "/healthz"}


class Recorded(NamedTuple):
    """One request as the server saw it; the first three fields are (method, path, content_type)."""

    method: str
    path: str  # without the query
    content_type: str
    query: dict[str, str]
    body: Any


@dataclass
class PodRun:
    """What the fake kubelet does with a created pod.

    Succeeded / Failed: Running after `after`/2 with `log`, then that phase after `after` (Failed exits with
    `exit_code` and `message`). Pending: never scheduled, with `message` as the scheduler's reason.
    Running: Running and Ready after `after`/2 with `log`, and it stays so (a server).
    """

    phase: str = "Succeeded"
    log: str = ""
    after: float = 0.2
    exit_code: int | None = None
    message: str = ""


class _Refusal(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def status_body(code: int, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": REASONS.get(code, "Unknown"),
        "code": code,
    }


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 merge: dicts merge recursively, None removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(merged.get(key), value)
    return merged


def _leaves(obj: Any, path: str = "") -> dict[str, Any]:
    """An applied body as {"a.b.c": value}: the fields an applier owns."""
    if isinstance(obj, dict) and obj:
        found: dict[str, Any] = {}
        for key, value in obj.items():
            found |= _leaves(value, f"{path}.{key}" if path else key)
        return found
    return {path: obj}


def _clash(owned: dict[str, Any], body: dict[str, Any]) -> bool:
    """Server-side apply's conflict: a field another applier owns, set here to another value."""
    return any(path in owned and owned[path] != value for path, value in _leaves(body).items())


def _selected(obj: dict[str, Any], query: dict[str, str]) -> bool:
    """Whether the object matches the query's fieldSelector and labelSelector (=, ==, !=, key, !key)."""
    meta = obj.get("metadata") or {}
    fields = {"metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", "")}
    labels = meta.get("labels") or {}
    for source, selector in ((fields, query.get("fieldSelector", "")), (labels, query.get("labelSelector", ""))):
        for term in filter(None, (t.strip() for t in selector.split(","))):
            if "!=" in term:
                key, value = term.split("!=", 1)
                if source.get(key) == value:
                    return False
            elif "=" in term:
                key, value = term.replace("==", "=").split("=", 1)
                if source.get(key) != value:
                    return False
            elif term.startswith("!"):
                if term[1:] in source:
                    return False
            elif term not in source:
                return False
    return True


@dataclass
class _Resource:
    group_version: str
    plural: str
    namespace: str
    name: str
    sub: str

    @property
    def key(self) -> Key:
        return (self.group_version, self.plural, self.namespace, self.name)

    @classmethod
    def parse(cls, path: str) -> _Resource | None:
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["api", "v1"]:
            group_version, rest = "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return None
        if not rest:
            return None
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        return cls(group_version, rest[0], namespace, rest[1] if len(rest) > 1 else "", "/".join(rest[2:]))


@dataclass
class FakeKube:
    """The fake API server's state, the helpers a test scripts it with, and the record of requests."""

    kubeconfig: Path
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    url: str = ""
    version: str = "v1.34.1"
    ready: bool = True
    watch_limit: float | None = None  # end every watch after this many seconds, as real servers do
    namespace_deletion_delay: float | None = 0.1  # None: a namespace stays Terminating (a stuck finalizer)
    pod_script: Callable[[dict[str, Any]], PodRun] = field(default=lambda pod: PodRun(), repr=False)
    requests: list[Recorded] = field(default_factory=list, repr=False)
    store: dict[Key, dict[str, Any]] = field(default_factory=dict, repr=False)
    logs: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._lock = threading.Condition()
        self._revision = itertools.count(100)
        self._resource_version = next(self._revision)
        self._events: list[tuple[int, str, Key, dict[str, Any]]] = []
        self._oldest_watchable = 0
        self._failures: list[list[Any]] = []  # [code, method, path fragment, message, times left]
        self._applied: dict[tuple[Key, str], dict[str, Any]] = {}  # what each applier last set, leaf by leaf
        self._timers: list[threading.Timer] = []
        self.closing = False

    # --- scripting the cluster -------------------------------------------------------------------------

    def add_node(
        self,
        name: str = "spark",
        *,
        ready: bool = True,
        message: str = "",
        allocatable: dict[str, str] | None = None,
        capacity: dict[str, str] | None = None,
        taints: list[dict[str, str]] | None = None,
        labels: dict[str, str] | None = None,
        kubelet_version: str = "v1.34.1",
    ) -> dict[str, Any]:
        resources = {"cpu": "20", "memory": "128Gi", "pods": "110"}
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": labels or {"kubernetes.io/hostname": name}},
            "spec": {"taints": taints} if taints else {},
            "status": {
                "capacity": capacity or dict(resources, **(allocatable or {})),
                "allocatable": dict(resources, **(allocatable or {})),
                "conditions": [_ready_condition(ready, message)],
                "nodeInfo": {"kubeletVersion": kubelet_version, "architecture": "arm64"},
            },
        }
        return self.put(node)

    def set_node_ready(self, name: str, ready: bool = True, *, after: float = 0.0, message: str = "") -> None:
        def change(node: dict[str, Any]) -> None:
            others = [c for c in node["status"].get("conditions", []) if c.get("type") != "Ready"]
            node["status"]["conditions"] = [*others, _ready_condition(ready, message)]

        self._later(after, lambda: self.modify("v1", "nodes", "", name, change))

    def set_allocatable(self, name: str, resources: dict[str, str], *, after: float = 0.0) -> None:
        def change(node: dict[str, Any]) -> None:
            node["status"]["allocatable"] = {**node["status"].get("allocatable", {}), **resources}
            node["status"]["capacity"] = {**node["status"].get("capacity", {}), **resources}

        self._later(after, lambda: self.modify("v1", "nodes", "", name, change))

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object directly (no request recorded), as a controller of the cluster would."""
        plural = next(p for p, kind in KINDS.items() if kind == obj["kind"])
        namespace = "" if plural in CLUSTER_SCOPED else obj["metadata"].setdefault("namespace", "default")
        key = (GROUPS.get(plural, "v1"), plural, namespace, obj["metadata"]["name"])
        with self._lock:
            return self._write(key, copy.deepcopy(obj), "MODIFIED" if key in self.store else "ADDED")

    def get(self, plural: str, name: str, namespace: str = "") -> dict[str, Any] | None:
        with self._lock:
            found = self.store.get((GROUPS.get(plural, "v1"), plural, namespace, name))
            return copy.deepcopy(found)

    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(obj)
                for (_, kind, ns, _), obj in sorted(self.store.items())
                if kind == plural and namespace in (None, ns)
            ]

    def modify(
        self, group_version: str, plural: str, namespace: str, name: str, change: Callable[[dict], None]
    ) -> None:
        with self._lock:
            key = (group_version, plural, namespace, name)
            obj = copy.deepcopy(self.store[key])
            change(obj)
            self._write(key, obj, "MODIFIED")

    def fail(
        self, code: int, *, method: str | None = None, path: str = "", message: str | None = None, times: int = -1
    ) -> None:
        """Answer `code` to the next `times` (-1: all) requests of this method whose path contains `path`."""
        self._failures.append([code, method, path, message, times])

    def compact(self) -> None:
        """Forget the history: watches from any resourceVersion seen so far get 410 Expired."""
        with self._lock:
            self._oldest_watchable = self._resource_version + 1
            self._events.clear()

    def requested(self, method: str | None = None, path: str = "") -> list[Recorded]:
        return [r for r in self.requests if method in (None, r.method) and path in r.path]

    def write_kubeconfig(
        self, path: Path, *, token: str | None = None, server: str | None = None, client_certificate: bool = False
    ) -> Path:
        """A kubeconfig for this server (or another address): with this token (or the right one), or with
        a client certificate signed by the cluster's CA, like kubeadm's admin.conf."""
        tls = _tls_material()

        def data(file: Path) -> str:
            return base64.b64encode(file.read_bytes()).decode()

        user = {"token": token or self.token}
        if client_certificate:
            user = {"client-certificate-data": data(tls.client_cert), "client-key-data": data(tls.client_key)}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "fake",
                    "cluster": {
                        "server": server or self.url,
                        "certificate-authority-data": data(tls.server_cert),
                    },
                }
            ],
            "users": [{"name": "fake-admin", "user": user}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake-admin"}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    # --- storage -------------------------------------------------------------------------------------------

    def _write(self, key: Key, obj: dict[str, Any], event: str) -> dict[str, Any]:
        """Store (under the lock) with a new resourceVersion, record the event and wake the watches."""
        meta = obj.setdefault("metadata", {})
        old = self.store.get(key)
        meta.setdefault("uid", (old or {}).get("metadata", {}).get("uid") or str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", (old or {}).get("metadata", {}).get("creationTimestamp") or _now())
        if key[2]:
            meta["namespace"] = key[2]
        self._resource_version = next(self._revision)
        meta["resourceVersion"] = str(self._resource_version)
        obj.setdefault("apiVersion", key[0])
        obj.setdefault("kind", KINDS.get(key[1], ""))
        self.store[key] = obj
        self._events.append((self._resource_version, event, key, copy.deepcopy(obj)))
        self._lock.notify_all()
        return copy.deepcopy(obj)

    def _remove(self, key: Key) -> dict[str, Any]:
        obj = self.store.pop(key)
        self._resource_version = next(self._revision)
        obj["metadata"]["resourceVersion"] = str(self._resource_version)
        self._events.append((self._resource_version, "DELETED", key, copy.deepcopy(obj)))
        self._lock.notify_all()
        return obj

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        if delay <= 0:
            action()
            return
        timer = threading.Timer(delay, lambda: None if self.closing else action())
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def close(self) -> None:
        self.closing = True
        for timer in self._timers:
            timer.cancel()
        with self._lock:
            self._lock.notify_all()

    # --- the API -------------------------------------------------------------------------------------------

    def check_access(self, method: str, path: str, authorization: str | None, client_user: str | None) -> None:
        """Token or client certificate, as the API server's authenticators; then the failures a test asked for."""
        if authorization is not None and authorization != f"Bearer {self.token}":
            raise _Refusal(401, "Unauthorized")
        if authorization is None and client_user is None and path not in PUBLIC_PATHS:
            raise _Refusal(403, f'forbidden: User "system:anonymous" cannot {method.lower()} path "{path}"')
        for failure in self._failures:
            code, only, fragment, message, times = failure
            if times != 0 and only in (None, method) and fragment in path:
                failure[4] = times - 1
                resource = _Resource.parse(path)
                what = resource.plural if resource else path
                text = f'{what} is forbidden: User "fake-admin" cannot {method.lower()} resource "{what}"'
                raise _Refusal(code, message or (text if code == 403 else f"{REASONS.get(code, 'Error')}"))

    def read(self, resource: _Resource, query: dict[str, str]) -> tuple[int, Any]:
        with self._lock:
            if resource.name and resource.sub == "log" and resource.plural == "pods":
                pod = self._existing(resource)
                if pod["status"].get("phase", "Pending") == "Pending":
                    container = pod["spec"]["containers"][0]["name"]
                    raise _Refusal(400, f'container "{container}" in pod "{resource.name}" is waiting to start')
                return 200, self.logs.get((resource.namespace, resource.name), "")
            if resource.name:
                return 200, copy.deepcopy(self._existing(resource))
            items = [
                copy.deepcopy(obj)
                for key, obj in sorted(self.store.items())
                if key[:2] == resource.key[:2] and resource.namespace in ("", key[2]) and _selected(obj, query)
            ]
            kind = KINDS.get(resource.plural, "") + "List"
            return 200, {
                "kind": kind,
                "apiVersion": resource.group_version,
                "metadata": {"resourceVersion": str(self._resource_version)},
                "items": items,
            }

    def create(self, resource: _Resource, body: dict[str, Any]) -> dict[str, Any]:
        name = (body.get("metadata") or {}).get("name")
        if not name:
            raise _Refusal(422, f"{KINDS.get(resource.plural, 'object')} is invalid: metadata.name: Required value")
        key = (resource.group_version, resource.plural, resource.namespace, name)
        with self._lock:
            if key in self.store:
                raise _Refusal(409, f'{resource.plural} "{name}" already exists')
            self._check_namespace(resource.namespace)
            _validate(resource.plural, body)
            created = self._write(key, body, "ADDED")
        if resource.plural == "pods":
            self._start_pod(key)
        if resource.plural == "jobs":
            self._start_job_pod(created)
        if resource.plural == "deployments":
            self._start_owned_pod(created, "Deployment", "apps/v1")
        return created

    def apply(self, resource: _Resource, body: dict[str, Any], query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        manager = query.get("fieldManager")
        if not manager:
            raise _Refusal(400, "PATCH is not supported: fieldManager is required for apply requests")
        if not body.get("apiVersion") or not body.get("kind"):
            raise _Refusal(400, "apply patches must set apiVersion and kind")
        if (body.get("metadata") or {}).get("name") != resource.name:
            raise _Refusal(400, "the name of the object does not match the name on the URL")
        entry = {"manager": manager, "operation": "Apply", "apiVersion": body["apiVersion"], "time": _now()}
        with self._lock:
            current = self.store.get(resource.key)
            if current is None:
                self._check_namespace(resource.namespace)
                _validate(resource.plural, body)
                created = _merge({}, body)
                created["metadata"]["managedFields"] = [entry]
                result = self._write(resource.key, created, "ADDED")
            else:
                managers = current["metadata"].get("managedFields") or []
                others = [m["manager"] for m in managers if m["manager"] != manager and m["operation"] == "Apply"]
                clashes = [m for m in others if _clash(self._applied.get((resource.key, m), {}), body)]
                if clashes and query.get("force") != "true":
                    raise _Refusal(409, f'Apply failed with 1 conflict: conflict with "{clashes[0]}"')
                merged = _merge(current, body)
                merged["metadata"]["managedFields"] = [*(m for m in managers if m["manager"] != manager), entry]
                if merged.get("spec") != current.get("spec"):
                    merged["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
                result = self._write(resource.key, merged, "MODIFIED")
        self._applied[(resource.key, manager)] = _leaves(body)
        if current is None and resource.plural == "pods":
            self._start_pod(resource.key)
        if current is None and resource.plural == "deployments":
            self._start_owned_pod(result, "Deployment", "apps/v1")
        return (201 if current is None else 200), result

    def patch(self, resource: _Resource, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            current = self._existing(resource)
            wanted = (body.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                raise _Refusal(
                    409,
                    f'Operation cannot be fulfilled on {resource.plural} "{resource.name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                )
            merged = _merge(current, body)
            merged["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            return self._write(resource.key, merged, "MODIFIED")

    def replace(self, resource: _Resource, body: dict[str, Any]) -> dict[str, Any]:
        """PUT: the whole object, 409 when the body's resourceVersion is stale (none given: last write wins)."""
        with self._lock:
            current = self._existing(resource)
            sent = (body.get("metadata") or {}).get("resourceVersion")
            if sent and sent != current["metadata"]["resourceVersion"]:
                raise _Refusal(409, "the object has been modified; please apply your changes to the latest version")
            body.setdefault("metadata", {})["creationTimestamp"] = current["metadata"].get("creationTimestamp")
            return copy.deepcopy(self._write(resource.key, body, "MODIFIED"))

    def delete(self, resource: _Resource) -> dict[str, Any]:
        with self._lock:
            obj = self._existing(resource)
            if resource.plural in ("jobs", "deployments"):  # propagation Background: its pods go with it
                owned = [
                    key
                    for key, pod in self.store.items()
                    if key[1] == "pods"
                    and any(
                        ref.get("uid") == obj["metadata"]["uid"] for ref in pod["metadata"].get("ownerReferences") or []
                    )
                ]
                for key in owned:
                    self._remove(key)
            if resource.plural != "namespaces":
                self._remove(resource.key)
                return {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": resource.name}}
            terminating = copy.deepcopy(obj)
            terminating["metadata"]["deletionTimestamp"] = _now()
            terminating["status"] = {"phase": "Terminating"}
            if self.namespace_deletion_delay is None:
                terminating["status"]["conditions"] = [
                    {
                        "type": "NamespaceFinalizersRemaining",
                        "status": "True",
                        "reason": "SomeFinalizersRemain",
                        "message": "Some content in the namespace has finalizers remaining: "
                        "longhorn.io in 1 resource instances",
                    }
                ]
            result = self._write(resource.key, terminating, "MODIFIED")
        if self.namespace_deletion_delay is not None:
            self._later(self.namespace_deletion_delay, lambda: self._finish_namespace(resource.name))
        return result

    def watch_events(self, resource: _Resource, query: dict[str, str]) -> Iterator[dict[str, Any]]:
        """The watch's events, blocking between them, until timeoutSeconds (or watch_limit) or the server closes."""
        limit = float(query.get("timeoutSeconds") or 1800)
        if self.watch_limit is not None:
            limit = min(limit, self.watch_limit)
        deadline = time.monotonic() + limit
        since = query.get("resourceVersion") or "0"

        def matches(key: Key, obj: dict[str, Any]) -> bool:
            same = key[:2] == resource.key[:2] and resource.namespace in ("", key[2])
            return same and _selected(obj, query)

        initial_events = query.get("sendInitialEvents") in ("true", "True", "1")
        with self._lock:
            if since == "0" or initial_events:
                cursor = self._resource_version
                initial = [copy.deepcopy(o) for k, o in sorted(self.store.items()) if matches(k, o)]
            elif int(since) < self._oldest_watchable:
                message = f"too old resource version: {since} ({self._oldest_watchable})"
                initial, cursor = [], -1
            else:
                initial, cursor = [], int(since)
        if cursor < 0:
            yield {"type": "ERROR", "object": status_body(410, message)}
            return
        for obj in initial:
            yield {"type": "ADDED", "object": obj}
        mark = {"kind": KINDS.get(resource.plural, ""), "apiVersion": resource.group_version}
        if initial_events:  # a watch-list: the bookmark that says the initial state is complete
            end = {"resourceVersion": str(cursor), "annotations": {"k8s.io/initial-events-end": "true"}}
            yield {"type": "BOOKMARK", "object": {**mark, "metadata": end}}
        while True:
            with self._lock:
                pending = [(rv, kind, obj) for rv, kind, key, obj in self._events if rv > cursor and matches(key, obj)]
                if not pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self.closing:
                        break
                    self._lock.wait(remaining)
                    continue
            for rv, kind, obj in pending:
                cursor = rv
                yield {"type": kind, "object": obj}
        if query.get("allowWatchBookmarks") in ("true", "True", "1"):
            yield {"type": "BOOKMARK", "object": {**mark, "metadata": {"resourceVersion": str(cursor)}}}

    def _existing(self, resource: _Resource) -> dict[str, Any]:
        obj = self.store.get(resource.key)
        if obj is None:
            raise _Refusal(404, f'{resource.plural} "{resource.name}" not found')
        return obj

    def _check_namespace(self, namespace: str) -> None:
        if not namespace:
            return
        found = self.store.get(("v1", "namespaces", "", namespace))
        if found is None:
            raise _Refusal(404, f'namespaces "{namespace}" not found')
        if found.get("status", {}).get("phase") == "Terminating":
            raise _Refusal(403, f"unable to create new content in namespace {namespace} because it is being terminated")

    def _finish_namespace(self, name: str) -> None:
        with self._lock:
            for key in [k for k in self.store if k[2] == name]:
                self._remove(key)
            if ("v1", "namespaces", "", name) in self.store:
                self._remove(("v1", "namespaces", "", name))

    def _start_pod(self, key: Key) -> None:
        with self._lock:
            pod = copy.deepcopy(self.store[key])
        run = self.pod_script(pod)
        container = pod["spec"]["containers"][0]["name"]

        def set_status(status: dict[str, Any]) -> None:
            if key in self.store:
                self.modify(*key, lambda p: p.__setitem__("status", status))

        if run.phase == "Pending":
            unschedulable = {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": run.message,
            }
            self._later(run.after / 2, lambda: set_status({"phase": "Pending", "conditions": [unschedulable]}))
            return

        def running() -> None:
            self.logs[(key[2], key[3])] = run.log
            state = {"running": {"startedAt": _now()}}
            set_status(
                {
                    "phase": "Running",
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": container, "ready": True, "restartCount": 0, "state": state}],
                }
            )

        def finished() -> None:
            if key not in self.store:
                return
            code = run.exit_code if run.exit_code is not None else (0 if run.phase == "Succeeded" else 1)
            ended = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "finishedAt": _now()}
            if run.message:
                ended["message"] = run.message
            set_status(
                {
                    "phase": run.phase,
                    "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted"}],
                    "containerStatuses": [
                        {"name": container, "ready": False, "restartCount": 0, "state": {"terminated": ended}}
                    ],
                }
            )

        def finished_and_counted() -> None:
            finished()
            owner = next(iter(pod["metadata"].get("ownerReferences") or []), None)
            if owner is not None and owner.get("kind") == "Job":
                self._job_pod_finished(key[2], owner["name"], run.phase)

        self._later(run.after / 2, running)
        if run.phase != "Running":
            self._later(run.after, finished_and_counted)

    def _start_job_pod(self, job: dict[str, Any]) -> None:
        """The job controller's part: one pod from the Job's template, owned by it."""
        self._start_owned_pod(job, "Job", "batch/v1", extra_labels={"job-name": job["metadata"]["name"]})

    def _start_owned_pod(
        self, owner: dict[str, Any], kind: str, api_version: str, extra_labels: dict[str, str] | None = None
    ) -> None:
        """A controller's part (job or deployment): one pod from the owner's template, owned by it."""
        meta = owner["metadata"]
        attempt = (owner.get("status") or {}).get("failed", 0)
        template = (owner.get("spec") or {}).get("template") or {}
        if not (template.get("spec") or {}).get("containers"):
            return  # a template without containers makes no pod (the real controller would refuse it)
        labels = {**(template.get("metadata") or {}).get("labels", {}), **(extra_labels or {})}
        reference = {
            "apiVersion": api_version,
            "kind": kind,
            "name": meta["name"],
            "uid": meta["uid"],
            "controller": True,
        }
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{attempt}{uuid.uuid4().hex[:4]}",
                "namespace": meta["namespace"],
                "labels": labels,
                "ownerReferences": [reference],
            },
            "spec": copy.deepcopy(template["spec"]),
            "status": {"phase": "Pending"},
        }
        with self._lock:
            key = ("v1", "pods", meta["namespace"], pod["metadata"]["name"])
            self._write(key, pod, "ADDED")
        self._start_pod(key)

    def _job_pod_finished(self, namespace: str, name: str, phase: str) -> None:
        """Count the pod in its Job's status; another pod while failures stay within the backoff limit."""
        key = ("batch/v1", "jobs", namespace, name)
        with self._lock:
            job = copy.deepcopy(self.store.get(key))
        if job is None:
            return
        status = job.setdefault("status", {})
        if phase == "Succeeded":
            status["succeeded"] = 1
            status["conditions"] = [{"type": "Complete", "status": "True"}]
        else:
            status["failed"] = status.get("failed", 0) + 1
            if status["failed"] > job["spec"].get("backoffLimit", 6):
                status["conditions"] = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
        with self._lock:
            if key in self.store:
                self._write(key, job, "MODIFIED")
        if phase != "Succeeded" and not status.get("conditions"):
            self._start_job_pod(job)


def discovery(path: str) -> dict[str, Any] | None:
    """The legacy discovery documents (/api, /apis, /api/v1, /apis/GROUP/VERSION) for the kinds served here,
    which clients like helm read before anything else; None for any other path."""
    versions = sorted({GROUPS.get(plural, "v1") for plural in KINDS} - {"v1"})
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    if path == "/apis":
        groups = [
            {
                "name": version.split("/")[0],
                "versions": [{"groupVersion": version, "version": version.split("/")[1]}],
                "preferredVersion": {"groupVersion": version, "version": version.split("/")[1]},
            }
            for version in versions
        ]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
    if path.startswith("/openapi/v3"):
        return openapi_v3(path.removeprefix("/openapi/v3").strip("/"), versions)
    group_version = "v1" if path == "/api/v1" else path.removeprefix("/apis/")
    if path != "/api/v1" and (not path.startswith("/apis/") or group_version not in versions):
        return None
    resources = [
        {
            "name": plural,
            "singularName": kind.lower(),
            "namespaced": plural not in CLUSTER_SCOPED,
            "kind": kind,
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
        }
        for plural, kind in KINDS.items()
        if GROUPS.get(plural, "v1") == group_version
    ]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


def openapi_v3(group_path: str, versions: list[str]) -> dict[str, Any] | None:
    """OpenAPI v3 as clients validate manifests with it: the index of group versions, then one document per
    group version whose schemas accept any object of its kinds (no field is checked)."""
    paths = {"api/v1": "v1", **{f"apis/{version}": version for version in versions}}
    if not group_path:
        return {"paths": {path: {"serverRelativeURL": f"/openapi/v3/{path}?hash=fake"} for path in paths}}
    if group_path not in paths:
        return None
    group_version = paths[group_path]
    group, _, version = group_version.rpartition("/")
    schemas = {
        f"fake.{group or 'core'}.{version}.{kind}": {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "x-kubernetes-group-version-kind": [{"group": group, "version": version, "kind": kind}],
        }
        for plural, kind in KINDS.items()
        if GROUPS.get(plural, "v1") == group_version
    }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.34.1"},
        "paths": {},
        "components": {"schemas": schemas},
    }


def _ready_condition(ready: bool, message: str) -> dict[str, str]:
    if ready:
        return {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": message or "kubelet is posting ready status",
        }
    return {
        "type": "Ready",
        "status": "False",
        "reason": "KubeletNotReady",
        "message": message or "container runtime network not ready: NetworkReady=false",
    }


def _validate(plural: str, body: dict[str, Any]) -> None:
    if plural == "pods" and not (body.get("spec") or {}).get("containers"):
        name = body["metadata"]["name"]
        raise _Refusal(422, f'Pod "{name}" is invalid: spec.containers: Required value')


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeKube

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as Go servers do: no 40 ms stalls
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads `requests` instead."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        content_type = self.headers.get("Content-Type", "")
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            if content_type.startswith("application/vnd.kubernetes.protobuf"):
                body = kube_protobuf.decode(raw)
            else:
                body = yaml.safe_load(raw) if raw else None
        except (yaml.YAMLError, ValueError):
            body = raw
        fake.requests.append(Recorded(method, url.path, content_type.split(";")[0], query, body))
        try:
            fake.check_access(method, url.path, self.headers.get("Authorization"), self._client_user())
            if url.path == "/version":
                return self._send(200, {"major": "1", "minor": "34", "gitVersion": fake.version})
            if url.path == "/readyz":
                if fake.ready:
                    return self._send(200, "ok")
                return self._send(500, "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed")
            if method == "GET" and url.path == "/openapi/v2":
                return self._send_bytes(
                    kube_protobuf.openapi_v2_document(fake.version), kube_protobuf.OPENAPI_V2_CONTENT_TYPE
                )
            if method == "GET" and (found := discovery(url.path)) is not None:
                return self._send(200, found)
            resource = _Resource.parse(url.path)
            if resource is None:
                raise _Refusal(404, f"the server could not find the requested resource ({url.path})")
            if method == "GET" and query.get("watch") in ("true", "True", "1"):
                return self._stream(fake.watch_events(resource, query))
            if method == "GET":
                return self._send(*fake.read(resource, query))
            if not isinstance(body, dict) and method in ("POST", "PATCH", "PUT"):
                raise _Refusal(400, "the request body is not an object")
            if method == "POST" and not resource.name:
                return self._send(201, fake.create(resource, body))
            if method == "PATCH" and resource.name and content_type.startswith("application/apply-patch"):
                return self._send(*fake.apply(resource, body, query))
            if method == "PATCH" and resource.name and "merge-patch+json" in content_type:
                return self._send(200, fake.patch(resource, body))
            if method == "PATCH":
                raise _Refusal(415, f"the body of the request was in an unknown format: {content_type}")
            if method == "PUT" and resource.name:
                return self._send(200, fake.replace(resource, body))
            if method == "DELETE" and resource.name:
                return self._send(200, fake.delete(resource))
            raise _Refusal(405, f"{method} is not supported on {url.path}")
        except _Refusal as refusal:
            self._send(refusal.code, status_body(refusal.code, refusal.message))

    def _client_user(self) -> str | None:
        """The common name of a verified client certificate, if the client presented one."""
        certificate = self.request.getpeercert() if isinstance(self.request, ssl.SSLSocket) else None
        for rdn in (certificate or {}).get("subject", ()):
            for attribute, value in rdn:
                if attribute == "commonName":
                    return str(value)
        return None

    def _send(self, code: int, payload: Any) -> None:
        if isinstance(payload, str):
            self._send_bytes(payload.encode(), "text/plain; charset=utf-8", code)
        else:
            self._send_bytes(json.dumps(payload).encode(), "application/json", code)

    def _send_bytes(self, data: bytes, content_type: str, code: int = 200) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, events: Iterator[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in events:
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True


@dataclass(frozen=True)
class _Tls:
    """PEM files: the server's self-signed certificate (also the CA), and a client certificate it signed."""

    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


_TLS: list[_Tls] = []


def _tls_material() -> _Tls:
    """The certificates of every fake API server of this test session, made once (as kubeadm makes them)."""
    if _TLS:
        return _TLS[0]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    directory = Path(tempfile.mkdtemp(prefix="fake-kube-tls-"))

    def issue(subject: x509.Name, issuer: x509.Name, signer: Any, key: Any, extension: Any) -> bytes:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(extension, critical=False)
        )
        if subject == issuer:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    def write(name: str, certificate: bytes, key: Any) -> tuple[Path, Path]:
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (directory / f"{name}.crt").write_bytes(certificate)
        (directory / f"{name}.key").write_bytes(pem)
        return directory / f"{name}.crt", directory / f"{name}.key"

    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    addresses = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = issue(server_name, server_name, server_key, server_key, x509.SubjectAlternativeName(addresses))
    admin = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kubeadm:cluster-admins"),
            x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes-admin"),
        ]
    )
    usage = x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH])
    client = issue(admin, server_name, server_key, client_key, usage)
    _TLS.append(_Tls(*write("apiserver", server, server_key), *write("admin", client, client_key)))
    return _TLS[0]


def start_fake_kube(directory: Path) -> tuple[FakeKube, ThreadingHTTPServer]:
    """A fake API server on a free port of 127.0.0.1, serving from a thread; its kubeconfig in directory."""
    directory.mkdir(parents=True, exist_ok=True)
    fake = FakeKube(kubeconfig=directory / "kubeconfig")
    for namespace in ("default", "kube-system"):
        fake.put(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}, "status": {"phase": "Active"}}
        )
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls = _tls_material()
    context.load_cert_chain(tls.server_cert, tls.server_key)
    context.load_verify_locations(tls.server_cert)
    context.verify_mode = ssl.CERT_OPTIONAL  # a client certificate (kubeadm's admin.conf) or a bearer token
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    fake.url = f"https://127.0.0.1:{server.server_address[1]}"
    fake.write_kubeconfig(fake.kubeconfig)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return fake, server


@pytest.fixture
def fake_kube(tmp_path: Path) -> Iterator[FakeKube]:
    """A fresh fake API server for one test (namespaces default and kube-system, no nodes); see FakeKube."""
    fake, server = start_fake_kube(tmp_path / "fake-kube")
    try:
        yield fake
    finally:
        fake.close()
        server.shutdown()
        server.server_close()
