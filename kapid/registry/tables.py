"""
kube's server-side printing columns for the built-in kinds (k8s.io/kubernetes
pkg/printers/internalversion/printers.go): column names, types, formats, priorities (1 = C{-o wide})
and descriptions, and cells computing the same strings kube prints (C{1/1}, C{Running}, C{<none>},
C{80/TCP,443/TCP}, C{5m}).

L{columns_for} returns the columns I{after} the leading C{Name} column that the table convertor adds
(L{kapid.apimachinery.table.TableConvertor}); the C{Age} column sits where kube puts it (usually
last before the wide ones). Events are kube's exception: their C{Name} is the last, wide column,
so their list carries a C{Name} column (format C{name}) at that place; a convertor should then not
add its own.

Cells are C{cell(obj, now=None)}: C{now} is the current time in seconds since the epoch (the wall
clock when omitted), used by ages and durations.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Callable, Optional

from kapid.apimachinery.meta import parse_timestamp
from kapid.apimachinery.table import human_duration
from kapid.registry.description import TableColumn

_Obj = dict[str, Any]


# ---------------------------------------------------------------------------------------------------
# kube's formatting helpers


def since(timestamp: Optional[str], now: Optional[float] = None) -> str:
    """
    kube's C{translateTimestampSince}: the human age of an RFC 3339 time, C{<unknown>} when unset.
    """
    ts = parse_timestamp(timestamp or "") if timestamp else None
    if ts is None:
        return "<unknown>"
    return human_duration((time.time() if now is None else now) - ts)


def format_labels(labels: Optional[dict]) -> str:
    """
    kube's C{labels.FormatLabels}: C{a=b,c=d} sorted by key, C{<none>} when empty.
    """
    if not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def selector_string(sel: Optional[dict]) -> str:
    """
    kube's C{labels.Selector.String()} of a C{metav1.LabelSelector}: C{app=x,tier in (a,b),!key}
    (requirements sorted by key; C{""} when empty).
    """
    if not sel:
        return ""
    reqs: list[tuple[str, str]] = []
    for k, v in (sel.get("matchLabels") or {}).items():
        reqs.append((k, f"{k}={v}"))
    for e in sel.get("matchExpressions") or []:
        k, op, vals = e.get("key", ""), e.get("operator"), sorted(e.get("values") or [])
        if op == "In":
            reqs.append((k, f"{k} in ({','.join(vals)})"))
        elif op == "NotIn":
            reqs.append((k, f"{k} notin ({','.join(vals)})"))
        elif op == "Exists":
            reqs.append((k, k))
        elif op == "DoesNotExist":
            reqs.append((k, f"!{k}"))
    reqs.sort(key=lambda r: r[0])
    return ",".join(r[1] for r in reqs)


def format_label_selector(sel: Optional[dict]) -> str:
    """
    kube's C{metav1.FormatLabelSelector}: the selector string, C{<none>} when empty.
    """
    s = selector_string(sel)
    return s or "<none>"


def _containers_cells(spec: Optional[dict]) -> tuple[str, str]:
    containers = (spec or {}).get("containers") or []
    return (
        ",".join(c.get("name", "") for c in containers),
        ",".join(c.get("image", "") for c in containers),
    )


def _template_spec(obj: _Obj) -> dict:
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def _status(obj: _Obj) -> dict:
    return obj.get("status") or {}


def _spec(obj: _Obj) -> dict:
    return obj.get("spec") or {}


def load_balancer_string(lb: Optional[dict]) -> str:
    """
    kube's C{loadBalancerStatusStringer}: ingress IPs and hostnames joined by commas.
    """
    out = []
    for ing in (lb or {}).get("ingress") or []:
        if ing.get("ip"):
            out.append(ing["ip"])
        elif ing.get("hostname"):
            out.append(ing["hostname"])
    return ",".join(out)


def access_modes_string(modes: Optional[list]) -> str:
    """
    kube's C{GetAccessModesAsString}: C{RWO,ROX,RWX,RWOP}.
    """
    modes = modes or []
    out = []
    for mode, short in (
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ):
        if mode in modes:
            out.append(short)
    return ",".join(out)


# ---------------------------------------------------------------------------------------------------
# descriptions (kube takes them from the types' documentation)


@functools.lru_cache(maxsize=None)
def _doc(definition: str, prop: str) -> str:
    try:
        from kapid.apimachinery.schema import load_definitions

        node = load_definitions()[definition]["properties"][prop]
        return node.get("description") or ""
    except Exception:
        return ""


def _meta_doc(prop: str) -> str:
    return _doc("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", prop)


def _col(
    name: str,
    typ: str,
    cell: Callable[..., Any],
    description: str = "",
    priority: int = 0,
    fmt: str = "",
) -> TableColumn:
    return TableColumn(
        name=name, type=typ, cell=cell, format=fmt, description=description, priority=priority
    )


def _age_cell(obj: _Obj, now: Optional[float] = None) -> str:
    return since((obj.get("metadata") or {}).get("creationTimestamp"), now)


def age_column() -> TableColumn:
    """
    kube's C{Age} column (the object's creationTimestamp as a human duration).
    """
    return _col("Age", "string", _age_cell, _meta_doc("creationTimestamp"))


def _name_cell(obj: _Obj, now: Optional[float] = None) -> str:
    return (obj.get("metadata") or {}).get("name") or ""


def name_column(priority: int = 0) -> TableColumn:
    """
    kube's C{Name} column (format C{name}).
    """
    return _col("Name", "string", _name_cell, _meta_doc("name"), priority, "name")


def _created_at_cell(obj: _Obj, now: Optional[float] = None) -> str:
    return (obj.get("metadata") or {}).get("creationTimestamp") or ""


def _created_at() -> TableColumn:
    return _col("Created At", "date", _created_at_cell, _meta_doc("creationTimestamp"))


def _wide_containers(get_spec: Callable[[_Obj], dict]) -> tuple[TableColumn, TableColumn]:
    return (
        _col(
            "Containers",
            "string",
            lambda o, now=None: _containers_cells(get_spec(o))[0],
            "Names of each container in the template.",
            1,
        ),
        _col(
            "Images",
            "string",
            lambda o, now=None: _containers_cells(get_spec(o))[1],
            "Images referenced by each container in the template.",
            1,
        ),
    )


def _selector_col(get: Callable[[_Obj], str]) -> TableColumn:
    return _col("Selector", "string", lambda o, now=None: get(o), "Label selector", 1)


# ---------------------------------------------------------------------------------------------------
# pods


def _is_restartable_init(c: Optional[dict]) -> bool:
    return bool(c) and c.get("restartPolicy") == "Always"  # type: ignore[union-attr]


def pod_row(pod: _Obj, now: Optional[float] = None) -> dict[str, str]:
    """
    kube's C{printPod}: C{ready}, C{status}, C{restarts}, C{ip}, C{node}, C{nominated},
    C{gates} cells.
    """
    spec, status = _spec(pod), _status(pod)
    containers = spec.get("containers") or []
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(containers) + sum(1 for c in init_specs.values() if _is_restartable_init(c))
    ready = 0
    restarts = 0
    restartable_restarts = 0
    last_restart: Optional[float] = None
    last_restartable: Optional[float] = None
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    def finished(cs: dict) -> Optional[float]:
        term = ((cs.get("lastState") or {}).get("terminated")) or None
        if term and term.get("finishedAt"):
            return parse_timestamp(term["finishedAt"])
        return None

    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        restarts += cs.get("restartCount") or 0
        f = finished(cs)
        if f is not None and (last_restart is None or f > last_restart):
            last_restart = f
        restartable = _is_restartable_init(init_specs.get(cs.get("name")))
        if restartable:
            restartable_restarts += cs.get("restartCount") or 0
            if f is not None and (last_restartable is None or f > last_restartable):
                last_restartable = f
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting")
        if term is not None and term.get("exitCode", 0) == 0:
            continue
        if restartable and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if term is not None:
            if not term.get("reason"):
                if term.get("signal"):
                    reason = f"Init:Signal:{term['signal']}"
                else:
                    reason = f"Init:ExitCode:{term.get('exitCode', 0)}"
            else:
                reason = "Init:" + term["reason"]
        elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        initializing = True
        break
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    if not initializing or initialized:
        restarts = restartable_restarts
        last_restart = last_restartable
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += cs.get("restartCount") or 0
            f = finished(cs)
            if f is not None and (last_restart is None or f > last_restart):
                last_restart = f
            state = cs.get("state") or {}
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif term is not None and term.get("reason"):
                reason = term["reason"]
            elif term is not None:
                if term.get("signal"):
                    reason = f"Signal:{term['signal']}"
                else:
                    reason = f"ExitCode:{term.get('exitCode', 0)}"
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            pod_ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            )
            reason = "Running" if pod_ready else "NotReady"
    deleting = (pod.get("metadata") or {}).get("deletionTimestamp")
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_str = str(restarts)
    if restarts and last_restart is not None:
        ago = human_duration((time.time() if now is None else now) - last_restart)
        restarts_str = f"{restarts} ({ago} ago)"
    ips = status.get("podIPs") or []
    ip = ips[0].get("ip") if ips else ""
    gates = spec.get("readinessGates") or []
    gates_str = "<none>"
    if gates:
        true = 0
        conds = status.get("conditions") or []
        for g in gates:
            for c in conds:
                if c.get("type") == g.get("conditionType"):
                    if c.get("status") == "True":
                        true += 1
                    break
        gates_str = f"{true}/{len(gates)}"
    return {
        "ready": f"{ready}/{total}",
        "status": reason,
        "restarts": restarts_str,
        "ip": ip or "<none>",
        "node": spec.get("nodeName") or "<none>",
        "nominated": status.get("nominatedNodeName") or "<none>",
        "gates": gates_str,
    }


def _pod_cell(key: str) -> Callable[..., str]:
    return lambda obj, now=None: pod_row(obj, now)[key]


def _pods() -> tuple[TableColumn, ...]:
    return (
        _col("Ready", "string", _pod_cell("ready"), "The aggregate readiness state of this pod for accepting traffic."),
        _col("Status", "string", _pod_cell("status"), "The aggregate status of the containers in this pod."),
        _col(
            "Restarts",
            "string",
            _pod_cell("restarts"),
            "The number of times the containers in this pod have been restarted and when the last "
            "container in this pod has restarted.",
        ),
        age_column(),
        _col("IP", "string", _pod_cell("ip"), _doc("io.k8s.api.core.v1.PodStatus", "podIP"), 1),
        _col("Node", "string", _pod_cell("node"), _doc("io.k8s.api.core.v1.PodSpec", "nodeName"), 1),
        _col(
            "Nominated Node",
            "string",
            _pod_cell("nominated"),
            _doc("io.k8s.api.core.v1.PodStatus", "nominatedNodeName"),
            1,
        ),
        _col(
            "Readiness Gates",
            "string",
            _pod_cell("gates"),
            _doc("io.k8s.api.core.v1.PodSpec", "readinessGates"),
            1,
        ),
    )


def _pod_templates() -> tuple[TableColumn, ...]:
    def spec(o: _Obj) -> dict:
        return ((o.get("template") or {}).get("spec")) or {}

    return (
        _col(
            "Containers",
            "string",
            lambda o, now=None: _containers_cells(spec(o))[0],
            "Names of each container in the template.",
        ),
        _col(
            "Images",
            "string",
            lambda o, now=None: _containers_cells(spec(o))[1],
            "Images referenced by each container in the template.",
        ),
        _col(
            "Pod Labels",
            "string",
            lambda o, now=None: format_labels(((o.get("template") or {}).get("metadata") or {}).get("labels")),
            "The labels for the pod template.",
        ),
    )


# ---------------------------------------------------------------------------------------------------
# workloads


def _int(v: Any) -> int:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0


def _deployments() -> tuple[TableColumn, ...]:
    return (
        _col(
            "Ready",
            "string",
            lambda o, now=None: f"{_int(_status(o).get('readyReplicas'))}/{_int(_spec(o).get('replicas'))}",
            "Number of the pod with ready state",
        ),
        _col(
            "Up-to-date",
            "integer",
            lambda o, now=None: _int(_status(o).get("updatedReplicas")),
            _doc("io.k8s.api.apps.v1.DeploymentStatus", "updatedReplicas"),
        ),
        _col(
            "Available",
            "integer",
            lambda o, now=None: _int(_status(o).get("availableReplicas")),
            _doc("io.k8s.api.apps.v1.DeploymentStatus", "availableReplicas"),
        ),
        age_column(),
        *_wide_containers(_template_spec),
        _selector_col(lambda o: selector_string(_spec(o).get("selector"))),
    )


def _replica_sets(status_kind: str = "io.k8s.api.apps.v1.ReplicaSetStatus") -> tuple[TableColumn, ...]:
    return (
        _col(
            "Desired",
            "integer",
            lambda o, now=None: _int(_spec(o).get("replicas")),
            "Number of desired pods. This is a pointer to distinguish between explicit zero and "
            "not specified. Defaults to 1. More info: "
            "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller",
        ),
        _col(
            "Current",
            "integer",
            lambda o, now=None: _int(_status(o).get("replicas")),
            _doc(status_kind, "replicas"),
        ),
        _col(
            "Ready",
            "integer",
            lambda o, now=None: _int(_status(o).get("readyReplicas")),
            _doc(status_kind, "readyReplicas"),
        ),
        age_column(),
        *_wide_containers(_template_spec),
    )


def _rs() -> tuple[TableColumn, ...]:
    return _replica_sets() + (
        _selector_col(lambda o: selector_string(_spec(o).get("selector"))),
    )


def _rcs() -> tuple[TableColumn, ...]:
    return _replica_sets("io.k8s.api.core.v1.ReplicationControllerStatus") + (
        _selector_col(lambda o: format_labels(_spec(o).get("selector"))),
    )


def _stateful_sets() -> tuple[TableColumn, ...]:
    return (
        _col(
            "Ready",
            "string",
            lambda o, now=None: f"{_int(_status(o).get('readyReplicas'))}/{_int(_spec(o).get('replicas'))}",
            "Number of the pod with ready state",
        ),
        age_column(),
        *_wide_containers(_template_spec),
    )


def _daemon_sets() -> tuple[TableColumn, ...]:
    st = "io.k8s.api.apps.v1.DaemonSetStatus"
    return (
        _col("Desired", "integer", lambda o, now=None: _int(_status(o).get("desiredNumberScheduled")), _doc(st, "desiredNumberScheduled")),
        _col("Current", "integer", lambda o, now=None: _int(_status(o).get("currentNumberScheduled")), _doc(st, "currentNumberScheduled")),
        _col("Ready", "integer", lambda o, now=None: _int(_status(o).get("numberReady")), _doc(st, "numberReady")),
        _col("Up-to-date", "integer", lambda o, now=None: _int(_status(o).get("updatedNumberScheduled")), _doc(st, "updatedNumberScheduled")),
        _col("Available", "integer", lambda o, now=None: _int(_status(o).get("numberAvailable")), _doc(st, "numberAvailable")),
        _col(
            "Node Selector",
            "string",
            lambda o, now=None: format_labels(_template_spec(o).get("nodeSelector")),
            _doc("io.k8s.api.core.v1.PodSpec", "nodeSelector"),
        ),
        age_column(),
        *_wide_containers(_template_spec),
        _selector_col(lambda o: selector_string(_spec(o).get("selector"))),
    )


def _controller_revisions() -> tuple[TableColumn, ...]:
    def controller(o: _Obj, now: Optional[float] = None) -> str:
        for ref in (o.get("metadata") or {}).get("ownerReferences") or []:
            if ref.get("controller"):
                group = ref.get("apiVersion", "").split("/")[0] if "/" in ref.get("apiVersion", "") else ""
                kind = ref.get("kind", "").lower()
                res = f"{kind}.{group}" if group else kind
                return f"{res}/{ref.get('name', '')}"
        return "<none>"

    return (
        _col("Controller", "string", controller, "Controller of the object"),
        _col("Revision", "integer", lambda o, now=None: _int(o.get("revision")), _doc("io.k8s.api.apps.v1.ControllerRevision", "revision")),
        age_column(),
    )


def _has_condition(obj: _Obj, ctype: str) -> bool:
    return any(
        c.get("type") == ctype and c.get("status") == "True"
        for c in _status(obj).get("conditions") or []
    )


def job_status(job: _Obj) -> str:
    """
    kube's Job C{Status} cell.
    """
    if _has_condition(job, "Complete"):
        return "Complete"
    if _has_condition(job, "Failed"):
        return "Failed"
    if (job.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    if _has_condition(job, "Suspended"):
        return "Suspended"
    if _has_condition(job, "FailureTarget"):
        return "FailureTarget"
    if _has_condition(job, "SuccessCriteriaMet"):
        return "SuccessCriteriaMet"
    return "Running"


def job_completions(job: _Obj) -> str:
    """
    kube's Job C{Completions} cell (C{0/1}, C{2/1 of 3}).
    """
    spec = _spec(job)
    succeeded = _int(_status(job).get("succeeded"))
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    par = spec.get("parallelism")
    if par is not None and par > 1:
        return f"{succeeded}/1 of {par}"
    return f"{succeeded}/1"


def job_duration(job: _Obj, now: Optional[float] = None) -> str:
    """
    kube's Job C{Duration} cell (empty until started).
    """
    status = _status(job)
    start = parse_timestamp(status.get("startTime") or "")
    if start is None:
        return ""
    end = parse_timestamp(status.get("completionTime") or "")
    if end is None:
        end = time.time() if now is None else now
    return human_duration(end - start)


def _jobs() -> tuple[TableColumn, ...]:
    return (
        _col("Status", "string", lambda o, now=None: job_status(o), "Status of the job."),
        _col(
            "Completions",
            "string",
            lambda o, now=None: job_completions(o),
            "The completion status of the job as succeeded/desired completions",
        ),
        _col("Duration", "string", job_duration, "Time required to complete the job."),
        age_column(),
        *_wide_containers(_template_spec),
        _selector_col(lambda o: selector_string(_spec(o).get("selector"))),
    )


def _cron_jobs() -> tuple[TableColumn, ...]:
    def jt_spec(o: _Obj) -> dict:
        return ((((_spec(o).get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")) or {}

    def last(o: _Obj, now: Optional[float] = None) -> str:
        ls = _status(o).get("lastScheduleTime")
        return since(ls, now) if ls else "<none>"

    spec_doc = "io.k8s.api.batch.v1.CronJobSpec"
    return (
        _col("Schedule", "string", lambda o, now=None: _spec(o).get("schedule") or "", _doc(spec_doc, "schedule")),
        _col(
            "Timezone",
            "string",
            lambda o, now=None: _spec(o).get("timeZone") or "<none>",
            _doc(spec_doc, "timeZone"),
        ),
        _col(
            "Suspend",
            "boolean",
            lambda o, now=None: "True" if _spec(o).get("suspend") else "False",
            _doc(spec_doc, "suspend"),
        ),
        _col(
            "Active",
            "integer",
            lambda o, now=None: len(_status(o).get("active") or []),
            _doc("io.k8s.api.batch.v1.CronJobStatus", "active"),
        ),
        _col("Last Schedule", "string", last, _doc("io.k8s.api.batch.v1.CronJobStatus", "lastScheduleTime")),
        age_column(),
        *_wide_containers(jt_spec),
        _selector_col(
            lambda o: selector_string(((_spec(o).get("jobTemplate") or {}).get("spec") or {}).get("selector"))
        ),
    )


# ---------------------------------------------------------------------------------------------------
# services and networking


def service_external_ip(svc: _Obj) -> str:
    """
    kube's C{getServiceExternalIP} (wide form).
    """
    spec = _spec(svc)
    t = spec.get("type") or "ClusterIP"
    ext = spec.get("externalIPs") or []
    if t in ("ClusterIP", "NodePort"):
        return ",".join(ext) if ext else "<none>"
    if t == "LoadBalancer":
        lb = load_balancer_string(_status(svc).get("loadBalancer"))
        if ext:
            results = list(ext)
            if lb:
                results.append(lb)
            return ",".join(results)
        return lb or "<pending>"
    if t == "ExternalName":
        return spec.get("externalName") or ""
    return "<unknown>"


def service_ports(svc: _Obj) -> str:
    """
    kube's C{makePortString}: C{80/TCP,443:30443/TCP}, C{<none>} without ports.
    """
    out = []
    for p in _spec(svc).get("ports") or []:
        proto = p.get("protocol") or "TCP"
        if p.get("nodePort"):
            out.append(f"{p.get('port')}:{p['nodePort']}/{proto}")
        else:
            out.append(f"{p.get('port')}/{proto}")
    return ",".join(out) if out else "<none>"


def _services() -> tuple[TableColumn, ...]:
    sd = "io.k8s.api.core.v1.ServiceSpec"
    return (
        _col("Type", "string", lambda o, now=None: _spec(o).get("type") or "", _doc(sd, "type")),
        _col(
            "Cluster-IP",
            "string",
            lambda o, now=None: _spec(o).get("clusterIP") or "<none>",
            _doc(sd, "clusterIP"),
        ),
        _col("External-IP", "string", lambda o, now=None: service_external_ip(o), _doc(sd, "externalIPs")),
        _col("Port(s)", "string", lambda o, now=None: service_ports(o), _doc(sd, "ports")),
        age_column(),
        _col(
            "Selector",
            "string",
            lambda o, now=None: format_labels(_spec(o).get("selector")),
            _doc(sd, "selector"),
            1,
        ),
    )


def format_endpoints(ep: _Obj) -> str:
    """
    kube's C{formatEndpoints}: up to three C{ip:port}s then C{ + N more...}, C{<none>} without
    subsets.
    """
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    out: list[str] = []
    count = 0
    more = False
    for ss in subsets:
        addrs = ss.get("addresses") or []
        ports = ss.get("ports") or []
        if not ports:
            count += len(addrs)
            for a in addrs:
                if len(out) == 3:
                    more = True
                if not more:
                    out.append(a.get("ip", ""))
        else:
            for port in ports:
                count += len(addrs)
                for a in addrs:
                    if len(out) == 3:
                        more = True
                    if not more:
                        ip = a.get("ip", "")
                        host = f"[{ip}]" if ":" in ip else ip
                        out.append(f"{host}:{port.get('port')}")
    ret = ",".join(out)
    if more:
        return f"{ret} + {count - 3} more..."
    return ret


def _endpoints() -> tuple[TableColumn, ...]:
    return (
        _col("Endpoints", "string", lambda o, now=None: format_endpoints(o), _doc("io.k8s.api.core.v1.Endpoints", "subsets")),
        age_column(),
    )


def _endpoint_slices() -> tuple[TableColumn, ...]:
    def ports(o: _Obj, now: Optional[float] = None) -> str:
        ps = o.get("ports")
        if ps is None:
            return "<unset>"
        if not ps:
            return "<unset>"
        out = [str(p.get("port")) for p in ps if p.get("port") is not None]
        if len(out) > 3:
            return ",".join(out[:3]) + f" + {len(out) - 3} more..."
        return ",".join(out) if out else "<unset>"

    def endpoints(o: _Obj, now: Optional[float] = None) -> str:
        addrs = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
        if not addrs:
            return "<unset>"
        if len(addrs) > 3:
            return ",".join(addrs[:3]) + f" + {len(addrs) - 3} more..."
        return ",".join(addrs)

    return (
        _col("AddressType", "string", lambda o, now=None: o.get("addressType") or "", _doc("io.k8s.api.discovery.v1.EndpointSlice", "addressType")),
        _col("Ports", "string", ports, _doc("io.k8s.api.discovery.v1.EndpointSlice", "ports")),
        _col("Endpoints", "string", endpoints, _doc("io.k8s.api.discovery.v1.EndpointSlice", "endpoints")),
        age_column(),
    )


def format_hosts(rules: Optional[list]) -> str:
    """
    kube's Ingress C{Hosts} cell: up to three hosts then C{ + N more...}, C{*} without any.
    """
    rules = rules or []
    out: list[str] = []
    more = False
    for r in rules:
        if len(out) == 3:
            more = True
        if not more and r.get("host"):
            out.append(r["host"])
    if not out:
        return "*"
    ret = ",".join(out)
    if more:
        return f"{ret} + {len(rules) - 3} more..."
    return ret


def _ingresses() -> tuple[TableColumn, ...]:
    return (
        _col("Class", "string", lambda o, now=None: _spec(o).get("ingressClassName") or "<none>", "The name of the IngressClass resource that should be used for this Ingress."),
        _col("Hosts", "string", lambda o, now=None: format_hosts(_spec(o).get("rules")), "Hosts that incoming requests are matched against before the ingress rule"),
        _col("Address", "string", lambda o, now=None: load_balancer_string(_status(o).get("loadBalancer")), "Address is a list containing ingress points for the load-balancer"),
        _col("Ports", "string", lambda o, now=None: "80, 443" if _spec(o).get("tls") else "80", "Ports of TLS configurations that open"),
        age_column(),
    )


def _ingress_classes() -> tuple[TableColumn, ...]:
    def params(o: _Obj, now: Optional[float] = None) -> str:
        p = _spec(o).get("parameters")
        if not p:
            return "<none>"
        s = p.get("kind", "")
        if p.get("apiGroup"):
            s += "." + p["apiGroup"]
        return s + "/" + p.get("name", "")

    return (
        _col("Controller", "string", lambda o, now=None: _spec(o).get("controller") or "", "Controller that is responsible for handling this class"),
        _col("Parameters", "string", params, "A reference to a resource with additional parameters"),
        age_column(),
    )


def _network_policies() -> tuple[TableColumn, ...]:
    return (
        _col(
            "Pod-Selector",
            "string",
            lambda o, now=None: format_label_selector(_spec(o).get("podSelector")),
            _doc("io.k8s.api.networking.v1.NetworkPolicySpec", "podSelector"),
        ),
        age_column(),
    )


# ---------------------------------------------------------------------------------------------------
# config, namespaces, nodes, events, storage


def _config_maps() -> tuple[TableColumn, ...]:
    return (
        _col(
            "Data",
            "integer",
            lambda o, now=None: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
            _doc("io.k8s.api.core.v1.ConfigMap", "data"),
        ),
        age_column(),
    )


def _secrets() -> tuple[TableColumn, ...]:
    return (
        _col("Type", "string", lambda o, now=None: o.get("type") or "", _doc("io.k8s.api.core.v1.Secret", "type")),
        _col("Data", "integer", lambda o, now=None: len(o.get("data") or {}), _doc("io.k8s.api.core.v1.Secret", "data")),
        age_column(),
    )


def _service_accounts() -> tuple[TableColumn, ...]:
    return (
        _col(
            "Secrets",
            "integer",
            lambda o, now=None: len(o.get("secrets") or []),
            _doc("io.k8s.api.core.v1.ServiceAccount", "secrets"),
        ),
        age_column(),
    )


def _namespaces() -> tuple[TableColumn, ...]:
    return (
        _col(
            "Status",
            "string",
            lambda o, now=None: _status(o).get("phase") or "",
            "The status of the namespace",
        ),
        age_column(),
    )


def node_status(node: _Obj) -> str:
    """
    kube's Node C{Status} cell: C{Ready}, C{NotReady}, C{Unknown}, plus C{,SchedulingDisabled}.
    """
    out = []
    for c in _status(node).get("conditions") or []:
        if c.get("type") == "Ready":
            out.append("Ready" if c.get("status") == "True" else "NotReady")
            break
    if not out:
        out.append("Unknown")
    if _spec(node).get("unschedulable"):
        out.append("SchedulingDisabled")
    return ",".join(out)


def node_roles(node: _Obj) -> str:
    """
    kube's Node C{Roles} cell from C{node-role.kubernetes.io/<role>} and C{kubernetes.io/role}.
    """
    roles = set()
    for k, v in ((node.get("metadata") or {}).get("labels") or {}).items():
        if k.startswith("node-role.kubernetes.io/"):
            role = k[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif k == "kubernetes.io/role" and v:
            roles.add(v)
    return ",".join(sorted(roles)) or "<none>"


def _node_address(kind: str) -> Callable[..., str]:
    def cell(o: _Obj, now: Optional[float] = None) -> str:
        for a in _status(o).get("addresses") or []:
            if a.get("type") == kind:
                return a.get("address") or "<none>"
        return "<none>"

    return cell


def _node_info(key: str) -> Callable[..., str]:
    return lambda o, now=None: (_status(o).get("nodeInfo") or {}).get(key) or "<unknown>"


def _nodes() -> tuple[TableColumn, ...]:
    return (
        _col("Status", "string", lambda o, now=None: node_status(o), "The status of the node"),
        _col("Roles", "string", lambda o, now=None: node_roles(o), "The roles of the node"),
        age_column(),
        _col(
            "Version",
            "string",
            lambda o, now=None: (_status(o).get("nodeInfo") or {}).get("kubeletVersion") or "",
            _doc("io.k8s.api.core.v1.NodeSystemInfo", "kubeletVersion"),
        ),
        _col("Internal-IP", "string", _node_address("InternalIP"), _doc("io.k8s.api.core.v1.NodeStatus", "addresses"), 1),
        _col("External-IP", "string", _node_address("ExternalIP"), _doc("io.k8s.api.core.v1.NodeStatus", "addresses"), 1),
        _col("OS-Image", "string", _node_info("osImage"), _doc("io.k8s.api.core.v1.NodeSystemInfo", "osImage"), 1),
        _col("Kernel-Version", "string", _node_info("kernelVersion"), _doc("io.k8s.api.core.v1.NodeSystemInfo", "kernelVersion"), 1),
        _col(
            "Container-Runtime",
            "string",
            _node_info("containerRuntimeVersion"),
            _doc("io.k8s.api.core.v1.NodeSystemInfo", "containerRuntimeVersion"),
            1,
        ),
    )


def event_row(ev: _Obj, now: Optional[float] = None) -> dict[str, Any]:
    """
    kube's C{printEvent} cells by name (of a core/v1 Event, or an events.k8s.io/v1 one read as
    the core Event it is stored as).
    """
    if "regarding" in ev or "note" in ev or "deprecatedSource" in ev:
        ev = {
            "metadata": ev.get("metadata"),
            "type": ev.get("type"),
            "reason": ev.get("reason"),
            "message": ev.get("note"),
            "involvedObject": ev.get("regarding") or {},
            "firstTimestamp": ev.get("deprecatedFirstTimestamp"),
            "lastTimestamp": ev.get("deprecatedLastTimestamp"),
            "eventTime": ev.get("eventTime"),
            "count": ev.get("deprecatedCount"),
            "series": ev.get("series"),
            "source": ev.get("deprecatedSource") or {},
            "reportingComponent": ev.get("reportingController"),
            "reportingInstance": ev.get("reportingInstance"),
        }
    first = since(ev.get("firstTimestamp"), now) if ev.get("firstTimestamp") else since(ev.get("eventTime"), now)
    last = since(ev.get("lastTimestamp"), now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 0
    series = ev.get("series")
    if series:
        last = since(series.get("lastObservedTime"), now)
        count = series.get("count") or 0
    elif count == 0:
        count = 1
    inv = ev.get("involvedObject") or {}
    kind = (inv.get("kind") or "").lower()
    target = f"{kind}/{inv['name']}" if inv.get("name") else kind
    src = ev.get("source") or {}
    component = src.get("component") or ev.get("reportingComponent") or ""
    instance = src.get("host") or ev.get("reportingInstance") or ""
    source = f"{component}, {instance}" if instance else component
    return {
        "last": last,
        "type": ev.get("type") or "",
        "reason": ev.get("reason") or "",
        "object": target,
        "subobject": inv.get("fieldPath") or "",
        "source": source,
        "message": (ev.get("message") or "").strip(),
        "first": first,
        "count": count,
    }


def _event_cell(key: str) -> Callable[..., Any]:
    return lambda o, now=None: event_row(o, now)[key]


def _events() -> tuple[TableColumn, ...]:
    ed = "io.k8s.api.core.v1.Event"
    return (
        _col("Last Seen", "string", _event_cell("last"), _doc(ed, "lastTimestamp")),
        _col("Type", "string", _event_cell("type"), _doc(ed, "type")),
        _col("Reason", "string", _event_cell("reason"), _doc(ed, "reason")),
        _col("Object", "string", _event_cell("object"), _doc(ed, "involvedObject")),
        _col("Subobject", "string", _event_cell("subobject"), _doc("io.k8s.api.core.v1.ObjectReference", "fieldPath"), 1),
        _col("Source", "string", _event_cell("source"), _doc(ed, "source"), 1),
        _col("Message", "string", _event_cell("message"), _doc(ed, "message")),
        _col("First Seen", "string", _event_cell("first"), _doc(ed, "firstTimestamp"), 1),
        _col("Count", "string", _event_cell("count"), _doc(ed, "count"), 1),
        name_column(priority=1),
    )


def _pvcs() -> tuple[TableColumn, ...]:
    def row(o: _Obj) -> dict[str, str]:
        spec, status = _spec(o), _status(o)
        phase = status.get("phase") or ""
        if (o.get("metadata") or {}).get("deletionTimestamp"):
            phase = "Terminating"
        capacity = modes = ""
        if spec.get("volumeName"):
            modes = access_modes_string(status.get("accessModes"))
            capacity = (status.get("capacity") or {}).get("storage") or ""
        sc = spec.get("storageClassName")
        if sc is None:
            sc = ((o.get("metadata") or {}).get("annotations") or {}).get(
                "volume.beta.kubernetes.io/storage-class", ""
            )
        return {
            "status": phase,
            "volume": spec.get("volumeName") or "",
            "capacity": str(capacity),
            "modes": modes,
            "class": sc or "",
            "vac": spec.get("volumeAttributesClassName") or "<unset>",
            "mode": spec.get("volumeMode") or "<unset>",
        }

    def c(key: str) -> Callable[..., str]:
        return lambda o, now=None: row(o)[key]

    sd = "io.k8s.api.core.v1.PersistentVolumeClaimSpec"
    return (
        _col("Status", "string", c("status"), _doc("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "phase")),
        _col("Volume", "string", c("volume"), _doc(sd, "volumeName")),
        _col("Capacity", "string", c("capacity"), _doc("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "capacity")),
        _col("Access Modes", "string", c("modes"), _doc("io.k8s.api.core.v1.PersistentVolumeClaimStatus", "accessModes")),
        _col("StorageClass", "string", c("class"), "StorageClass of the pvc"),
        _col("VolumeAttributesClass", "string", c("vac"), _doc(sd, "volumeAttributesClassName")),
        age_column(),
        _col("VolumeMode", "string", c("mode"), _doc(sd, "volumeMode"), 1),
    )


def _pvs() -> tuple[TableColumn, ...]:
    def row(o: _Obj) -> dict[str, str]:
        spec, status = _spec(o), _status(o)
        claim = ""
        ref = spec.get("claimRef")
        if ref:
            claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}"
        phase = status.get("phase") or ""
        if (o.get("metadata") or {}).get("deletionTimestamp"):
            phase = "Terminating"
        sc = spec.get("storageClassName")
        if sc is None:
            sc = ((o.get("metadata") or {}).get("annotations") or {}).get(
                "volume.beta.kubernetes.io/storage-class", ""
            )
        return {
            "capacity": str((spec.get("capacity") or {}).get("storage") or ""),
            "modes": access_modes_string(spec.get("accessModes")),
            "policy": spec.get("persistentVolumeReclaimPolicy") or "",
            "status": phase,
            "claim": claim,
            "class": sc or "",
            "vac": spec.get("volumeAttributesClassName") or "<unset>",
            "reason": status.get("reason") or "",
            "mode": spec.get("volumeMode") or "<unset>",
        }

    def c(key: str) -> Callable[..., str]:
        return lambda o, now=None: row(o)[key]

    sd = "io.k8s.api.core.v1.PersistentVolumeSpec"
    return (
        _col("Capacity", "string", c("capacity"), _doc(sd, "capacity")),
        _col("Access Modes", "string", c("modes"), _doc(sd, "accessModes")),
        _col("Reclaim Policy", "string", c("policy"), _doc(sd, "persistentVolumeReclaimPolicy")),
        _col("Status", "string", c("status"), _doc("io.k8s.api.core.v1.PersistentVolumeStatus", "phase")),
        _col("Claim", "string", c("claim"), _doc(sd, "claimRef")),
        _col("StorageClass", "string", c("class"), "StorageClass of the pv"),
        _col("VolumeAttributesClass", "string", c("vac"), _doc(sd, "volumeAttributesClassName")),
        _col("Reason", "string", c("reason"), _doc("io.k8s.api.core.v1.PersistentVolumeStatus", "reason")),
        age_column(),
        _col("VolumeMode", "string", c("mode"), _doc(sd, "volumeMode"), 1),
    )


def _resource_quotas() -> tuple[TableColumn, ...]:
    def fmt(o: _Obj, limits: bool) -> str:
        hard = _status(o).get("hard") or {}
        used = _status(o).get("used") or {}
        parts = []
        for k in sorted(hard):
            is_limit = k.startswith("limits.")
            if is_limit != limits:
                continue
            parts.append(f"{k}: {used.get(k, '0')}/{hard[k]}")
        return ", ".join(parts)

    return (
        age_column(),
        _col("Request", "string", lambda o, now=None: fmt(o, False), "Request represents a minimum amount of cpu/memory that a container may consume."),
        _col("Limit", "string", lambda o, now=None: fmt(o, True), "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
    )


def _leases() -> tuple[TableColumn, ...]:
    return (
        _col(
            "Holder",
            "string",
            lambda o, now=None: _spec(o).get("holderIdentity") or "",
            _doc("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity"),
        ),
        age_column(),
    )


def _component_statuses() -> tuple[TableColumn, ...]:
    def healthy(o: _Obj) -> dict:
        for c in o.get("conditions") or []:
            if c.get("type") == "Healthy":
                return c
        return {}

    def state(o: _Obj, now: Optional[float] = None) -> str:
        c = healthy(o)
        if not c:
            return "Unknown"
        return "Healthy" if c.get("status") == "True" else "Unhealthy"

    return (
        _col("Status", "string", state, "Status of the component conditions"),
        _col("Message", "string", lambda o, now=None: healthy(o).get("message") or "",
             "Message of the component conditions"),
        _col("Error", "string", lambda o, now=None: healthy(o).get("error") or "", "Error of the component conditions"),
    )


def _ip_addresses() -> tuple[TableColumn, ...]:
    def parent(o: _Obj, now: Optional[float] = None) -> str:
        ref = _spec(o).get("parentRef")
        if not ref:
            return "<none>"
        group, resource = ref.get("group") or "", ref.get("resource") or ""
        out = (f"{resource}.{group}" if group else resource).lower()
        if ref.get("namespace"):
            out += "/" + ref["namespace"]
        return out + "/" + (ref.get("name") or "")

    return (
        _col("ParentRef", "string", parent, _doc("io.k8s.api.networking.v1.IPAddressSpec", "parentRef")),
        age_column(),
    )


def _service_cidrs() -> tuple[TableColumn, ...]:
    return (
        _col("CIDRs", "string", lambda o, now=None: ",".join(_spec(o).get("cidrs") or []),
             _doc("io.k8s.api.networking.v1.ServiceCIDRSpec", "cidrs")),
        age_column(),
    )


def _hpas() -> tuple[TableColumn, ...]:
    def reference(o: _Obj, now: Optional[float] = None) -> str:
        ref = _spec(o).get("scaleTargetRef") or {}
        return f"{ref.get('kind', '')}/{ref.get('name', '')}"

    def targets(o: _Obj, now: Optional[float] = None) -> str:
        spec = _spec(o)
        metrics = spec.get("metrics")
        if metrics is None and "targetCPUUtilizationPercentage" in spec:
            metrics = [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": spec["targetCPUUtilizationPercentage"]}}}]
        if not metrics:
            return "<none>"
        current = {
            (m.get("resource") or {}).get("name"): m.get("resource") for m in _status(o).get("currentMetrics") or [] if m.get("type") == "Resource"
        }
        out = []
        for m in metrics:
            if m.get("type") == "Resource":
                r = m.get("resource") or {}
                t = r.get("target") or {}
                cur = (current.get(r.get("name")) or {}).get("current") or {}
                if t.get("type") == "Utilization":
                    c = f"{cur['averageUtilization']}%" if "averageUtilization" in cur else "<unknown>"
                    out.append(f"{r.get('name')}: {c}/{t.get('averageUtilization')}%")
                else:
                    c = cur.get("averageValue") or "<unknown>"
                    out.append(f"{r.get('name')}: {c}/{t.get('averageValue') or t.get('value')}")
            else:
                out.append("<unknown>/<unknown>")
        if len(out) > 2:
            return ", ".join(out[:2]) + f" + {len(out) - 2} more..."
        return ", ".join(out)

    return (
        _col("Reference", "string", reference, "Reference to the target resource"),
        _col("Targets", "string", targets, "Current and target metrics"),
        _col("MinPods", "string", lambda o, now=None: str(_spec(o).get("minReplicas") if _spec(o).get("minReplicas") is not None else "<unset>"), "Minimum number of pods"),
        _col("MaxPods", "integer", lambda o, now=None: _int(_spec(o).get("maxReplicas")), "Maximum number of pods"),
        _col("Replicas", "integer", lambda o, now=None: _int(_status(o).get("currentReplicas")), "Current number of pods"),
        age_column(),
    )


def _pdbs() -> tuple[TableColumn, ...]:
    def val(key: str) -> Callable[..., str]:
        return lambda o, now=None: str(_spec(o)[key]) if _spec(o).get(key) is not None else "N/A"

    return (
        _col("Min Available", "string", val("minAvailable"), "The minimum number of pods that must be available"),
        _col("Max Unavailable", "string", val("maxUnavailable"), "The maximum number of pods that may be unavailable"),
        _col("Allowed Disruptions", "integer", lambda o, now=None: _int(_status(o).get("disruptionsAllowed")), "Calculated number of pods that may be disrupted at this time"),
        age_column(),
    )


def _role_bindings() -> tuple[TableColumn, ...]:
    def subjects(kind: str) -> Callable[..., str]:
        def cell(o: _Obj, now: Optional[float] = None) -> str:
            out = []
            for s in o.get("subjects") or []:
                if s.get("kind") == kind:
                    if kind == "ServiceAccount":
                        out.append(f"{s.get('namespace', '')}/{s.get('name', '')}")
                    else:
                        out.append(s.get("name", ""))
            return ", ".join(out)

        return cell

    return (
        _col("Role", "string", lambda o, now=None: f"{(o.get('roleRef') or {}).get('kind', '')}/{(o.get('roleRef') or {}).get('name', '')}", "Role or ClusterRole that the binding applies to"),
        age_column(),
        _col("Users", "string", subjects("User"), "Users in the binding", 1),
        _col("Groups", "string", subjects("Group"), "Groups in the binding", 1),
        _col("ServiceAccounts", "string", subjects("ServiceAccount"), "ServiceAccounts in the binding", 1),
    )


def _storage_classes() -> tuple[TableColumn, ...]:
    return (
        _col("Provisioner", "string", lambda o, now=None: o.get("provisioner") or "", _doc("io.k8s.api.storage.v1.StorageClass", "provisioner")),
        _col("ReclaimPolicy", "string", lambda o, now=None: o.get("reclaimPolicy") or "Delete", _doc("io.k8s.api.storage.v1.StorageClass", "reclaimPolicy")),
        _col("VolumeBindingMode", "string", lambda o, now=None: o.get("volumeBindingMode") or "Immediate", _doc("io.k8s.api.storage.v1.StorageClass", "volumeBindingMode")),
        _col("AllowVolumeExpansion", "string", lambda o, now=None: "true" if o.get("allowVolumeExpansion") else "false", _doc("io.k8s.api.storage.v1.StorageClass", "allowVolumeExpansion")),
        age_column(),
    )


def _priority_classes() -> tuple[TableColumn, ...]:
    d = "io.k8s.api.scheduling.v1.PriorityClass"
    return (
        _col("Value", "integer", lambda o, now=None: _int(o.get("value")), _doc(d, "value")),
        _col("Global-Default", "boolean", lambda o, now=None: bool(o.get("globalDefault")), _doc(d, "globalDefault")),
        age_column(),
        _col("PreemptionPolicy", "string", lambda o, now=None: o.get("preemptionPolicy") or "", _doc(d, "preemptionPolicy")),
    )


def _runtime_classes() -> tuple[TableColumn, ...]:
    return (
        _col("Handler", "string", lambda o, now=None: o.get("handler") or "", _doc("io.k8s.api.node.v1.RuntimeClass", "handler")),
        age_column(),
    )


def _webhook_configs() -> tuple[TableColumn, ...]:
    return (
        _col("Webhooks", "integer", lambda o, now=None: len(o.get("webhooks") or []), "Webhooks indicates the number of webhooks registered in this configuration"),
        age_column(),
    )


def _validating_admission_policies() -> tuple[TableColumn, ...]:
    def param_kind(o: _Obj, now: Optional[float] = None) -> str:
        pk = _spec(o).get("paramKind")
        if not isinstance(pk, dict):
            return "<unset>"
        return f"{pk.get('apiVersion') or ''}/{pk.get('kind') or ''}"

    return (
        _col("Validations", "integer", lambda o, now=None: len(_spec(o).get("validations") or []),
             "Validations indicates the number of validation rules defined in this configuration"),
        _col("ParamKind", "string", param_kind,
             "ParamKind specifies the kind of resources used to parameterize this policy"),
        age_column(),
    )


def _validating_admission_policy_bindings() -> tuple[TableColumn, ...]:
    def param_ref(o: _Obj, now: Optional[float] = None) -> str:
        ref = _spec(o).get("paramRef")
        if not isinstance(ref, dict):
            return "<unset>"
        if ref.get("name"):
            # kube cannot tell a cluster-scoped param here: a name without namespace gets "*/"
            return f"{ref['namespace']}/{ref['name']}" if ref.get("namespace") else f"*/{ref['name']}"
        if ref.get("selector") is not None:
            return format_label_selector(ref["selector"])
        return "<unset>"

    return (
        _col("PolicyName", "string", lambda o, now=None: _spec(o).get("policyName") or "",
             "PolicyName indicates the policy definition which the policy binding binded to"),
        _col("ParamRef", "string", param_ref,
             "ParamRef indicates the param resource which sets the configration param"),
        age_column(),
    )


def _csi_storage_capacities() -> tuple[TableColumn, ...]:
    d = "io.k8s.api.storage.v1.CSIStorageCapacity"

    def capacity(o: _Obj, now: Optional[float] = None) -> str:
        c = o.get("capacity")
        return str(c) if c is not None else "<unset>"

    return (
        _col("StorageClassName", "string", lambda o, now=None: o.get("storageClassName") or "",
             _doc(d, "storageClassName")),
        _col("Capacity", "string", capacity, _doc(d, "capacity")),
    )


def _csrs() -> tuple[TableColumn, ...]:
    def condition(o: _Obj, now: Optional[float] = None) -> str:
        conds = []
        for c in _status(o).get("conditions") or []:
            conds.append(c.get("type", ""))
        if not conds:
            return "Pending"
        if _status(o).get("certificate") and "Approved" in conds:
            conds.append("Issued")
        return ",".join(conds)

    def duration(o: _Obj, now: Optional[float] = None) -> str:
        s = _spec(o).get("expirationSeconds")
        return human_duration(s) if s else "<none>"

    return (
        age_column(),
        _col("SignerName", "string", lambda o, now=None: _spec(o).get("signerName") or "", "Signer name of the request"),
        _col("Requestor", "string", lambda o, now=None: _spec(o).get("username") or "", "Name of the user that requested the certificate"),
        _col("RequestedDuration", "string", duration, "Requested duration of the issued certificate"),
        _col("Condition", "string", condition, "State of the request"),
    )


def _volume_attachments() -> tuple[TableColumn, ...]:
    return (
        _col("Attacher", "string", lambda o, now=None: _spec(o).get("attacher") or "", _doc("io.k8s.api.storage.v1.VolumeAttachmentSpec", "attacher")),
        _col("PV", "string", lambda o, now=None: (_spec(o).get("source") or {}).get("persistentVolumeName") or "", _doc("io.k8s.api.storage.v1.VolumeAttachmentSource", "persistentVolumeName")),
        _col("Node", "string", lambda o, now=None: _spec(o).get("nodeName") or "", _doc("io.k8s.api.storage.v1.VolumeAttachmentSpec", "nodeName")),
        _col("Attached", "boolean", lambda o, now=None: bool(_status(o).get("attached")), _doc("io.k8s.api.storage.v1.VolumeAttachmentStatus", "attached")),
        age_column(),
    )


def _csi_drivers() -> tuple[TableColumn, ...]:
    d = "io.k8s.api.storage.v1.CSIDriverSpec"

    def b(key: str, default: bool) -> Callable[..., bool]:
        return lambda o, now=None: bool(_spec(o).get(key, default))

    return (
        _col("AttachRequired", "boolean", b("attachRequired", True), _doc(d, "attachRequired")),
        _col("PodInfoOnMount", "boolean", b("podInfoOnMount", False), _doc(d, "podInfoOnMount")),
        _col("StorageCapacity", "boolean", b("storageCapacity", False), _doc(d, "storageCapacity")),
        _col("TokenRequests", "string", lambda o, now=None: ",".join(t.get("audience", "") for t in _spec(o).get("tokenRequests") or []) or "<unset>", _doc(d, "tokenRequests")),
        _col("RequiresRepublish", "boolean", b("requiresRepublish", False), _doc(d, "requiresRepublish")),
        _col("Modes", "string", lambda o, now=None: ",".join(_spec(o).get("volumeLifecycleModes") or []) or "<none>", _doc(d, "volumeLifecycleModes")),
        age_column(),
    )


def _csi_nodes() -> tuple[TableColumn, ...]:
    return (
        _col("Drivers", "integer", lambda o, now=None: len(_spec(o).get("drivers") or []), _doc("io.k8s.api.storage.v1.CSINodeSpec", "drivers")),
        age_column(),
    )


def _created_at_only() -> tuple[TableColumn, ...]:
    return (_created_at(),)


def _age_only() -> tuple[TableColumn, ...]:
    return (age_column(),)


_TABLES: dict[tuple[str, str], Callable[[], tuple[TableColumn, ...]]] = {
    ("", "Pod"): _pods,
    ("", "PodTemplate"): _pod_templates,
    ("", "ReplicationController"): _rcs,
    ("", "Service"): _services,
    ("", "Endpoints"): _endpoints,
    ("", "ConfigMap"): _config_maps,
    ("", "Secret"): _secrets,
    ("", "ServiceAccount"): _service_accounts,
    ("", "Namespace"): _namespaces,
    ("", "Node"): _nodes,
    ("", "Event"): _events,
    ("events.k8s.io", "Event"): _events,
    ("", "PersistentVolumeClaim"): _pvcs,
    ("", "PersistentVolume"): _pvs,
    ("", "ResourceQuota"): _resource_quotas,
    ("", "LimitRange"): _created_at_only,
    ("apps", "Deployment"): _deployments,
    ("apps", "ReplicaSet"): _rs,
    ("apps", "StatefulSet"): _stateful_sets,
    ("apps", "DaemonSet"): _daemon_sets,
    ("apps", "ControllerRevision"): _controller_revisions,
    ("batch", "Job"): _jobs,
    ("batch", "CronJob"): _cron_jobs,
    ("autoscaling", "HorizontalPodAutoscaler"): _hpas,
    ("coordination.k8s.io", "Lease"): _leases,
    ("", "ComponentStatus"): _component_statuses,
    ("networking.k8s.io", "IPAddress"): _ip_addresses,
    ("networking.k8s.io", "ServiceCIDR"): _service_cidrs,
    ("discovery.k8s.io", "EndpointSlice"): _endpoint_slices,
    ("networking.k8s.io", "Ingress"): _ingresses,
    ("networking.k8s.io", "IngressClass"): _ingress_classes,
    ("networking.k8s.io", "NetworkPolicy"): _network_policies,
    ("policy", "PodDisruptionBudget"): _pdbs,
    ("rbac.authorization.k8s.io", "Role"): _created_at_only,
    ("rbac.authorization.k8s.io", "ClusterRole"): _created_at_only,
    ("rbac.authorization.k8s.io", "RoleBinding"): _role_bindings,
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): _role_bindings,
    ("storage.k8s.io", "StorageClass"): _storage_classes,
    ("storage.k8s.io", "VolumeAttachment"): _volume_attachments,
    ("storage.k8s.io", "CSIDriver"): _csi_drivers,
    ("storage.k8s.io", "CSINode"): _csi_nodes,
    ("storage.k8s.io", "CSIStorageCapacity"): _csi_storage_capacities,
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"): _validating_admission_policies,
    ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"): _validating_admission_policy_bindings,
    ("scheduling.k8s.io", "PriorityClass"): _priority_classes,
    ("node.k8s.io", "RuntimeClass"): _runtime_classes,
    ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"): _webhook_configs,
    ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"): _webhook_configs,
    ("certificates.k8s.io", "CertificateSigningRequest"): _csrs,
}


@functools.lru_cache(maxsize=None)
def columns_for(group: str, kind: str) -> tuple[TableColumn, ...]:
    """
    kube's Table columns of C{group, kind} after the leading C{Name} column; C{()} for kinds
    printed with the default table (C{Name}, C{Created At}).
    """
    fn = _TABLES.get((group, kind))
    return fn() if fn is not None else ()


def cells(columns: tuple[TableColumn, ...], obj: _Obj, now: Optional[float] = None) -> list[Any]:
    """
    The cells of one row for C{columns}, computed at time C{now}.
    """
    return [c.cell(obj, now) for c in columns]
