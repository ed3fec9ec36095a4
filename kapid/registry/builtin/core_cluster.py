"""
core/v1 resources beyond the API machinery's (L{kapid.registry.builtin.core}): services (+status,
+proxy), endpoints, serviceaccounts (+token), replicationcontrollers (+status, +scale), nodes
(+status, +proxy), persistentvolumes, persistentvolumeclaims, limitranges, resourcequotas and
podtemplates, with kube's verbs, short names, categories, storage layout and field selectors.
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from kapid.apimachinery.status import service_unavailable
from kapid.registry.builtin._helpers import PROXY_VERBS, field, resource, status, v1
from kapid.registry.description import Resource, Subresource
from kapid.registry.strategy import GenericStrategy


def _d(name: str) -> str:
    return f"io.k8s.api.core.v1.{name}"


class NodeStrategy(GenericStrategy):
    """
    Nodes keep the status they are created with (kubelets register with it); the main resource
    ignores status changes after that.
    """

    def __init__(self) -> None:
        super().__init__("", "Node", has_status=True)

    def prepare_for_proxy(self, obj: dict, old: dict) -> None:
        """
        Writes to C{nodes/<name>/proxy} never change the Node; with no kubelet to reach, kapid
        answers 503 as kube-apiserver does when the node cannot be dialled.
        """
        name = (old.get("metadata") or {}).get("name") or ""
        raise service_unavailable(f'error trying to reach service: no kubelet is reachable for node "{name}"')

    def prepare_for_create(self, obj: dict) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict):
            spec.pop("configSource", None)
        st = obj.get("status")
        if isinstance(st, dict):
            st.pop("config", None)


class ServiceStrategy(GenericStrategy):
    """
    Services: DNS-1035 names, status kept apart, and, when given a
    L{kapid.registry.allocator.ServiceAllocator}, kube's cluster IP and node port allocation
    through three asynchronous hooks the store calls around its writes:

      - C{await before_create(store, obj, dry_run)} -> an undo: C{await undo()} if the write fails
        (the allocator's L{kapid.registry.allocator.Transaction}, which also has C{finish(ok)});
      - C{await before_update(store, obj, old, dry_run)} -> a commit: C{await commit()} after the
        write (it releases what the update gave up);
      - C{await after_delete(store, obj)} once the object is gone.

    Without an allocator the hooks change nothing and return a no-op callable.
    """

    def __init__(self, allocator: Optional[Any] = None) -> None:
        super().__init__(
            "", "Service", has_status=True, name_validation="dns1035", reset_status={"loadBalancer": {}},
            allow_create_on_update=True,
        )
        self.allocator = allocator

    async def before_create(self, store: Any, obj: dict, dry_run: bool = False) -> Any:
        """
        Allocate the new Service's cluster IP and node ports (see the class docstring).
        """
        if self.allocator is None:
            return _nothing
        return await self.allocator.allocate_create(obj, dry_run)

    async def before_update(self, store: Any, obj: dict, old: dict, dry_run: bool = False) -> Any:
        """
        Carry or change allocations for an update (see the class docstring).
        """
        if self.allocator is None:
            return _nothing
        return await self.allocator.allocate_update(obj, old, dry_run)

    async def after_delete(self, store: Any, obj: dict) -> None:
        """
        Release a deleted Service's allocations.
        """
        if self.allocator is not None:
            await self.allocator.release(obj)

    def prepare_for_proxy(self, obj: dict, old: dict) -> None:
        """
        Writes to C{services/<name>/proxy} never change the Service: kapid has no endpoints to
        proxy to, so it answers as kube-apiserver does for a Service without ready endpoints.
        """
        name = (old.get("metadata") or {}).get("name") or ""
        raise service_unavailable(f'no endpoints available for service "{name}"')


async def _nothing() -> None:
    return None


def services_with_allocator(allocator: Any) -> Resource:
    """
    The services description with allocation by C{allocator} (a
    L{kapid.registry.allocator.ServiceAllocator}); register it in place of L{SERVICES}.
    """
    return attr.evolve(SERVICES, strategy=ServiceStrategy(allocator))


SERVICES = resource(
    "", "Service", "services", v1(_d("Service")),
    short_names=("svc",),
    categories=("all",),
    subresources=(
        Subresource("proxy", "ServiceProxyOptions", "", "v1", PROXY_VERBS),
        status("Service", ""),
    ),
    strategy=ServiceStrategy(),
    storage_path="services/specs",
    return_deleted_object=True,
)

ENDPOINTS = resource(
    "", "Endpoints", "endpoints", v1(_d("Endpoints")),
    short_names=("ep",),
    storage_path="services/endpoints",
    singular="endpoints",
    allow_create_on_update=True,
)

class ServiceAccountStrategy(GenericStrategy):
    """
    ServiceAccounts with the C{token} subresource (kube's C{TokenREST}): a C{TokenRequest} posted
    to C{serviceaccounts/<name>/token} is answered with a token signed by C{issuer} (a
    L{kapid.auth.tokens.TokenIssuer}), never stored.
    """

    def __init__(self, issuer: Any) -> None:
        super().__init__("", "ServiceAccount")
        self.issuer = issuer

    async def compute_subresource_create(
        self, subresource: str, store: Any, target: Any, obj: Any, user: Any
    ) -> dict:
        """
        Answer a C{TokenRequest} for the service account C{target.name} in C{target.namespace}:
        404 when it does not exist, 422 for an expiration under ten minutes (or over 2^32 s),
        else the request with C{status.token} and C{status.expirationTimestamp}.
        """
        from kapid.apimachinery import field as fieldmod
        from kapid.apimachinery import meta as metautil
        from kapid.apimachinery.status import bad_request, invalid, method_not_supported
        from kapid.auth import tokens

        if subresource != "token":
            raise method_not_supported("serviceaccounts", "create")
        if not isinstance(obj, dict):
            raise bad_request("the object provided is unrecognized (must be of type TokenRequest)")
        api_version = obj.get("apiVersion")
        if (obj.get("kind") or "TokenRequest") != "TokenRequest" or (
            api_version and api_version != "authentication.k8s.io/v1"
        ):
            raise bad_request(
                f"the object provided is unrecognized (must be of type TokenRequest): "
                f"{api_version or ''}, Kind={obj.get('kind') or ''}"
            )
        namespace, name = target.namespace, target.name
        gk = "TokenRequest"
        group = "authentication.k8s.io"
        meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        if meta.get("name") and meta["name"] != name:
            raise invalid(gk, name, [fieldmod.invalid(
                "metadata.name", meta["name"], "must match the service account name if specified")], group)
        if meta.get("namespace") and meta["namespace"] != namespace:
            raise invalid(gk, name, [fieldmod.invalid(
                "metadata.namespace", meta["namespace"],
                "must match the service account namespace if specified")], group)
        sa = await store.get(namespace, name, "v1")
        given = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        # kube's field order, its defaults (an hour; the server's audiences)
        spec = {
            "audiences": list(given.get("audiences") or self.issuer.audiences),
            "expirationSeconds": (
                tokens.DEFAULT_EXPIRATION if given.get("expirationSeconds") is None else given["expirationSeconds"]
            ),
            "boundObjectRef": given.get("boundObjectRef"),
        }
        seconds = spec["expirationSeconds"]
        errs = []
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise bad_request("spec.expirationSeconds must be an integer")
        if seconds < tokens.MIN_EXPIRATION:
            errs.append(fieldmod.invalid(
                "spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes"))
        if seconds > tokens.MAX_EXPIRATION:
            errs.append(fieldmod.invalid(
                "spec.expirationSeconds", seconds, "may not specify a duration larger than 2^32 seconds"))
        if errs:
            raise invalid(gk, "", errs, group)
        limit = getattr(self.issuer, "max_expiration", 0)
        if limit and seconds > limit:  # --service-account-max-token-expiration
            spec["expirationSeconds"] = seconds = limit
        bound, node = await self._bound_object(store, namespace, name, spec.get("boundObjectRef"))
        now = store.clock.seconds()
        sa_meta = sa.get("metadata") or {}
        issued = self.issuer.issue(
            namespace, name, sa_meta.get("uid", ""), spec["audiences"], seconds, bound, now=now, node=node
        )
        out_meta = {"name": name, "namespace": namespace, "creationTimestamp": metautil.timestamp(now)}
        return {
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": out_meta,
            "spec": spec,
            "status": {"token": issued.token, "expirationTimestamp": metautil.timestamp(issued.expiration)},
        }

    async def _bound_object(self, store: Any, namespace: str, sa_name: str, ref: Any) -> tuple[Optional[dict], Optional[dict]]:
        """
        kube's bound object checks: the referenced Pod or Secret exists (with the uid given), a
        Pod runs as this service account; answers the bound object and, for a Pod on a node that
        exists, the node (C{{"name", "uid"}}) for the claims.
        """
        from kapid.apimachinery import field as fieldmod
        from kapid.apimachinery.status import StatusError, bad_request, conflict, invalid

        if not ref:
            return None, None
        kind = ref.get("kind") or ""
        plural = {"Pod": "pods", "Secret": "secrets"}.get(kind)
        if plural is None or (ref.get("apiVersion") or "v1") != "v1":
            raise invalid("TokenRequest", "", [fieldmod.not_supported(
                "spec.boundObjectRef.kind", kind, ["Pod", "Secret"])], "authentication.k8s.io")
        link = getattr(store, "link", None)
        res = link.registry.lookup("", "v1", plural) if link is not None else None
        if res is None:
            return None, None
        target = await link.store_for(res).get(namespace, ref.get("name") or "", "v1")
        uid = (target.get("metadata") or {}).get("uid", "")
        if ref.get("uid") and ref["uid"] != uid:
            # kube's NewConflict over {group authentication.k8s.io, resource TokenRequest}
            raise conflict(
                "TokenRequest", ref.get("name") or "",
                f"the UID in the bound object reference ({ref['uid']}) does not match the UID in "
                "record. The object might have been deleted and then recreated",
                "authentication.k8s.io",
            )
        node = None
        if kind == "Pod":
            spec = target.get("spec") or {}
            if (spec.get("serviceAccountName") or "default") != sa_name:
                raise bad_request(
                    f'cannot bind token for serviceaccount "{sa_name}" to pod running with different '
                    "serviceaccount name."
                )
            node_name = spec.get("nodeName") or ""
            nodes = link.registry.lookup("", "v1", "nodes") if node_name else None
            if nodes is not None:
                try:
                    found = await link.store_for(nodes).get("", node_name, "v1")
                    node = {"name": node_name, "uid": (found.get("metadata") or {}).get("uid", "")}
                except StatusError as e:
                    if e.code != 404:  # a node that is gone (or not there yet) is left out
                        raise
        return {"kind": kind, "name": ref.get("name") or "", "uid": uid}, node


def service_accounts_with_issuer(issuer: Any) -> Resource:
    """
    The serviceaccounts description whose C{token} subresource issues tokens with C{issuer} (a
    L{kapid.auth.tokens.TokenIssuer}); register it in place of L{SERVICE_ACCOUNTS}.
    """
    return attr.evolve(SERVICE_ACCOUNTS, strategy=ServiceAccountStrategy(issuer))


SERVICE_ACCOUNTS = resource(
    "", "ServiceAccount", "serviceaccounts", v1(_d("ServiceAccount")),
    short_names=("sa",),
    subresources=(Subresource("token", "TokenRequest", "authentication.k8s.io", "v1", ("create",)),),
    return_deleted_object=True,
)

REPLICATION_CONTROLLERS = resource(
    "", "ReplicationController", "replicationcontrollers", v1(_d("ReplicationController")),
    short_names=("rc",),
    categories=("all",),
    subresources=(
        Subresource("scale", "Scale", "autoscaling", "v1"),
        status("ReplicationController", ""),
    ),
    storage_path="controllers",
    field_selectors={"status.replicas": field("status", "replicas")},
    tracks_generation=True,
    reset_status={"replicas": 0},
)

NODES = resource(
    "", "Node", "nodes", v1(_d("Node")),
    namespaced=False,
    short_names=("no",),
    subresources=(
        Subresource("proxy", "NodeProxyOptions", "", "v1", PROXY_VERBS),
        status("Node", ""),
    ),
    strategy=NodeStrategy(),
    storage_path="minions",
    field_selectors={"spec.unschedulable": lambda o: "true" if (o.get("spec") or {}).get("unschedulable") else "false"},
)

PERSISTENT_VOLUMES = resource(
    "", "PersistentVolume", "persistentvolumes", v1(_d("PersistentVolume")),
    namespaced=False,
    short_names=("pv",),
    subresources=(status("PersistentVolume", ""),),
    return_deleted_object=True,
    reset_status={"phase": "Pending"},
)

PERSISTENT_VOLUME_CLAIMS = resource(
    "", "PersistentVolumeClaim", "persistentvolumeclaims", v1(_d("PersistentVolumeClaim")),
    short_names=("pvc",),
    subresources=(status("PersistentVolumeClaim", ""),),
    return_deleted_object=True,
    reset_status={"phase": "Pending"},
)

LIMIT_RANGES = resource(
    "", "LimitRange", "limitranges", v1(_d("LimitRange")),
    short_names=("limits",),
    allow_create_on_update=True,
)

RESOURCE_QUOTAS = resource(
    "", "ResourceQuota", "resourcequotas", v1(_d("ResourceQuota")),
    short_names=("quota",),
    subresources=(status("ResourceQuota", ""),),
    return_deleted_object=True,
    reset_status={},
)

POD_TEMPLATES = resource(
    "", "PodTemplate", "podtemplates", v1(_d("PodTemplate")),
    return_deleted_object=True,
)

RESOURCES = [
    SERVICES,
    ENDPOINTS,
    SERVICE_ACCOUNTS,
    REPLICATION_CONTROLLERS,
    NODES,
    PERSISTENT_VOLUMES,
    PERSISTENT_VOLUME_CLAIMS,
    LIMIT_RANGES,
    RESOURCE_QUOTAS,
    POD_TEMPLATES,
]
