"""
A tiny recording API server for capturing what real kubectl sends.

L{CaptureResource} answers just enough of the Kubernetes API for C{kubectl create <generator>},
C{kubectl auth can-i} and C{kubectl auth whoami} to run against it: legacy discovery (C{/api},
C{/apis}, one C{APIResourceList} per group version of L{DISCOVERY}), C{/version}, and any C{POST},
answered C{201} with the object echoed as JSON. Objects created are kept, so that later C{GET},
C{PUT}, C{PATCH} (answered with the object unchanged) and C{DELETE} of them, lists of their
collection (selectors ignored) and an C{eviction} (which deletes the pod) work too: enough for
C{kubectl autoscale}, C{drain} and C{certificate approve}. Every request is kept in
L{CaptureResource.requests} as a L{Captured}, body included, so tests and the fixture script
(C{tests/fixtures/protobuf/capture.py}) can save the exact bytes kubectl wrote.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import attr
import orjson
from twisted.web.resource import Resource
from twisted.web.server import Request

#: group version -> ((plural, kind, namespaced, verbs), ...). Subresources are C{parent/sub}.
_CRUD = ["create", "delete", "get", "list", "patch", "update", "watch"]
DISCOVERY: dict[str, tuple[tuple[str, str, bool, list[str]], ...]] = {
    "v1": (
        ("namespaces", "Namespace", False, _CRUD),
        ("configmaps", "ConfigMap", True, _CRUD),
        ("secrets", "Secret", True, _CRUD),
        ("services", "Service", True, _CRUD),
        ("serviceaccounts", "ServiceAccount", True, _CRUD),
        ("serviceaccounts/token", "TokenRequest", True, ["create"]),
        ("resourcequotas", "ResourceQuota", True, _CRUD),
        ("pods", "Pod", True, _CRUD),
        ("pods/log", "Pod", True, ["get"]),
        ("pods/eviction", "Eviction", True, ["create"]),
        ("nodes", "Node", False, _CRUD),
        ("pods/ephemeralcontainers", "Pod", True, ["get", "patch", "update"]),
    ),
    "apps/v1": (
        ("deployments", "Deployment", True, _CRUD),
        ("deployments/scale", "Scale", True, ["get", "patch", "update"]),
    ),
    "autoscaling/v1": (("horizontalpodautoscalers", "HorizontalPodAutoscaler", True, _CRUD),),
    "autoscaling/v2": (("horizontalpodautoscalers", "HorizontalPodAutoscaler", True, _CRUD),),
    "certificates.k8s.io/v1": (
        ("certificatesigningrequests", "CertificateSigningRequest", False, _CRUD),
        ("certificatesigningrequests/approval", "CertificateSigningRequest", False, ["get", "patch", "update"]),
    ),
    "batch/v1": (
        ("jobs", "Job", True, _CRUD),
        ("cronjobs", "CronJob", True, _CRUD),
    ),
    "rbac.authorization.k8s.io/v1": (
        ("roles", "Role", True, _CRUD),
        ("rolebindings", "RoleBinding", True, _CRUD),
        ("clusterroles", "ClusterRole", False, _CRUD),
        ("clusterrolebindings", "ClusterRoleBinding", False, _CRUD),
    ),
    "networking.k8s.io/v1": (("ingresses", "Ingress", True, _CRUD),),
    "policy/v1": (("poddisruptionbudgets", "PodDisruptionBudget", True, _CRUD),),
    "scheduling.k8s.io/v1": (("priorityclasses", "PriorityClass", False, _CRUD),),
    "authorization.k8s.io/v1": (
        ("selfsubjectaccessreviews", "SelfSubjectAccessReview", False, ["create"]),
    ),
    "authentication.k8s.io/v1": (
        ("selfsubjectreviews", "SelfSubjectReview", False, ["create"]),
    ),
}


@attr.s(frozen=True, auto_attribs=True)
class Captured:
    """
    One request as the server saw it.
    """

    method: str
    path: str
    content_type: str
    body: bytes


def _envelope_type_meta(body: bytes) -> dict[str, str]:
    """
    The C{apiVersion} and C{kind} of a protobuf body's C{runtime.Unknown} envelope, or C{{}}.
    """
    try:
        from kapid.apimachinery.protobuf import envelope

        api_version, kind, _ = envelope(body)
        return {"apiVersion": api_version, "kind": kind}
    except Exception:
        return {}


class CaptureResource(Resource):
    """
    A leaf resource that records every request and answers like a minimal API server.

    @ivar requests: every L{Captured} request, in arrival order.
    @ivar objects: path -> object created (or replaced) so far.
    @ivar decode: turns a protobuf body into its JSON object for the echo (optional; without it,
        or when it fails, the echo carries only the envelope's C{apiVersion}/C{kind}).
    """

    isLeaf = True

    def __init__(self, decode: Optional[Callable[[bytes], dict]] = None) -> None:
        super().__init__()
        self.requests: list[Captured] = []
        self.objects: dict[str, dict] = {}
        self.decode = decode

    def _json(self, request: Request, code: int, obj: Any) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"application/json")
        return orjson.dumps(obj)

    def render(self, request: Request) -> bytes:
        """
        Record the request, then answer discovery, C{/version} or an object request.
        """
        body = request.content.read() if request.content is not None else b""
        path = request.path.decode("utf-8").rstrip("/")
        method = request.method.decode("ascii")
        ctype = (request.getHeader(b"content-type") or b"").decode("latin-1")
        self.requests.append(Captured(method, path, ctype, body))
        if method == "GET":
            return self._get(request, path)
        if method == "POST":
            return self._post(request, path, body, ctype)
        if method in ("PUT", "PATCH", "DELETE"):
            return self._change(request, method, path, body, ctype)
        return self._json(request, 405, _status(405, "MethodNotAllowed", "not supported"))

    def _decode(self, body: bytes, ctype: str) -> dict:
        """
        The object of a body (JSON, or protobuf through L{decode} or just its envelope).
        """
        obj: Any
        if ctype.startswith("application/vnd.kubernetes.protobuf"):
            obj = _envelope_type_meta(body)
            if self.decode is not None:
                try:
                    obj = self.decode(body)
                except Exception:
                    pass
        else:
            try:
                obj = orjson.loads(body)
            except orjson.JSONDecodeError:
                obj = {}
        return obj if isinstance(obj, dict) else {}

    def _get(self, request: Request, path: str) -> bytes:
        if path == "/version":
            return self._json(
                request,
                200,
                {"major": "1", "minor": "33", "gitVersion": "v1.33.0", "platform": "linux/amd64"},
            )
        if path == "/api":
            return self._json(
                request,
                200,
                {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
            )
        if path == "/apis":
            groups: list[dict[str, Any]] = []
            for gv in DISCOVERY:
                if "/" not in gv:
                    continue
                group, version = gv.split("/")
                v = {"groupVersion": gv, "version": version}
                for g in groups:
                    if g["name"] == group:
                        g["versions"].append(v)
                        break
                else:
                    groups.append({"name": group, "versions": [v], "preferredVersion": v})
            return self._json(
                request, 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
            )
        gv = path[len("/api/") :] if path.startswith("/api/") else path[len("/apis/") :]
        if gv in DISCOVERY:
            resources = []
            for plural, kind, namespaced, verbs in DISCOVERY[gv]:
                entry: dict[str, Any] = {
                    "name": plural,
                    "singularName": "" if "/" in plural else kind.lower(),
                    "namespaced": namespaced,
                    "kind": kind,
                    "verbs": verbs,
                }
                if plural == "serviceaccounts/token":
                    entry.update(group="authentication.k8s.io", version="v1")
                if plural == "pods/eviction":
                    entry.update(group="policy", version="v1")
                if plural == "deployments/scale":
                    entry.update(group="autoscaling", version="v1")
                resources.append(entry)
            return self._json(
                request,
                200,
                {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources},
            )
        if path in self.objects:
            return self._json(request, 200, self.objects[path])
        items = [
            o
            for p, o in self.objects.items()
            if path in (p.rpartition("/")[0], _without_namespace(p.rpartition("/")[0]))
        ]
        if items:
            kind = items[0].get("kind", "") + "List"
            return self._json(
                request,
                200,
                {"kind": kind, "apiVersion": items[0].get("apiVersion", "v1"), "metadata": {}, "items": items},
            )
        return self._json(request, 404, _status(404, "NotFound", "the server could not find the requested resource"))

    def _post(self, request: Request, path: str, body: bytes, ctype: str) -> bytes:
        obj = self._decode(body, ctype)
        name = obj.setdefault("metadata", {}).setdefault("name", "captured")
        if path.endswith("/eviction"):
            self.objects.pop(path.rpartition("/")[0], None)
        elif len(_resource_segments(path)) == 1:
            self.objects[f"{path}/{name}"] = obj
        return self._json(request, 201, obj)

    def _change(self, request: Request, method: str, path: str, body: bytes, ctype: str) -> bytes:
        target = path if path in self.objects else path.rpartition("/")[0]
        if target not in self.objects:
            return self._json(request, 404, _status(404, "NotFound", "not found"))
        if method == "DELETE":
            return self._json(request, 200, self.objects.pop(target))
        if method == "PUT":
            self.objects[target] = self._decode(body, ctype)
        return self._json(request, 200, self.objects[target])


def _without_namespace(path: str) -> str:
    """
    A collection path without its C{namespaces/<ns>} part (the all-namespaces form).
    """
    parts = path.split("/")
    for i in range(len(parts) - 2):
        if parts[i] == "namespaces" and i + 2 < len(parts):
            return "/".join(parts[:i] + parts[i + 2 :])
    return path


def _resource_segments(path: str) -> list[str]:
    """
    The segments of a resource path after its group version and namespace: C{[plural]},
    C{[plural, name]} or C{[plural, name, subresource]}.
    """
    parts = [p for p in path.split("/") if p]
    parts = parts[2:] if parts[:1] == ["api"] else parts[3:]
    if parts[:1] == ["namespaces"] and len(parts) > 2:
        parts = parts[2:]
    return parts


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    """
    A failure C{Status} body.
    """
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
