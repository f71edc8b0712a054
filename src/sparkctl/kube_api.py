"""The thin layer under kube.py: HTTP through the official `kubernetes` client, watches, readable errors,
and what the API's objects say (where each kind lives, a pod's phase and trouble, a condition).

Everything here speaks plain JSON (dicts), so kube.py never depends on the client's generated models.
The `kubernetes` package is imported inside functions: `sparkctl --help` must not load it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sparkctl.errors import (
    ConfigError,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeInvalid,
    KubeNotFound,
    KubeUnreachable,
)

UNREACHABLE_HINT = (
    "Check the server address in the kubeconfig, that the control plane runs (`sparkctl cluster status`) "
    "and that no firewall blocks port 6443."
)


class KubeApi:
    """One API server, reached through an ApiClient made from a kubeconfig; every failure becomes a KubeError."""

    def __init__(self, client: Any, *, timeout: float, kubeconfig: Path) -> None:
        self.client = client
        self.timeout = timeout
        self.kubeconfig = kubeconfig
        self.server: str = client.configuration.host

    @classmethod
    def from_kubeconfig(cls, path: Path, *, timeout: float) -> KubeApi:
        """An ApiClient for the kubeconfig's current context, without urllib3's retries; ConfigError if unusable."""
        import yaml
        from kubernetes import config
        from kubernetes.client import Configuration

        path = Path(path).expanduser()
        fix = "Copy /etc/kubernetes/admin.conf from the Spark (`sparkctl cluster up` writes it) and pass --kubeconfig."
        if not path.is_file():
            raise ConfigError(f"kubeconfig {path} does not exist", hint=fix)
        configuration = Configuration()
        configuration.retries = False  # a silent server fails after `timeout`, not after retries of it
        try:
            client = config.new_client_from_config(
                config_file=str(path), persist_config=False, client_configuration=configuration
            )
        except (config.ConfigException, yaml.YAMLError, LookupError, TypeError, ValueError, OSError) as exc:
            detail = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise ConfigError(f"kubeconfig {path} cannot be used: {detail}", hint=fix) from exc
        return cls(client, timeout=timeout, kubeconfig=path)

    def close(self) -> None:
        self.client.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        action: str,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | None = None,
    ) -> tuple[int, bytes]:
        """Status and body of one request; raises KubeUnreachable only (any HTTP status is returned)."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json, */*"}
        if content_type or body is not None:
            headers["Content-Type"] = content_type or "application/json"
        limit = timeout if timeout is not None else self.timeout
        request = self.client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()) or None,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.client.call_api(*request, _request_timeout=(limit, limit))
            return response.status, response.read()
        except (urllib3.exceptions.HTTPError, ApiException, OSError) as exc:
            raise self.unreachable(exc, action, limit) from exc

    def request(self, method: str, path: str, *, action: str, text: bool = False, **options: Any) -> Any:
        """The decoded answer of one request (JSON, or text when `text`); a KubeError for any failure."""
        status, data = self.call(method, path, action=action, **options)
        if not 200 <= status < 300:
            raise self.refused(status, data, action)
        if text:
            return data.decode("utf-8", "replace")
        try:
            return json.loads(data) if data else {}
        except ValueError as exc:
            raise KubeError(
                f"{action}: the server at {self.server} answered with something that is not Kubernetes JSON",
                hint="Check that the kubeconfig's server address is the Kubernetes API server (port 6443).",
            ) from exc

    def lines(self, path: str, *, action: str, query: dict[str, str], timeout: float) -> Iterator[str]:
        """A streamed text answer (a followed pod log) line by line, until the server ends it or `timeout`."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        request = self.client.param_serialize(
            method="GET",
            resource_path=path,
            query_params=list(query.items()),
            header_params={"Accept": "*/*"},
            auth_settings=["BearerToken"],
        )
        try:
            response = self.client.call_api(*request, _request_timeout=(self.timeout, timeout))
            if not 200 <= response.status < 300:
                raise self.refused(response.status, response.read(), action)
            pending = b""
            for chunk in response.response.stream(4096):
                pending += chunk
                *complete, pending = pending.split(b"\n")
                yield from (line.decode("utf-8", "replace") for line in complete)
            if pending:
                yield pending.decode("utf-8", "replace")
        except (urllib3.exceptions.HTTPError, ApiException, OSError) as exc:
            raise self.unreachable(exc, action, timeout) from exc

    def watch(
        self,
        list_func: Callable[..., Any],
        path: str,
        *,
        deadline: float,
        action: str,
        field_selector: str | None = None,
    ) -> Iterator[dict[str, dict[str, Any]]]:
        """The objects of one collection keyed by name: after a list, then after each change, until `deadline`.

        `list_func` is the client's typed list function of the same collection (given to
        kubernetes.watch.Watch); `path` is that collection's URL, listed first and again whenever
        the server says the watch's resourceVersion is too old (410) or a stream breaks.
        """
        import urllib3
        from kubernetes.client.exceptions import ApiException
        from kubernetes.watch import Watch

        selectors = {"field_selector": field_selector} if field_selector else {}
        objects: dict[str, dict[str, Any]] = {}
        version: str | None = None
        while (remaining := deadline - time.monotonic()) > 0:
            if version is None:
                query = {"fieldSelector": field_selector} if field_selector else None
                listing = self.request("GET", path, action=action, query=query)
                objects = {item["metadata"]["name"]: item for item in listing.get("items") or []}
                version = (listing.get("metadata") or {}).get("resourceVersion") or "0"
                yield dict(objects)
                continue
            watcher = Watch(return_type="object")
            stream = watcher.stream(
                list_func,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=max(1, math.ceil(remaining)),
                _request_timeout=(self.timeout, remaining + self.timeout),
                **selectors,
            )
            try:
                for event in stream:
                    version = watcher.resource_version or version
                    item = event["raw_object"]
                    if event["type"] == "BOOKMARK":
                        continue
                    if event["type"] == "DELETED":
                        objects.pop(item["metadata"]["name"], None)
                    else:
                        objects[item["metadata"]["name"]] = item
                    yield dict(objects)
            except ApiException as exc:
                if exc.status == 410:
                    version = None
                    continue
                if not exc.status:
                    raise self.unreachable(exc, action, self.timeout) from exc
                raise self.refused(exc.status, exc.body or b"", action) from exc
            except (urllib3.exceptions.HTTPError, OSError):
                # A broken stream: list again, which says plainly whether the server is gone.
                version = None
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
            finally:
                stream.close()

    def unreachable(self, exc: BaseException, action: str, limit: float) -> KubeUnreachable:
        return KubeUnreachable(
            f"the Kubernetes API server at {self.server} {_why_unreachable(exc, limit)} ({action})",
            hint=UNREACHABLE_HINT,
        )

    def refused(self, status: int, body: bytes | str, action: str) -> KubeError:
        """The KubeError for an HTTP error status, with the API server's own message."""
        message = _status_message(status, body)
        if status == 401:
            return KubeForbidden(
                f"the API server at {self.server} rejected the credentials in {self.kubeconfig} "
                f"(401 Unauthorized) while {action}",
                hint="The token or client certificate is wrong or expired: copy a fresh /etc/kubernetes/admin.conf "
                "from the Spark and pass it with --kubeconfig.",
            )
        if status == 403:
            return KubeForbidden(
                f"{action} was forbidden: {message}",
                hint="The kubeconfig's user lacks this permission: use the cluster-admin kubeconfig "
                "(/etc/kubernetes/admin.conf on the Spark) or grant the user a role that allows it.",
            )
        if status == 404:
            return KubeNotFound(
                f"{action} failed: {message}",
                hint="Check the name and the namespace (a namespace must exist before objects are created in it).",
            )
        if status == 409:
            return KubeConflict(
                f"{action} failed: {message}",
                hint="Another client changed the same object at the same time: run the command again.",
            )
        if status in (400, 422):
            return KubeInvalid(
                f"{action} was refused as invalid: {message}",
                hint="The object does not fit this cluster's Kubernetes version: run again with --verbose and "
                "report it.",
            )
        return KubeError(
            f"{action} failed: the API server answered {status}: {message}",
            hint="The control plane may be starting or overloaded: check `sparkctl cluster status`, then retry.",
        )


def _status_message(status: int, body: bytes | str) -> str:
    """The `message` of a Kubernetes Status body, or the start of whatever else the server said."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("message"):
        return str(document["message"])
    return " ".join(text.split())[:300] or f"HTTP {status}"


def _why_unreachable(exc: BaseException, limit: float) -> str:
    """What went wrong, in words: refused, silent, unresolvable, or a TLS failure."""
    import urllib3

    reason: BaseException | None = exc
    while isinstance(reason, urllib3.exceptions.MaxRetryError) and reason.reason is not None:
        reason = reason.reason
    text = str(getattr(exc, "reason", None) or exc)
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "cannot be resolved: check the host name in the kubeconfig"
    if isinstance(reason, urllib3.exceptions.NewConnectionError):  # before ConnectTimeoutError, its base class
        if "refused" in str(reason).lower():
            return "refused the connection"
        return f"cannot be connected to: {str(reason).rsplit('new connection: ', 1)[-1]}"
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
        return f"did not accept a connection within {limit:g} s"
    if isinstance(reason, urllib3.exceptions.ProtocolError):
        return "closed the connection without an answer (is the address right, and is it https?)"
    if isinstance(reason, urllib3.exceptions.ReadTimeoutError | TimeoutError) or "timed out" in text:
        return f"did not answer within {limit:g} s"
    if "SSL" in text or "certificate" in text.lower():
        detail = text.splitlines()[-1] if text.strip() else "TLS error"
        return f"failed the TLS handshake ({detail}): is the kubeconfig's certificate authority this cluster's?"
    return f"cannot be talked to: {text.splitlines()[0] if text.strip() else type(exc).__name__}"


# What the API's objects say: where a kind lives, a pod's phase and trouble, a condition.

# kind → (group/version path, plural, namespaced): the kinds `apply` knows; charts install everything else.
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("api/v1", "namespaces", False),
    "Node": ("api/v1", "nodes", False),  # for labels; applying a Node that does not exist would create one
    "ServiceAccount": ("api/v1", "serviceaccounts", True),
    "ConfigMap": ("api/v1", "configmaps", True),
    "Secret": ("api/v1", "secrets", True),
    "Service": ("api/v1", "services", True),
    "Pod": ("api/v1", "pods", True),
    "PersistentVolumeClaim": ("api/v1", "persistentvolumeclaims", True),
    "DaemonSet": ("apis/apps/v1", "daemonsets", True),
    "Deployment": ("apis/apps/v1", "deployments", True),
    "ClusterRole": ("apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "StorageClass": ("apis/storage.k8s.io/v1", "storageclasses", False),
    "Job": ("apis/batch/v1", "jobs", True),
    "CronJob": ("apis/batch/v1", "cronjobs", True),
    "PersistentVolume": ("api/v1", "persistentvolumes", False),
    "Volume": ("apis/longhorn.io/v1beta2", "volumes", True),  # Longhorn's own record of a volume
    "Setting": ("apis/longhorn.io/v1beta2", "settings", True),  # Longhorn's settings, for its uninstall
}


def locate(manifest: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """The body, the apply URL and the "Kind/namespace/name" label of a manifest, or KubeInvalid."""
    kind, metadata = manifest.get("kind"), manifest.get("metadata") or {}
    group_version, plural, namespaced = kind_path(kind, metadata.get("name"))
    expected, name = group_version.split("/", 1)[1], metadata.get("name")
    if manifest.get("apiVersion") != expected:
        raise KubeInvalid(f"{kind} {name} has apiVersion {manifest.get('apiVersion')}, expected {expected}")
    if not name:
        raise KubeInvalid(f"a {kind} manifest has no metadata.name")
    if not namespaced:
        return manifest, f"/{group_version}/{plural}/{name}", f"{kind}/{name}"
    namespace = metadata.get("namespace") or "default"
    body = {**manifest, "metadata": {**metadata, "namespace": namespace}}
    return body, f"/{group_version}/namespaces/{namespace}/{plural}/{name}", f"{kind}/{namespace}/{name}"


def kind_path(kind: str | None, name: str | None = None) -> tuple[str, str, bool]:
    """(group/version path, plural, namespaced) of a kind in KINDS, or KubeInvalid."""
    if kind not in KINDS:
        raise KubeInvalid(
            f"cannot handle {kind or 'a manifest without a kind'} {name or ''}".rstrip()
            + f": sparkctl knows only {', '.join(sorted(KINDS))}",
            hint="Install other kinds through a Helm chart, or add the kind to KINDS in sparkctl/kube_api.py.",
        )
    return KINDS[kind]


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), None)


def pod_phase(pod: dict[str, Any]) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def pod_reason(pod: dict[str, Any]) -> str:
    """Why a pod is not (or was not) fine: a container's waiting or failed state, the pod's reason, a condition."""
    status = pod.get("status") or {}
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        if waiting.get("reason") and waiting["reason"] not in ("ContainerCreating", "PodInitializing"):
            return f"{container['name']}: {waiting['reason']}" + (
                f": {waiting['message']}" if waiting.get("message") else ""
            )
        if terminated and terminated.get("exitCode", 0) != 0:
            text = (
                f"{container['name']} exited with code {terminated['exitCode']} ({terminated.get('reason', 'Error')})"
            )
            return text + (f": {terminated['message'].strip()}" if terminated.get("message") else "")
    if status.get("reason") or status.get("message"):
        return ": ".join(part for part in (status.get("reason"), status.get("message")) if part)
    for condition in status.get("conditions") or []:
        if condition.get("status") == "False" and (condition.get("message") or condition.get("reason")):
            return f"{condition['type']}: " + ": ".join(
                part for part in (condition.get("reason"), condition.get("message")) if part
            )
    return ""
