"""
API discovery, computed from the L{ResourceRegistry}: C{/api} and C{/apis} in aggregated form
(C{apidiscovery.k8s.io/v2} and C{v2beta1} C{APIGroupDiscoveryList}, chosen by the Accept header and
answered with the exact Content-Type kubectl keys on) or legacy form (C{APIVersions},
C{APIGroupList}); C{/api/v1} and C{/apis/<group>/<version>} C{APIResourceList}s; C{/apis/<group>}
C{APIGroup}. Every answer carries an ETag and answers a matching C{If-None-Match} with 304.

Documents are cached per registry state: the registry's change notification drops the cache.
Groups are ordered as kube orders them (its built-in group priorities, then by name); versions by
kube's version priority, so the first one is the preferred version (C{autoscaling/v2}).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any, Optional

import orjson
from klein import Klein
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from kapid.registry.description import Resource, ResourceRegistry
from kapid.server.link import Decline, Link

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

#: kube-aggregator's built-in group priorities (higher first); others get 1000.
GROUP_PRIORITY = {
    "": 18000,
    "apiregistration.k8s.io": 18000,
    "apps": 17800,
    "events.k8s.io": 17750,
    "authentication.k8s.io": 17700,
    "authorization.k8s.io": 17600,
    "autoscaling": 17500,
    "batch": 17400,
    "certificates.k8s.io": 17300,
    "networking.k8s.io": 17200,
    "policy": 17100,
    "rbac.authorization.k8s.io": 17000,
    "storage.k8s.io": 16800,
    "admissionregistration.k8s.io": 16700,
    "apiextensions.k8s.io": 16700,
    "scheduling.k8s.io": 16600,
    "coordination.k8s.io": 16500,
    "node.k8s.io": 16300,
    "discovery.k8s.io": 16200,
    "flowcontrol.apiserver.k8s.io": 16100,
    "resource.k8s.io": 15900,
}

_KUBE_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_sort_key(version: str) -> tuple:
    """
    kube's version priority as a sort key (smaller sorts first): GA, then beta, then alpha, higher
    numbers first; versions not like kube's last, by name.
    """
    m = _KUBE_VERSION.match(version)
    if not m:
        return (3, 0, 0, version)
    major = int(m.group(1))
    stage = {None: 0, "beta": 1, "alpha": 2}[m.group(2)]
    minor = int(m.group(3) or 0)
    return (stage, -major, -minor, version)


def storage_version_hash(group: str, version: str, kind: str) -> str:
    """
    kube's C{StorageVersionHash}: base64 of the first 8 bytes of sha256(C{group/version/kind}).
    """
    digest = hashlib.sha256(f"{group}/{version}/{kind}".encode("utf-8")).digest()
    return base64.b64encode(digest[:8]).decode("ascii")


def _group_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def _sub_kind(resource: Resource, sub: Any, version: str) -> tuple[str, str, str]:
    """
    The (group, version, kind) a subresource answers with in C{version} of its parent.
    """
    if sub.kind == resource.kind and (sub.group or "") == resource.group:
        return resource.group, version, sub.kind
    return sub.group or "", sub.version or version, sub.kind


class DiscoveryDocuments:
    """
    The discovery documents of a registry, computed on demand and cached until it changes.

    @ivar remote: the aggregator's L{kapid.aggregator.discovery.RemoteDiscovery} (remote
        group/versions listed with their APIServices' priorities), or None.
    """

    def __init__(self, registry: ResourceRegistry, remote: Any = None) -> None:
        self.registry = registry
        self.remote = remote
        self._cache: dict[Any, tuple[bytes, str]] = {}
        registry.subscribe(self._cache.clear)
        if remote is not None:
            remote.subscribe(self._cache.clear)

    # -- structure --------------------------------------------------------------------------

    def groups(self) -> list[tuple[str, list[str]]]:
        """
        C{[(group, [versions, preferred first])]} in kube's order, core group first.
        """
        gv = self.registry.group_versions()
        priority = {g: GROUP_PRIORITY.get(g, 1000) for g in gv}
        if self.remote is not None:
            for (g, v), (group_priority, _) in self.remote.priorities().items():
                if v not in gv.setdefault(g, []):
                    gv[g].append(v)
                priority[g] = max(priority.get(g, group_priority), group_priority)
        ordered = sorted(gv, key=lambda g: (-priority[g], g))
        return [(g, sorted(gv[g], key=version_sort_key)) for g in ordered]

    def resources(self, group: str, version: str) -> list[Resource]:
        """
        The resources served in C{group/version}, by plural.
        """
        out = [r for r in self.registry.all() if r.group == group and r.version(version) is not None]
        return sorted(out, key=lambda r: r.plural)

    # -- documents ----------------------------------------------------------------------------

    def api_resource_list(self, group: str, version: str) -> Optional[dict[str, Any]]:
        """
        The legacy C{APIResourceList} of C{group/version}, or None when not served.
        """
        resources = self.resources(group, version)
        if not resources:
            return None
        entries: list[dict[str, Any]] = []
        for r in resources:
            e: dict[str, Any] = {
                "name": r.plural,
                "singularName": r.singular,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": list(r.verbs),
            }
            if r.short_names:
                e["shortNames"] = list(r.short_names)
            if r.categories:
                e["categories"] = list(r.categories)
            sv = r.storage_version
            e["storageVersionHash"] = storage_version_hash(r.group, sv.name, r.kind)
            entries.append(e)
            for sub in r.subresources:
                g, v, k = _sub_kind(r, sub, version)
                s: dict[str, Any] = {
                    "name": f"{r.plural}/{sub.name}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                }
                if (g, v) != (group, version):
                    s["group"] = g
                    s["version"] = v
                s["kind"] = k
                s["verbs"] = list(sub.verbs)
                entries.append(s)
        entries.sort(key=lambda e: e["name"])
        doc: dict[str, Any] = {"kind": "APIResourceList"}
        if group:
            doc["apiVersion"] = "v1"
        doc["groupVersion"] = _group_version(group, version)
        doc["resources"] = entries
        return doc

    def _versions(self, group: str, versions: list[str]) -> dict[str, Any]:
        vs = [{"groupVersion": _group_version(group, v), "version": v} for v in versions]
        return {"name": group, "versions": vs, "preferredVersion": vs[0]}

    def api_group(self, group: str) -> Optional[dict[str, Any]]:
        """
        The C{APIGroup} of a named group, or None.
        """
        for g, versions in self.groups():
            if g == group and g:
                return {"kind": "APIGroup", "apiVersion": "v1", **self._versions(g, versions)}
        return None

    def api_group_list(self) -> dict[str, Any]:
        """
        The legacy C{/apis} C{APIGroupList}.
        """
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [self._versions(g, vs) for g, vs in self.groups() if g],
        }

    def api_versions(self, server_address: str) -> dict[str, Any]:
        """
        The legacy C{/api} C{APIVersions}.
        """
        versions = next((vs for g, vs in self.groups() if g == ""), ["v1"])
        return {
            "kind": "APIVersions",
            "versions": versions,
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }

    def _resource_discovery(self, r: Resource, version: str) -> dict[str, Any]:
        e: dict[str, Any] = {
            "resource": r.plural,
            "responseKind": {"group": r.group, "version": version, "kind": r.kind},
            "scope": "Namespaced" if r.namespaced else "Cluster",
            "singularResource": r.singular,
            "verbs": list(r.verbs),
        }
        if r.short_names:
            e["shortNames"] = list(r.short_names)
        if r.categories:
            e["categories"] = list(r.categories)
        subs = []
        for sub in sorted(r.subresources, key=lambda s: s.name):
            g, v, k = _sub_kind(r, sub, version)
            subs.append(
                {
                    "subresource": sub.name,
                    "responseKind": {"group": g, "version": v, "kind": k},
                    "verbs": list(sub.verbs),
                }
            )
        if subs:
            e["subresources"] = subs
        return e

    def aggregated(self, legacy: bool, api_version: str) -> dict[str, Any]:
        """
        The aggregated C{APIGroupDiscoveryList} of the core group (C{legacy}) or the named groups.
        """
        items = []
        for g, versions in self.groups():
            if bool(g) == legacy:
                continue
            meta: dict[str, Any] = {"creationTimestamp": None}
            if g:
                meta = {"name": g, "creationTimestamp": None}
            items.append(
                {
                    "metadata": meta,
                    "versions": [
                        {
                            "version": v,
                            "resources": self._version_resources(g, v),
                            "freshness": "Current",
                        }
                        for v in versions
                    ],
                }
            )
        return {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": f"apidiscovery.k8s.io/{api_version}",
            "metadata": {},
            "items": items,
        }

    def _version_resources(self, group: str, version: str) -> list[dict[str, Any]]:
        remote = self.remote.resources(group, version) if self.remote is not None else None
        if remote is not None:
            return remote
        return [self._resource_discovery(r, version) for r in self.resources(group, version)]

    # -- encoded, with ETags ------------------------------------------------------------------

    def encoded(self, key: Any, build: Any) -> tuple[bytes, str]:
        """
        C{(body, etag)} of a document, cached until the registry changes.
        """
        hit = self._cache.get(key)
        if hit is None:
            body = orjson.dumps(build())
            etag = '"' + hashlib.sha256(body).hexdigest()[:32].upper() + '"'
            hit = self._cache[key] = (body, etag)
        return hit


def _media_types(accept: str) -> list[str]:
    """
    The media types of an Accept header, in order, with spaces removed (parameters kept).
    """
    out = []
    for part in accept.split(","):
        p = part.replace(" ", "")
        if p:
            out.append(p)
    return out


def negotiate_discovery(accept: Optional[str]) -> str:
    """
    Which discovery form an Accept header asks for: C{v2}, C{v2beta1} or C{legacy}.
    """
    for mt in _media_types(accept or ""):
        params = dict(
            kv.split("=", 1) for kv in mt.split(";")[1:] if "=" in kv
        )
        base = mt.split(";")[0]
        if base == "application/json" and params.get("as") == "APIGroupDiscoveryList" and params.get(
            "g"
        ) == "apidiscovery.k8s.io":
            if params.get("v") == "v2":
                return "v2"
            if params.get("v") == "v2beta1":
                return "v2beta1"
            continue
        if "as" in params:
            continue
        if base in ("application/json", "application/*", "*/*", ""):
            return "legacy"
    return "legacy"


def write_cached(request: IRequest, body: bytes, etag: str, content_type: str) -> bytes:
    """
    Answer a cached document: 304 when C{If-None-Match} matches its ETag, else 200 with the body.
    """
    request.setHeader(b"ETag", etag.encode("ascii"))
    request.setHeader(b"Vary", b"Accept")
    inm = request.getHeader(b"if-none-match")
    if inm is not None and etag in [t.strip() for t in inm.decode("latin-1").split(",")]:
        request.setResponseCode(304)
        return b""
    request.setHeader(b"Content-Type", content_type.encode("ascii"))
    request.setResponseCode(200)
    return body


class DiscoveryLink(Link):
    """
    Serves C{/api}, C{/api/v1}, C{/apis}, C{/apis/<group>}, C{/apis/<group>/<version>} from the
    registry; everything else goes to the delegate.
    """

    app = Klein()

    def __init__(self, delegate: IResource, registry: ResourceRegistry, remote: Any = None) -> None:
        super().__init__(delegate)
        self.registry = registry
        self.documents = DiscoveryDocuments(registry, remote)

    def listed_paths(self) -> list[str]:
        """
        C{/api}, C{/api/v1}, C{/apis}, and every served group and group version.
        """
        paths = ["/api", "/api/v1", "/apis", "/apis/"]
        for g, versions in self.documents.groups():
            if g:
                paths.append(f"/apis/{g}")
                paths += [f"/apis/{g}/{v}" for v in versions]
        return paths

    def _aggregated_or(self, request: IRequest, legacy: bool, build_legacy: Any) -> bytes:
        form = negotiate_discovery(
            (request.getHeader(b"accept") or b"").decode("latin-1")
        )
        if form in ("v2", "v2beta1"):
            body, etag = self.documents.encoded(
                ("agg", legacy, form), lambda: self.documents.aggregated(legacy, form)
            )
            ct = AGGREGATED_V2 if form == "v2" else AGGREGATED_V2BETA1
            return write_cached(request, body, etag, ct)
        body, etag = self.documents.encoded(("legacy", legacy, self._address(request)), build_legacy)
        return write_cached(request, body, etag, "application/json")

    @staticmethod
    def _address(request: IRequest) -> str:
        host = request.getHeader(b"host")
        if host:
            return host.decode("latin-1")
        h = request.getHost()
        return f"{getattr(h, 'host', '')}:{getattr(h, 'port', '')}"

    @app.route("/api", methods=["GET", "HEAD"], strict_slashes=False)
    def api(self, request: IRequest) -> bytes:
        """
        C{/api}: aggregated discovery of the core group, or C{APIVersions}.
        """
        addr = self._address(request)
        return self._aggregated_or(request, True, lambda: self.documents.api_versions(addr))

    @app.route("/apis", methods=["GET", "HEAD"], strict_slashes=False)
    def apis(self, request: IRequest) -> bytes:
        """
        C{/apis}: aggregated discovery of the named groups, or C{APIGroupList}.
        """
        return self._aggregated_or(request, False, self.documents.api_group_list)

    @app.route("/api/v1", methods=["GET", "HEAD"], strict_slashes=False)
    def api_v1(self, request: IRequest) -> bytes:
        """
        C{/api/v1}: the core C{APIResourceList}.
        """
        return self._resource_list(request, "", "v1")

    @app.route("/apis/<group>", methods=["GET", "HEAD"], strict_slashes=False)
    def api_group(self, request: IRequest, group: str) -> bytes:
        """
        C{/apis/<group>}: the C{APIGroup}.
        """
        doc = self.documents.api_group(group)
        if doc is None:
            raise Decline()
        body, etag = self.documents.encoded(("group", group), lambda: doc)
        return write_cached(request, body, etag, "application/json")

    @app.route("/apis/<group>/<version>", methods=["GET", "HEAD"], strict_slashes=False)
    def api_group_version(self, request: IRequest, group: str, version: str) -> bytes:
        """
        C{/apis/<group>/<version>}: the C{APIResourceList}.
        """
        return self._resource_list(request, group, version)

    def _resource_list(self, request: IRequest, group: str, version: str) -> bytes:
        doc = self.documents.api_resource_list(group, version)
        if doc is None:
            raise Decline()
        body, etag = self.documents.encoded(("resources", group, version), lambda: doc)
        return write_cached(request, body, etag, "application/json")


def discovery_stage(registry: ResourceRegistry, remote: Any = None) -> Any:
    """
    A chain stage factory C{delegate -> DiscoveryLink} over C{registry} and the aggregator's
    C{remote} group/versions (for L{kapid.server.service.KapidService.stage_factories}).
    """
    return lambda delegate: DiscoveryLink(delegate, registry, remote)
