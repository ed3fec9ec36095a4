"""
flowcontrol.apiserver.k8s.io/v1 resources: flowschemas and prioritylevelconfigurations (+status),
with kube's v1 defaults, the basic rules of kube's validation, kubectl's Tables, and kube's
mandatory and suggested bootstrap configuration (L{ensure_bootstrap}), created at start by the
C{priority-and-fairness-config-producer} post-start hook (L{post_start_hook}).

kapid stores and serves API Priority and Fairness objects; it does not enforce them (requests are
limited by C{--max-requests-inflight} / C{--max-mutating-requests-inflight}).
"""

from __future__ import annotations

import copy
from typing import Any, Optional

import attr
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kapid.apimachinery import field
from kapid.apimachinery.field import FieldError
from kapid.apimachinery.status import StatusError
from kapid.registry.builtin._helpers import resource, status, v1
from kapid.registry.description import TableColumn
from kapid.registry.strategy import GenericStrategy
from kapid.registry.tables import _doc, age_column

log = Logger()

GROUP = "flowcontrol.apiserver.k8s.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"

#: The annotation kube's bootstrap ensurer reads: C{"true"} lets it keep the spec at its default.
AUTO_UPDATE_ANNOTATION = "apf.kubernetes.io/autoupdate-spec"

_D = "io.k8s.api.flowcontrol.v1."


# ---------------------------------------------------------------------------------------------------
# defaults and validation


def _dict(obj: dict, key: str) -> dict:
    v = obj.get(key)
    return v if isinstance(v, dict) else {}


def default_flow_schema(obj: dict) -> None:
    """
    kube's v1 defaults: C{matchingPrecedence} 1000 when unset or 0.
    """
    spec = obj.get("spec")
    if isinstance(spec, dict) and not spec.get("matchingPrecedence"):
        spec["matchingPrecedence"] = 1000


def default_priority_level(obj: dict) -> None:
    """
    kube's v1 defaults: an exempt level's shares and lendable percent 0; a limited level's
    nominal shares 30 and lendable percent 0; queuing 64 queues, hand size 8, queue length 50.
    """
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    exempt = spec.get("exempt")
    if isinstance(exempt, dict):
        exempt.setdefault("nominalConcurrencyShares", 0)
        exempt.setdefault("lendablePercent", 0)
    limited = spec.get("limited")
    if isinstance(limited, dict):
        if limited.get("nominalConcurrencyShares") is None:
            limited["nominalConcurrencyShares"] = 30
        if limited.get("lendablePercent") is None:
            limited["lendablePercent"] = 0
        queuing = _dict(limited, "limitResponse").get("queuing")
        if isinstance(queuing, dict):
            for key, value in (("queues", 64), ("handSize", 8), ("queueLengthLimit", 50)):
                if not queuing.get(key):
                    queuing[key] = value


def validate_flow_schema(obj: dict) -> list[FieldError]:
    """
    The first rules of kube's C{ValidateFlowSchema}: a priority level name, a matching precedence
    in [1, 10000], a known distinguisher method.
    """
    errs: list[FieldError] = []
    spec = _dict(obj, "spec")
    if not _dict(spec, "priorityLevelConfiguration").get("name"):
        errs.append(field.required("spec.priorityLevelConfiguration.name", "must reference a priority level"))
    mp = spec.get("matchingPrecedence")
    if isinstance(mp, int) and not 1 <= mp <= 10000:
        errs.append(field.invalid("spec.matchingPrecedence", mp, "must be between 1 and 10000 inclusively"))
    dm = spec.get("distinguisherMethod")
    if isinstance(dm, dict) and dm.get("type") not in ("ByUser", "ByNamespace"):
        errs.append(field.not_supported("spec.distinguisherMethod.type", dm.get("type") or "", ("ByUser", "ByNamespace")))
    return errs


def validate_priority_level(obj: dict) -> list[FieldError]:
    """
    The first rules of kube's C{ValidatePriorityLevelConfiguration}: the type is C{Exempt} or
    C{Limited}, and a limited level says how it is limited.
    """
    errs: list[FieldError] = []
    spec = _dict(obj, "spec")
    kind = spec.get("type") or ""
    if kind not in ("Exempt", "Limited"):
        errs.append(field.not_supported("spec.type", kind, ("Exempt", "Limited")))
    elif kind == "Limited" and not isinstance(spec.get("limited"), dict):
        errs.append(field.required("spec.limited", "must not be empty when type is Limited"))
    elif kind == "Exempt" and spec.get("limited") is not None:
        errs.append(field.forbidden("spec.limited", "must be nil if the type is not Limited"))
    return errs


class _FlowControlStrategy(GenericStrategy):
    """
    The generic strategy with kube's v1 defaults and a validator for the kind.
    """

    def __init__(self, kind: str, defaulter: Any, validator: Any) -> None:
        super().__init__(GROUP, kind, has_status=True, tracks_generation=True, reset_status={})
        self._defaulter = defaulter
        self._validator = validator

    def default(self, version: str, obj: dict) -> None:
        self._defaulter(obj)

    def validate(self, obj: dict) -> list[FieldError]:
        return self._validator(obj)

    def validate_update(self, obj: dict, old: dict) -> list[FieldError]:
        return self._validator(obj)


# ---------------------------------------------------------------------------------------------------
# tables (kube's printers)


def _none_or(value: Any) -> Any:
    return "<none>" if value is None else value


def _fs_missing_pl(obj: dict, now: Optional[float] = None) -> str:
    for c in (_dict(obj, "status").get("conditions") or []):
        if isinstance(c, dict) and c.get("type") == "Dangling":
            return c.get("status") or ""
    return "?"


def _flow_schema_columns() -> tuple[TableColumn, ...]:
    spec = lambda o: _dict(o, "spec")  # noqa: E731
    return (
        TableColumn("PriorityLevel", "string", lambda o, now=None: _dict(spec(o), "priorityLevelConfiguration").get("name") or "",
                    description=_doc(_D + "PriorityLevelConfigurationReference", "name")),
        TableColumn("MatchingPrecedence", "string", lambda o, now=None: spec(o).get("matchingPrecedence") or 0,
                    description=_doc(_D + "FlowSchemaSpec", "matchingPrecedence")),
        TableColumn("DistinguisherMethod", "string",
                    lambda o, now=None: _dict(spec(o), "distinguisherMethod").get("type") or "<none>",
                    description=_doc(_D + "FlowSchemaSpec", "distinguisherMethod")),
        age_column(),
        TableColumn("MissingPL", "string", _fs_missing_pl,
                    description="references a broken or non-existent PriorityLevelConfiguration"),
    )


def _queuing(obj: dict) -> Optional[dict]:
    q = _dict(_dict(_dict(obj, "spec"), "limited"), "limitResponse").get("queuing")
    return q if isinstance(q, dict) else None


def _plc_columns() -> tuple[TableColumn, ...]:
    def shares(o: dict, now: Optional[float] = None) -> Any:
        limited = _dict(o, "spec").get("limited")
        return _none_or(limited.get("nominalConcurrencyShares")) if isinstance(limited, dict) else "<none>"

    def q(key: str) -> Any:
        def cell(o: dict, now: Optional[float] = None) -> Any:
            queuing = _queuing(o)
            return "<none>" if queuing is None else _none_or(queuing.get(key))

        return cell

    return (
        TableColumn("Type", "string", lambda o, now=None: _dict(o, "spec").get("type") or "",
                    description=_doc(_D + "PriorityLevelConfigurationSpec", "type")),
        TableColumn("NominalConcurrencyShares", "string", shares,
                    description=_doc(_D + "LimitedPriorityLevelConfiguration", "nominalConcurrencyShares")),
        TableColumn("Queues", "string", q("queues"), description=_doc(_D + "QueuingConfiguration", "queues")),
        TableColumn("HandSize", "string", q("handSize"), description=_doc(_D + "QueuingConfiguration", "handSize")),
        TableColumn("QueueLengthLimit", "string", q("queueLengthLimit"),
                    description=_doc(_D + "QueuingConfiguration", "queueLengthLimit")),
        age_column(),
    )


FLOW_SCHEMAS = attr.evolve(
    resource(
        GROUP, "FlowSchema", "flowschemas", v1(_D + "FlowSchema"),
        namespaced=False,
        subresources=(status("FlowSchema", GROUP),),
        strategy=_FlowControlStrategy("FlowSchema", default_flow_schema, validate_flow_schema),
    ),
    table_columns=_flow_schema_columns(),
)

PRIORITY_LEVEL_CONFIGURATIONS = attr.evolve(
    resource(
        GROUP, "PriorityLevelConfiguration", "prioritylevelconfigurations", v1(_D + "PriorityLevelConfiguration"),
        namespaced=False,
        subresources=(status("PriorityLevelConfiguration", GROUP),),
        strategy=_FlowControlStrategy("PriorityLevelConfiguration", default_priority_level, validate_priority_level),
    ),
    table_columns=_plc_columns(),
)

RESOURCES = [FLOW_SCHEMAS, PRIORITY_LEVEL_CONFIGURATIONS]


# ---------------------------------------------------------------------------------------------------
# kube's bootstrap configuration

_ALL_RESOURCES = {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "clusterScope": True, "namespaces": ["*"]}
_ALL_NON_RESOURCES = {"verbs": ["*"], "nonResourceURLs": ["*"]}
_EVERYONE = ("system:unauthenticated", "system:authenticated")


def _groups(*names: str) -> list[dict]:
    return [{"kind": "Group", "group": {"name": n}} for n in names]


def _users(*names: str) -> list[dict]:
    return [{"kind": "User", "user": {"name": n}} for n in names]


def _kube_system_sas(*names: str) -> list[dict]:
    return [{"kind": "ServiceAccount", "serviceAccount": {"name": n, "namespace": "kube-system"}} for n in names]


def _rule(verbs: list[str], groups: list[str], resources: list[str], cluster_scope: bool = False) -> dict:
    out: dict[str, Any] = {"verbs": verbs, "apiGroups": groups, "resources": resources}
    if cluster_scope:
        out["clusterScope"] = True
    out["namespaces"] = ["*"]
    return out


def _meta(name: str) -> dict:
    return {"name": name, "annotations": {AUTO_UPDATE_ANNOTATION: "true"}}


def _fs(name: str, level: str, precedence: int, method: str, rules: dict) -> dict:
    spec: dict[str, Any] = {"priorityLevelConfiguration": {"name": level}, "matchingPrecedence": precedence}
    if method:
        spec["distinguisherMethod"] = {"type": method}
    spec["rules"] = [rules]
    return {"apiVersion": API_VERSION, "kind": "FlowSchema", "metadata": _meta(name), "spec": spec}


def _fs_all(name: str, level: str, precedence: int, method: str, subjects: list[dict]) -> dict:
    return _fs(name, level, precedence, method, {
        "subjects": subjects, "resourceRules": [dict(_ALL_RESOURCES)], "nonResourceRules": [dict(_ALL_NON_RESOURCES)],
    })


def _limited(name: str, shares: int, lendable: int, queues: int = 0, hand: int = 0, length: int = 0) -> dict:
    response: dict[str, Any] = {"type": "Reject"}
    if queues:
        response = {"type": "Queue", "queuing": {"queues": queues, "handSize": hand, "queueLengthLimit": length}}
    return {
        "apiVersion": API_VERSION, "kind": "PriorityLevelConfiguration", "metadata": _meta(name),
        "spec": {"type": "Limited", "limited": {
            "nominalConcurrencyShares": shares, "lendablePercent": lendable, "limitResponse": response,
        }},
    }


def mandatory_priority_levels() -> list[dict]:
    """
    kube's mandatory PriorityLevelConfigurations: C{catch-all} and C{exempt}.
    """
    exempt = {
        "apiVersion": API_VERSION, "kind": "PriorityLevelConfiguration", "metadata": _meta("exempt"),
        "spec": {"type": "Exempt", "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0}},
    }
    return [_limited("catch-all", 5, 0), exempt]


def mandatory_flow_schemas() -> list[dict]:
    """
    kube's mandatory FlowSchemas: C{exempt} (system:masters) and C{catch-all}.
    """
    return [
        _fs_all("exempt", "exempt", 1, "", _groups("system:masters")),
        _fs_all("catch-all", "catch-all", 10000, "ByUser", _groups(*_EVERYONE)),
    ]


def suggested_priority_levels() -> list[dict]:
    """
    kube's suggested PriorityLevelConfigurations.
    """
    return [
        _limited("system", 30, 33, 64, 6, 50),
        _limited("node-high", 40, 25, 64, 6, 50),
        _limited("leader-election", 10, 0, 16, 4, 50),
        _limited("workload-high", 40, 50, 128, 6, 50),
        _limited("workload-low", 100, 90, 128, 6, 50),
        _limited("global-default", 20, 50, 128, 6, 50),
    ]


def suggested_flow_schemas() -> list[dict]:
    """
    kube's suggested FlowSchemas.
    """
    get_create_update = ["get", "create", "update"]
    return [
        _fs_all("system-nodes", "system", 500, "ByUser", _groups("system:nodes")),
        _fs("system-node-high", "node-high", 400, "ByUser", {
            "subjects": _groups("system:nodes"),
            "resourceRules": [
                _rule(["*"], [""], ["nodes", "nodes/status"], True),
                _rule(["*"], ["coordination.k8s.io"], ["leases"]),
            ],
        }),
        _fs("probes", "exempt", 2, "", {
            "subjects": _groups(*_EVERYONE),
            "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}],
        }),
        _fs("system-leader-election", "leader-election", 100, "ByUser", {
            "subjects": _users("system:kube-controller-manager", "system:kube-scheduler") + _kube_system_sas("*"),
            "resourceRules": [_rule(get_create_update, ["coordination.k8s.io"], ["leases"])],
        }),
        _fs("workload-leader-election", "leader-election", 200, "ByUser", {
            "subjects": _kube_system_sas("*"),
            "resourceRules": [
                _rule(get_create_update, [""], ["endpoints", "configmaps"]),
                _rule(get_create_update, ["coordination.k8s.io"], ["leases"]),
            ],
        }),
        _fs("endpoint-controller", "workload-high", 150, "ByUser", {
            "subjects": _users("system:kube-controller-manager")
            + _kube_system_sas("endpoint-controller", "endpointslicemirroring-controller"),
            "resourceRules": [_rule(get_create_update, [""], ["endpoints"])],
        }),
        _fs_all("kube-controller-manager", "workload-high", 800, "ByNamespace", _users("system:kube-controller-manager")),
        _fs_all("kube-scheduler", "workload-high", 800, "ByNamespace", _users("system:kube-scheduler")),
        _fs_all("kube-system-service-accounts", "workload-high", 900, "ByNamespace", _kube_system_sas("*")),
        _fs_all("service-accounts", "workload-low", 9000, "ByUser", _groups("system:serviceaccounts")),
        _fs_all("global-default", "global-default", 9900, "ByUser", _groups(*_EVERYONE)),
    ]


async def _ensure(store: Any, wanted: dict, now: str) -> bool:
    """
    Create C{wanted} when missing; bring the spec of an existing object whose auto-update
    annotation is C{"true"} back to C{wanted}'s. True when something was written. Idempotent:
    several servers sharing storage may run it at once (a 409 means another one wrote first).
    """
    name = wanted["metadata"]["name"]
    try:
        current = await store.get("", name, VERSION)
    except StatusError as e:
        if e.code != 404:
            raise
        try:
            await store.create("", copy.deepcopy(wanted), VERSION)
        except StatusError as e2:
            if e2.code == 409:
                return False
            raise
        return True
    annotations = (current.get("metadata") or {}).get("annotations") or {}
    if annotations.get(AUTO_UPDATE_ANNOTATION) != "true" or current.get("spec") == wanted["spec"]:
        return False

    def updater(cur: Optional[dict]) -> dict:
        if cur is None:
            raise StatusError(404, "NotFound", f"{name} is gone")
        new = copy.deepcopy(cur)
        new["spec"] = copy.deepcopy(wanted["spec"])
        return new

    try:
        await store.update("", name, updater, VERSION)
    except StatusError as e:
        if e.code in (404, 409):
            return False
        raise
    return True


async def _mark_dangling(fs_store: Any, levels: set[str], now: str) -> None:
    """
    kube's APF controller's C{Dangling} condition on every FlowSchema (False when its priority
    level exists), written only when it changes.
    """
    from kapid.storage.interfaces import ListOptions

    res = await fs_store.storage.get_list(fs_store.list_key(""), ListOptions())
    for fs in res["items"]:
        name = fs["metadata"]["name"]
        level = _dict(_dict(fs, "spec"), "priorityLevelConfiguration").get("name") or ""
        if level in levels:
            want = {"type": "Dangling", "status": "False", "reason": "Found",
                    "message": f'This FlowSchema references the PriorityLevelConfiguration object named "{level}" and it exists'}
        else:
            want = {"type": "Dangling", "status": "True", "reason": "NotFound",
                    "message": f'This FlowSchema references the PriorityLevelConfiguration object named "{level}" but there is no such object'}
        have = next((c for c in _dict(fs, "status").get("conditions") or [] if c.get("type") == "Dangling"), None)
        if have is not None and all(have.get(k) == v for k, v in want.items()):
            continue

        def updater(cur: Optional[dict], want: dict = want) -> dict:
            if cur is None:
                raise StatusError(404, "NotFound", "gone")
            new = copy.deepcopy(cur)
            conds = [c for c in _dict(new, "status").get("conditions") or [] if c.get("type") != "Dangling"]
            conds.append(dict(want, lastTransitionTime=now))
            new["status"] = {"conditions": conds}
            return new

        try:
            await fs_store.update("", name, updater, VERSION, subresource="status")
        except StatusError as e:
            if e.code not in (404, 409):
                raise


async def ensure_bootstrap(fs_store: Any, plc_store: Any) -> None:
    """
    kube's APF bootstrap: the mandatory and suggested priority levels and flow schemas exist (and
    those still marked for auto-update carry kube's spec); every FlowSchema's C{Dangling}
    condition says whether its priority level exists.
    """
    now = fs_store.now()
    for obj in mandatory_priority_levels() + suggested_priority_levels():
        await _ensure(plc_store, obj, now)
    for obj in mandatory_flow_schemas() + suggested_flow_schemas():
        await _ensure(fs_store, obj, now)
    from kapid.storage.interfaces import ListOptions

    res = await plc_store.storage.get_list(plc_store.list_key(""), ListOptions())
    await _mark_dangling(fs_store, {o["metadata"]["name"] for o in res["items"]}, now)


def post_start_hook(service: Any) -> Deferred:
    """
    The daemon's C{priority-and-fairness-config-producer} hook: L{ensure_bootstrap} over the
    stores of C{service.resource_link} (nothing when it serves no flowcontrol resources).
    """
    async def run() -> None:
        link = getattr(service, "resource_link", None)
        if link is None:
            return
        fs = link.registry.lookup(GROUP, VERSION, "flowschemas")
        plc = link.registry.lookup(GROUP, VERSION, "prioritylevelconfigurations")
        if fs is None or plc is None:
            return
        await ensure_bootstrap(link.store_for(fs), link.store_for(plc))

    return Deferred.fromCoroutine(run())
