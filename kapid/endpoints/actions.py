"""
POST subresources that act on their parent: pod C{binding} (assign a node) and pod C{eviction}
(a delete through the eviction API), answering kube's C{Success} Status with code 201.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

from kapid.apimachinery import field
from kapid.apimachinery import meta as metautil
from kapid.apimachinery.status import StatusError, bad_request, conflict, invalid
from kapid.endpoints.request import Target


def created_status() -> dict:
    """
    kube's answer to a successful binding or eviction.
    """
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


async def bind(store: Any, target: Target, binding: Any) -> dict:
    """
    POST pods/<name>/binding: set C{spec.nodeName} and the C{PodScheduled} condition.
    """
    if not isinstance(binding, dict):
        raise bad_request("the body of the request was not a Binding")
    meta = binding.get("metadata") or {}
    name = meta.get("name") or target.name
    if name != target.name:
        raise bad_request(f"the name of the object ({name}) does not match the name on the URL ({target.name})")
    tgt = binding.get("target") or {}
    kind = tgt.get("kind") or "Node"
    node = tgt.get("name") or ""
    errs = []
    if kind != "Node":
        errs.append(field.not_supported("target.kind", kind, ("Node", "<empty>")))
    if not node:
        errs.append(field.required("target.name"))
    if errs:
        raise invalid("Binding", name, errs)
    now = metautil.timestamp(store.clock.seconds())

    def updater(current: Optional[dict]) -> dict:
        assert current is not None
        pod = copy.deepcopy(current)
        if pod["metadata"].get("deletionTimestamp"):
            raise conflict("pods/binding", name, f"pod {name} is being deleted, cannot be assigned to a host")
        spec = pod.setdefault("spec", {})
        if spec.get("nodeName"):
            raise conflict(
                "pods/binding", name, f"pod {name} is already assigned to node {_q(spec['nodeName'])}"
            )
        spec["nodeName"] = node
        status = pod.setdefault("status", {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now})
        status["conditions"] = conds
        return pod

    # spec.nodeName and status change together: write the stored object directly
    key = store.key(target.namespace, target.name)

    def write(current: Optional[dict]) -> dict:
        new = updater(store.to_version(current or {}, target.version))
        return store.to_storage(new)

    try:
        await store.storage.guaranteed_update(key, write)
    except StatusError:
        raise
    except Exception as e:
        raise store._error(e, target.name)
    return created_status()


def _q(s: str) -> str:
    import orjson

    return orjson.dumps(s).decode("utf-8")


async def evict(store: Any, target: Target, eviction: Any) -> dict:
    """
    POST pods/<name>/eviction: delete the pod with the eviction's DeleteOptions.
    """
    if eviction is not None and not isinstance(eviction, dict):
        raise bad_request("the body of the request was not an Eviction")
    options = dict((eviction or {}).get("deleteOptions") or {})
    await store.delete(target.namespace, target.name, options, target.version)
    return created_status()


def _pod_container(pod: dict, container: str, name: str) -> str:
    """
    kube's C{validateContainer}: the container a log/exec/attach request means.
    """
    spec = pod.get("spec") or {}
    names = [c.get("name", "") for c in (spec.get("containers") or [])]
    names_all = names + [c.get("name", "") for c in (spec.get("initContainers") or [])] + [
        c.get("name", "") for c in (spec.get("ephemeralContainers") or [])
    ]
    if not container:
        if len(names) == 1:
            return names[0]
        raise bad_request(
            f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]"
        )
    if container not in names_all:
        raise bad_request(f"container {container} is not valid for pod {name}")
    return container


def transport() -> Any:
    """
    The process's L{kapid.aggregator.connect.ProxyTransport} (kube-apiserver's proxy transport
    and kubelet transport), made on first use.
    """
    global _TRANSPORT
    if _TRANSPORT is None:
        from twisted.internet import reactor

        from kapid.aggregator.connect import ProxyTransport

        _TRANSPORT = ProxyTransport(reactor)
    return _TRANSPORT


_TRANSPORT: Any = None


def _encode(params: list[tuple[str, str]]) -> str:
    """
    Go's C{url.Values.Encode}: keys sorted, values in order.
    """
    from urllib.parse import urlencode

    return urlencode(sorted(params, key=lambda kv: kv[0]))


async def pod_log(link: Any, store: Any, request: Any, target: Target, query: Any) -> bytes:
    """
    GET pods/<name>/log: an empty stream for a pod with no node (kube's), else the container's log
    streamed from its node's kubelet (C{/containerLogs/<ns>/<pod>/<container>}); kube's
    C{LocationStreamer} errors when the kubelet cannot be reached or refuses.
    """
    from kapid.aggregator.connect import Location, kubelet_address

    pod = await store.get(target.namespace, target.name, target.version)
    container = _pod_container(pod, query.get("container"), target.name)
    node = (pod.get("spec") or {}).get("nodeName") or ""
    if not node:
        request.setHeader(b"Content-Type", b"text/plain")
        return b""
    host, port = await kubelet_address(link, node)
    params: list[tuple[str, str]] = []
    for flag in ("follow", "previous", "timestamps"):
        if query.bool(flag):
            params.append((flag, "true"))
    for name in ("sinceSeconds", "sinceTime", "tailLines", "limitBytes"):
        if query.get(name):
            params.append((name, query.get(name)))
    path = f"/containerLogs/{target.namespace}/{target.name}/{container}"
    if params:
        path += "?" + _encode(params)
    location = Location("https", host, port, path, kubelet=True)
    return await transport().forward(
        request, location, errors="stream", checked=("pods/log", target.name), content_type=b"text/plain"
    )


async def pod_stream(link: Any, store: Any, request: Any, target: Target, query: Any) -> bytes:
    """
    exec/attach/portforward: kube's 400 for a pod with no host; else the upgrade spliced to the
    node's kubelet (C{/exec}, C{/attach}, C{/portForward} with kube's parameters), 400
    C{Upgrade request required} for a plain request, 500 C{error dialing backend: ...} when no
    kubelet answers.
    """
    from kapid.aggregator.connect import Location, kubelet_address

    pod = await store.get(target.namespace, target.name, target.version)
    sub = target.subresource
    container = ""
    if sub != "portforward":
        container = _pod_container(pod, query.get("container"), target.name)
    node = (pod.get("spec") or {}).get("nodeName") or ""
    if not node:
        raise bad_request(f"pod {target.name} does not have a host assigned")
    host, port = await kubelet_address(link, node)
    params: list[tuple[str, str]] = []
    if sub == "portforward":
        ports = [p for v in query.get_all("ports") for p in v.split(",") if p]
        if ports:
            params.append(("port", ",".join(ports)))
        path = f"/portForward/{target.namespace}/{target.name}"
    else:
        for flag, param in (("stdin", "input"), ("stdout", "output"), ("stderr", "error"), ("tty", "tty")):
            if query.bool(flag):
                params.append((param, "1"))
        if sub == "exec":
            params.extend(("command", c) for c in query.get_all("command"))
        path = f"/{sub}/{target.namespace}/{target.name}/{container}"
    if params:
        path += "?" + _encode(params)
    return await transport().forward(request, Location("https", host, port, path, kubelet=True), upgrade_required=True)


async def proxy(link: Any, request: Any, target: Target, query: Any) -> bytes:
    """
    C{pods|services|nodes/<id>/proxy[/<path>]}: the target's location (kube's
    C{ResourceLocation}, with its checks), the path after C{/proxy} joined to it, the query
    passed on; the answer streamed back (or the upgrade spliced).
    """
    import attr

    from kapid.aggregator.connect import join_path, node_location, pod_location, proxy_suffix, service_location

    plural = target.resource.plural
    if plural == "pods":
        location = await pod_location(link, target.namespace, target.name)
    elif plural == "services":
        location = await service_location(link, target.namespace, target.name)
    else:
        location = await node_location(link, target.name)
    path = join_path(location.path if location.path != "/" else "", proxy_suffix(request, query)) or "/"
    # what kube's rewriting transport puts before the target's path: the request's path less it
    incoming = request.path.decode("latin-1")
    suffix = path
    if incoming.endswith("/") and not suffix.endswith("/"):
        suffix += "/"
    prepend = incoming[: -len(suffix)] if incoming.endswith(suffix) else incoming.rstrip("/")
    raw_query = request.uri.decode("latin-1").partition("?")[2]
    if raw_query:
        path += "?" + raw_query
    return await transport().forward(request, attr.evolve(location, path=path), prepend=prepend)
