"""
The defaults kube-apiserver applies to built-in objects on decode (k8s.io/kubernetes pkg/apis/*/v1
C{defaults.go} and the generated C{zz_generated.defaults.go} that applies them to nested types).

L{apply_defaults} works in place on JSON dicts of the I{external} version. Defaults that kube applies
in registry strategies rather than on decode (a Namespace's C{kubernetes} finalizer, a Pod's
C{Pending} phase and QoS class, Service cluster IPs) are not here, except two helpers the strategies
call: L{job_generate_selector} (kube's Job C{PrepareForCreate}) and L{service_ip_families}.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

_Obj = dict[str, Any]


def _d(obj: _Obj, key: str) -> _Obj:
    """
    C{obj[key]}, created as C{{}} when missing or null.
    """
    v = obj.get(key)
    if not isinstance(v, dict):
        v = obj[key] = {}
    return v


def _default(obj: _Obj, key: str, value: Any) -> None:
    if obj.get(key) is None or obj.get(key) == "":
        obj[key] = value


def _dicts(value: Any) -> list[_Obj]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


# ---------------------------------------------------------------------------------------------------
# core/v1 pieces


def image_pull_policy(image: str) -> str:
    """
    Kube's default C{imagePullPolicy}: C{Always} for a C{:latest} or untagged image without a
    digest, C{IfNotPresent} otherwise.
    """
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "Always"
    return "Always" if last.rsplit(":", 1)[1] == "latest" else "IfNotPresent"


def _probe(p: Any) -> None:
    if not isinstance(p, dict):
        return
    _default(p, "timeoutSeconds", 1)
    _default(p, "periodSeconds", 10)
    _default(p, "successThreshold", 1)
    _default(p, "failureThreshold", 3)
    h = p.get("httpGet")
    if isinstance(h, dict):
        _default(h, "path", "/")
        _default(h, "scheme", "HTTP")
    g = p.get("grpc")
    if isinstance(g, dict):
        _default(g, "service", "")


def _container(c: _Obj) -> None:
    if isinstance(c.get("image"), str) and c.get("imagePullPolicy") in (None, ""):
        c["imagePullPolicy"] = image_pull_policy(c["image"])
    _default(c, "terminationMessagePath", "/dev/termination-log")
    _default(c, "terminationMessagePolicy", "File")
    if not isinstance(c.get("resources"), dict):
        c["resources"] = {}
    for port in _dicts(c.get("ports")):
        _default(port, "protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(c.get(probe))
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            h = lifecycle.get(hook)
            if isinstance(h, dict) and isinstance(h.get("httpGet"), dict):
                _default(h["httpGet"], "path", "/")
                _default(h["httpGet"], "scheme", "HTTP")
    for env in _dicts(c.get("env")):
        vf = env.get("valueFrom")
        if isinstance(vf, dict) and isinstance(vf.get("fieldRef"), dict):
            _default(vf["fieldRef"], "apiVersion", "v1")
        if isinstance(vf, dict) and isinstance(vf.get("resourceFieldRef"), dict):
            _default(vf["resourceFieldRef"], "divisor", "0")


_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
    "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
    "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
    "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi",
    "ephemeral", "image",
)


def _volume(v: _Obj) -> None:
    if not any(v.get(s) is not None for s in _VOLUME_SOURCES):
        v["emptyDir"] = {}
    for src in ("secret", "configMap", "downwardAPI", "projected"):
        s = v.get(src)
        if isinstance(s, dict):
            _default(s, "defaultMode", 420)
    hp = v.get("hostPath")
    if isinstance(hp, dict):
        _default(hp, "type", "")
    da = v.get("downwardAPI")
    if isinstance(da, dict):
        for item in _dicts(da.get("items")):
            if isinstance(item.get("fieldRef"), dict):
                _default(item["fieldRef"], "apiVersion", "v1")
    pj = v.get("projected")
    if isinstance(pj, dict):
        for src in _dicts(pj.get("sources")):
            sat = src.get("serviceAccountToken")
            if isinstance(sat, dict):
                _default(sat, "expirationSeconds", 3600)
            dapi = src.get("downwardAPI")
            if isinstance(dapi, dict):
                for item in _dicts(dapi.get("items")):
                    if isinstance(item.get("fieldRef"), dict):
                        _default(item["fieldRef"], "apiVersion", "v1")
    rbd = v.get("rbd")
    if isinstance(rbd, dict):
        _default(rbd, "pool", "rbd")
        _default(rbd, "user", "admin")
        _default(rbd, "keyring", "/etc/ceph/keyring")
    iscsi = v.get("iscsi")
    if isinstance(iscsi, dict):
        _default(iscsi, "iscsiInterface", "default")
    ad = v.get("azureDisk")
    if isinstance(ad, dict):
        _default(ad, "cachingMode", "ReadWrite")
        _default(ad, "fsType", "ext4")
        _default(ad, "readOnly", False)
        _default(ad, "kind", "Shared")
    eph = v.get("ephemeral")
    if isinstance(eph, dict) and isinstance(eph.get("volumeClaimTemplate"), dict):
        spec = eph["volumeClaimTemplate"].get("spec")
        if isinstance(spec, dict):
            _pvc_spec(spec)


def pod_spec_defaults(spec: _Obj) -> None:
    """
    Kube's PodSpec defaults (C{SetDefaults_PodSpec} and everything nested), applied wherever a pod
    spec appears (pods and every pod template).
    """
    _default(spec, "dnsPolicy", "ClusterFirst")
    _default(spec, "restartPolicy", "Always")
    if not isinstance(spec.get("securityContext"), dict):
        spec["securityContext"] = {}
    _default(spec, "terminationGracePeriodSeconds", 30)
    _default(spec, "schedulerName", "default-scheduler")
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in _dicts(spec.get(key)):
            _container(c)
    if spec.get("hostNetwork"):
        for key in ("containers", "initContainers"):
            for c in _dicts(spec.get(key)):
                for port in _dicts(c.get("ports")):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    for v in _dicts(spec.get("volumes")):
        _volume(v)


def _pod_template(template: Any) -> None:
    if isinstance(template, dict):
        spec = template.get("spec")
        if isinstance(spec, dict):
            pod_spec_defaults(spec)


def _pod(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    pod_spec_defaults(spec)
    _default(spec, "enableServiceLinks", True)
    # Requests default to limits when unset (SetDefaults_Pod).
    for key in ("containers", "initContainers"):
        for c in _dicts(spec.get(key)):
            res = c.get("resources")
            limits = res.get("limits") if isinstance(res, dict) else None
            if isinstance(limits, dict) and limits:
                requests = res.setdefault("requests", {})  # type: ignore[union-attr]
                for k, v in limits.items():
                    requests.setdefault(k, v)


def _pvc_spec(spec: _Obj) -> None:
    _default(spec, "volumeMode", "Filesystem")


def _pvc(obj: _Obj) -> None:
    _pvc_spec(_d(obj, "spec"))
    _default(_d(obj, "status"), "phase", "Pending")


def _pv(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    _default(spec, "persistentVolumeReclaimPolicy", "Retain")
    _default(spec, "volumeMode", "Filesystem")
    _default(_d(obj, "status"), "phase", "Pending")


def service_ip_families(spec: _Obj) -> None:
    """
    The IP family fields kube's Service REST fills on a single-stack IPv4 cluster: C{SingleStack},
    C{[IPv4]}; headless Services without a selector get C{RequireDualStack}; ExternalName gets none.
    """
    if spec.get("type") == "ExternalName":
        return
    headless = spec.get("clusterIP") == "None"
    if spec.get("ipFamilyPolicy") in (None, ""):
        spec["ipFamilyPolicy"] = (
            "RequireDualStack" if headless and not spec.get("selector") else "SingleStack"
        )
    if not spec.get("ipFamilies"):
        spec["ipFamilies"] = ["IPv4"]


def _service(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    _default(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        cfg = _d(spec, "sessionAffinityConfig")
        cip = _d(cfg, "clientIP")
        _default(cip, "timeoutSeconds", 10800)
    _default(spec, "type", "ClusterIP")
    for port in _dicts(spec.get("ports")):
        _default(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    t = spec["type"]
    if t in ("NodePort", "LoadBalancer"):
        _default(spec, "externalTrafficPolicy", "Cluster")
    if t != "ExternalName":
        _default(spec, "internalTrafficPolicy", "Cluster")
    if t == "LoadBalancer":
        _default(spec, "allocateLoadBalancerNodePorts", True)
    service_ip_families(spec)
    if not isinstance(obj.get("status"), dict):
        obj["status"] = {"loadBalancer": {}}


def _namespace(obj: _Obj) -> None:
    meta = _d(obj, "metadata")
    name = meta.get("name")
    if name:
        _d(meta, "labels")["kubernetes.io/metadata.name"] = name
    _default(_d(obj, "status"), "phase", "Active")


def _secret(obj: _Obj) -> None:
    _default(obj, "type", "Opaque")


def _rc(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    template = spec.get("template")
    labels = (template.get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    if labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = _d(obj, "metadata")
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    _default(spec, "replicas", 1)
    _pod_template(template)


def _endpoints(obj: _Obj) -> None:
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            _default(port, "protocol", "TCP")


def _limit_range(obj: _Obj) -> None:
    for item in _dicts(_d(obj, "spec").get("limits")):
        if item.get("type") != "Container":
            continue
        default = dict(item.get("default") or {})
        for k, v in (item.get("max") or {}).items():
            default.setdefault(k, v)
        request = dict(item.get("defaultRequest") or {})
        for k, v in default.items():
            request.setdefault(k, v)
        for k, v in (item.get("min") or {}).items():
            request.setdefault(k, v)
        if default:
            item["default"] = default
        if request:
            item["defaultRequest"] = request


def _node(obj: _Obj) -> None:
    status = obj.get("status")
    if isinstance(status, dict) and status.get("capacity") and status.get("allocatable") is None:
        status["allocatable"] = dict(status["capacity"])


def _pod_template_kind(obj: _Obj) -> None:
    _pod_template(obj.get("template"))


# ---------------------------------------------------------------------------------------------------
# apps/v1


def _deployment(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    _default(spec, "replicas", 1)
    strategy = _d(spec, "strategy")
    _default(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = _d(strategy, "rollingUpdate")
        _default(ru, "maxUnavailable", "25%")
        _default(ru, "maxSurge", "25%")
    _default(spec, "revisionHistoryLimit", 10)
    _default(spec, "progressDeadlineSeconds", 600)
    _pod_template(spec.get("template"))


def _zero_status(obj: _Obj, keys: tuple[str, ...]) -> None:
    """
    Status counters whose Go JSON tags have no omitempty: kube always writes them, 0 included.
    """
    status = _d(obj, "status")
    for k in keys:
        _default(status, k, 0)


def _replica_set(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    _default(spec, "replicas", 1)
    _pod_template(spec.get("template"))
    _zero_status(obj, ("replicas",))


def _stateful_set(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    _default(spec, "podManagementPolicy", "OrderedReady")
    us = _d(spec, "updateStrategy")
    _default(us, "type", "RollingUpdate")
    if us["type"] == "RollingUpdate":
        ru = _d(us, "rollingUpdate")
        _default(ru, "partition", 0)
    _default(spec, "replicas", 1)
    _default(spec, "revisionHistoryLimit", 10)
    policy = _d(spec, "persistentVolumeClaimRetentionPolicy")
    _default(policy, "whenDeleted", "Retain")
    _default(policy, "whenScaled", "Retain")
    for pvc in _dicts(spec.get("volumeClaimTemplates")):
        _pvc(pvc)
    _pod_template(spec.get("template"))
    _zero_status(obj, ("replicas", "availableReplicas"))


def _daemon_set(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    us = _d(spec, "updateStrategy")
    _default(us, "type", "RollingUpdate")
    if us["type"] == "RollingUpdate":
        ru = _d(us, "rollingUpdate")
        _default(ru, "maxUnavailable", 1)
        _default(ru, "maxSurge", 0)
    _default(spec, "revisionHistoryLimit", 10)
    _pod_template(spec.get("template"))
    _zero_status(obj, ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"))


# ---------------------------------------------------------------------------------------------------
# batch/v1

_MAX_INT32 = 2**31 - 1


def _job_spec(spec: _Obj) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    _default(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = _MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    _default(spec, "completionMode", "NonIndexed")
    _default(spec, "suspend", False)
    pfp = spec.get("podFailurePolicy")
    if isinstance(pfp, dict):
        for rule in _dicts(pfp.get("rules")):
            for cond in _dicts(rule.get("onPodConditions")):
                _default(cond, "status", "True")
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if pfp else "TerminatingOrFailed"
    _default(spec, "manualSelector", False)
    _pod_template(spec.get("template"))


def job_generate_selector(obj: _Obj) -> None:
    """
    Kube's Job C{PrepareForCreate} selector generation: unless C{spec.manualSelector} is true, label
    the pod template with the Job's uid and name (C{batch.kubernetes.io/controller-uid},
    C{batch.kubernetes.io/job-name} and the legacy C{controller-uid}, C{job-name}) and select on
    C{batch.kubernetes.io/controller-uid}. Needs C{metadata.uid} set.
    """
    spec = _d(obj, "spec")
    if spec.get("manualSelector") is True:
        return
    meta = obj.get("metadata") or {}
    uid, name = meta.get("uid"), meta.get("name")
    if not uid:
        return
    template = _d(spec, "template")
    labels = _d(_d(template, "metadata"), "labels")
    labels.setdefault("batch.kubernetes.io/controller-uid", uid)
    labels.setdefault("batch.kubernetes.io/job-name", name)
    labels.setdefault("controller-uid", uid)
    labels.setdefault("job-name", name)
    if not spec.get("selector"):
        spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}


def _job(obj: _Obj) -> None:
    _job_spec(_d(obj, "spec"))
    job_generate_selector(obj)


def _cron_job(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    _default(spec, "concurrencyPolicy", "Allow")
    _default(spec, "suspend", False)
    _default(spec, "successfulJobsHistoryLimit", 3)
    _default(spec, "failedJobsHistoryLimit", 1)
    jt = spec.get("jobTemplate")
    if isinstance(jt, dict) and isinstance(jt.get("spec"), dict):
        _pod_template(jt["spec"].get("template"))


# ---------------------------------------------------------------------------------------------------
# other groups


def _hpa_v2(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    _default(spec, "minReplicas", 1)
    if spec.get("metrics") is None:
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        up = behavior.get("scaleUp")
        if isinstance(up, dict):
            _default(up, "stabilizationWindowSeconds", 0)
            _default(up, "selectPolicy", "Max")
            if not up.get("policies"):
                up["policies"] = [
                    {"type": "Pods", "value": 4, "periodSeconds": 15},
                    {"type": "Percent", "value": 100, "periodSeconds": 15},
                ]
        down = behavior.get("scaleDown")
        if isinstance(down, dict):
            _default(down, "selectPolicy", "Max")
            if not down.get("policies"):
                down["policies"] = [{"type": "Percent", "value": 100, "periodSeconds": 15}]


def _hpa_v1(obj: _Obj) -> None:
    _default(_d(obj, "spec"), "minReplicas", 1)


def _network_policy(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    for rule_key, peer_key in (("ingress", "ports"), ("egress", "ports")):
        for rule in _dicts(spec.get(rule_key)):
            for port in _dicts(rule.get(peer_key)):
                _default(port, "protocol", "TCP")
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types


def _endpoint_slice(obj: _Obj) -> None:
    for port in _dicts(obj.get("ports")):
        _default(port, "name", "")
        _default(port, "protocol", "TCP")


def _rbac_subjects(obj: _Obj) -> None:
    for s in _dicts(obj.get("subjects")):
        if s.get("apiGroup") in (None, ""):
            if s.get("kind") in ("User", "Group"):
                s["apiGroup"] = "rbac.authorization.k8s.io"
            elif s.get("kind") == "ServiceAccount":
                s["apiGroup"] = ""


def _priority_class(obj: _Obj) -> None:
    _default(obj, "preemptionPolicy", "PreemptLowerPriority")


def _storage_class(obj: _Obj) -> None:
    _default(obj, "reclaimPolicy", "Delete")
    _default(obj, "volumeBindingMode", "Immediate")


def _csi_driver(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    _default(spec, "attachRequired", True)
    _default(spec, "podInfoOnMount", False)
    _default(spec, "storageCapacity", False)
    _default(spec, "fsGroupPolicy", "ReadWriteOnceWithFSType")
    _default(spec, "requiresRepublish", False)
    _default(spec, "seLinuxMount", False)
    if not spec.get("volumeLifecycleModes"):
        spec["volumeLifecycleModes"] = ["Persistent"]


def _webhooks(mutating: bool) -> Callable[[_Obj], None]:
    def apply(obj: _Obj) -> None:
        for w in _dicts(obj.get("webhooks")):
            _default(w, "failurePolicy", "Fail")
            _default(w, "matchPolicy", "Equivalent")
            if w.get("namespaceSelector") is None:
                w["namespaceSelector"] = {}
            if w.get("objectSelector") is None:
                w["objectSelector"] = {}
            _default(w, "timeoutSeconds", 10)
            if mutating:
                _default(w, "reinvocationPolicy", "Never")
            for rule in _dicts(w.get("rules")):
                _default(rule, "scope", "*")
            svc = (w.get("clientConfig") or {}).get("service")
            if isinstance(svc, dict):
                _default(svc, "port", 443)

    return apply


def _vap(obj: _Obj) -> None:
    spec = _d(obj, "spec")
    _default(spec, "failurePolicy", "Fail")
    mc = _d(spec, "matchConstraints")
    _default(mc, "matchPolicy", "Equivalent")
    if mc.get("namespaceSelector") is None:
        mc["namespaceSelector"] = {}
    if mc.get("objectSelector") is None:
        mc["objectSelector"] = {}
    for rule in _dicts(mc.get("resourceRules")):
        _default(rule, "scope", "*")


_DEFAULTERS: dict[tuple[str, str, str], Callable[[_Obj], None]] = {
    ("", "v1", "Pod"): _pod,
    ("", "v1", "PodTemplate"): _pod_template_kind,
    ("", "v1", "ReplicationController"): _rc,
    ("", "v1", "Service"): _service,
    ("", "v1", "Namespace"): _namespace,
    ("", "v1", "Secret"): _secret,
    ("", "v1", "PersistentVolumeClaim"): _pvc,
    ("", "v1", "PersistentVolume"): _pv,
    ("", "v1", "Endpoints"): _endpoints,
    ("", "v1", "LimitRange"): _limit_range,
    ("", "v1", "Node"): _node,
    ("apps", "v1", "Deployment"): _deployment,
    ("apps", "v1", "ReplicaSet"): _replica_set,
    ("apps", "v1", "StatefulSet"): _stateful_set,
    ("apps", "v1", "DaemonSet"): _daemon_set,
    ("batch", "v1", "Job"): _job,
    ("batch", "v1", "CronJob"): _cron_job,
    ("autoscaling", "v2", "HorizontalPodAutoscaler"): _hpa_v2,
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): _hpa_v1,
    ("networking.k8s.io", "v1", "NetworkPolicy"): _network_policy,
    ("discovery.k8s.io", "v1", "EndpointSlice"): _endpoint_slice,
    ("rbac.authorization.k8s.io", "v1", "RoleBinding"): _rbac_subjects,
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"): _rbac_subjects,
    ("scheduling.k8s.io", "v1", "PriorityClass"): _priority_class,
    ("storage.k8s.io", "v1", "StorageClass"): _storage_class,
    ("storage.k8s.io", "v1", "CSIDriver"): _csi_driver,
    ("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration"): _webhooks(True),
    ("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration"): _webhooks(False),
    ("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy"): _vap,
}


def defaulter(group: str, version: str, kind: str) -> Optional[Callable[[_Obj], None]]:
    """
    The in-place defaulting function of a kind, or None when kube defines none.
    """
    return _DEFAULTERS.get((group, version, kind))


def apply_defaults(group: str, version: str, kind: str, obj: _Obj) -> None:
    """
    Apply kube's defaults for C{group/version, kind} to C{obj} in place (a no-op for kinds kube
    does not default).
    """
    fn = _DEFAULTERS.get((group, version, kind))
    if fn is not None and isinstance(obj, dict):
        fn(obj)
