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


async def _node_unreachable(store: Any, node: str) -> StatusError:
    """
    What kube answers when it would dial the kubelet of C{node}: the Node is missing (404), or
    no kubelet answers (kapid runs none).
    """
    link = getattr(store, "link", None)
    if link is not None:
        nodes = link.registry.lookup("", "v1", "nodes")
        if nodes is not None:
            ns = link.store_for(nodes)
            found = await ns.storage.get(ns.key("", node), "", True)
            if found is None:
                from kapid.apimachinery.status import not_found

                return not_found("nodes", node)
    return StatusError(
        500,
        "InternalError",
        f"Internal error occurred: error dialing backend: no kubelet is reachable for node {node}",
        {"causes": [{"message": f"error dialing backend: no kubelet is reachable for node {node}"}]},
    )


async def pod_log(store: Any, target: Target, container: str) -> bytes:
    """
    GET pods/<name>/log: an empty stream for a pod with no node (kube's), else the kubelet error.
    """
    pod = await store.get(target.namespace, target.name, target.version)
    _pod_container(pod, container, target.name)
    node = (pod.get("spec") or {}).get("nodeName") or ""
    if not node:
        return b""
    raise await _node_unreachable(store, node)


async def pod_stream(store: Any, target: Target, container: str) -> None:
    """
    exec/attach/portforward: kube's 400 for a pod with no host, else the kubelet error.
    """
    pod = await store.get(target.namespace, target.name, target.version)
    if target.subresource != "portforward":
        _pod_container(pod, container, target.name)
    node = (pod.get("spec") or {}).get("nodeName") or ""
    if not node:
        raise bad_request(f"pod {target.name} does not have a host assigned")
    raise await _node_unreachable(store, node)
