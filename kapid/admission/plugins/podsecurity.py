"""
C{PodSecurity} (kube's pod-security-admission): the Pod Security Standards levels a namespace
asks for in its labels (C{pod-security.kubernetes.io/{enforce,audit,warn}[-version]}), enforced
on pods (403 C{violates PodSecurity "<level>:<version>": ...}), warned (C{would violate
PodSecurity ...}) and audited on pods and on the pod templates of workload resources, with
exemptions and defaults from the plugin's C{PodSecurityConfiguration}.

The checks and their texts follow kube's C{policy/check_*.go} in kube's order (baseline checks
in file order, then the restricted ones; a restricted check replaces the baseline one it
tightens).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Optional

import attr
from zope.interface import implementer

from kapid.admission.chain import register
from kapid.admission.context import PluginContext
from kapid.admission.interfaces import CREATE, UPDATE, Attributes, IValidatingAdmission
from kapid.apimachinery.status import forbidden as forbidden_error

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)
LABEL_PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "audit", "warn")
_VERSION = re.compile(r"^v1\.(0|[1-9][0-9]*)$")

#: Workload resources whose pod templates are warned about and audited (never enforced).
POD_CONTROLLERS = {
    ("", "replicationcontrollers"), ("", "podtemplates"), ("apps", "replicasets"), ("apps", "deployments"),
    ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs"), ("batch", "cronjobs"),
}


# -------------------------------------------------------------------------------------------------
# the checks

@attr.s(frozen=True, auto_attribs=True)
class Result:
    """
    One check's verdict: C{reason} and C{detail} when it fails.
    """

    allowed: bool
    reason: str = ""
    detail: str = ""


OK = Result(True)


def join_quote(items: Iterable[str]) -> str:
    """
    kube's C{joinQuote}: C{"a", "b"}.
    """
    items = list(items)
    return '"' + '", "'.join(items) + '"' if items else ""


def plural(singular: str, many: str, count: int) -> str:
    """
    kube's C{pluralize}.
    """
    return singular if count == 1 else many


def containers(spec: dict) -> list[dict]:
    """
    kube's C{visitContainers} order: init containers, containers, ephemeral containers.
    """
    out: list[dict] = []
    for key in ("initContainers", "containers", "ephemeralContainers"):
        out.extend(c for c in spec.get(key) or [] if isinstance(c, dict))
    return out


def _sc(obj: dict) -> dict:
    sc = obj.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def _named(names: list[str]) -> str:
    return f"{plural('container', 'containers', len(names))} {join_quote(names)}"


def check_app_armor(meta: dict, spec: dict) -> Result:
    """
    appArmorProfile: container annotations name only runtime/default or localhost profiles.
    """
    bad = []
    for k, v in ((meta.get("annotations") or {}).items()):
        if k.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            not v or v == "runtime/default" or v.startswith("localhost/")
        ):
            bad.append(f'{k}="{v}"')
    if bad:
        bad.sort()
        return Result(False, plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(bad)), ", ".join(bad))
    return OK


BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}


def check_capabilities_baseline(meta: dict, spec: dict) -> Result:
    """
    capabilities_baseline: only kube's default capabilities may be added.
    """
    bad, caps = [], set()
    for c in containers(spec):
        capabilities = _sc(c).get("capabilities")
        if not isinstance(capabilities, dict):
            continue
        extra = [x for x in capabilities.get("add") or [] if x not in BASELINE_CAPABILITIES]
        if extra:
            bad.append(c.get("name", ""))
            caps.update(extra)
    if bad:
        return Result(False, "non-default capabilities",
                      f"{_named(bad)} must not include {join_quote(sorted(caps))} in securityContext.capabilities.add")
    return OK


def check_host_namespaces(meta: dict, spec: dict) -> Result:
    """
    hostNamespaces: no hostNetwork, hostPID, hostIPC.
    """
    used = sorted(k for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k))
    if used:
        return Result(False, "host namespaces", ", ".join(f"{k}=true" for k in used))
    return OK


def check_host_path_volumes(meta: dict, spec: dict) -> Result:
    """
    hostPathVolumes: no hostPath volumes.
    """
    names = [v.get("name", "") for v in spec.get("volumes") or [] if isinstance(v, dict) and v.get("hostPath") is not None]
    if names:
        return Result(False, "hostPath volumes", f"{plural('volume', 'volumes', len(names))} {join_quote(names)}")
    return OK


def check_host_ports(meta: dict, spec: dict) -> Result:
    """
    hostPorts: no host ports.
    """
    bad: list[str] = []
    ports: set[str] = set()
    for c in containers(spec):
        used = [p.get("hostPort") for p in c.get("ports") or [] if isinstance(p, dict) and p.get("hostPort")]
        if used:
            bad.append(c.get("name", ""))
            ports.update(str(p) for p in used)
    if bad:
        return Result(False, "hostPort", f"{_named(bad)} {plural('uses', 'use', len(bad))} "
                                         f"{plural('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}")
    return OK


def check_privileged(meta: dict, spec: dict) -> Result:
    """
    privileged: no privileged containers.
    """
    bad = [c.get("name", "") for c in containers(spec) if _sc(c).get("privileged") is True]
    if bad:
        return Result(False, "privileged", f"{_named(bad)} must not set securityContext.privileged=true")
    return OK


def check_proc_mount(meta: dict, spec: dict) -> Result:
    """
    procMount: the Default proc mount only.
    """
    bad, kinds = [], set()
    for c in containers(spec):
        pm = _sc(c).get("procMount")
        if pm is not None and pm != "Default":
            bad.append(c.get("name", ""))
            kinds.add(pm)
    if bad:
        return Result(False, "procMount", f"{_named(bad)} must not set securityContext.procMount to {join_quote(sorted(kinds))}")
    return OK


SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t"}


def check_selinux(meta: dict, spec: dict) -> Result:
    """
    seLinuxOptions: allowed types, no user or role.
    """
    setters: list[str] = []
    types: set[str] = set()
    flags = {"user": False, "role": False}

    def valid(opts: dict) -> bool:
        ok = True
        if (opts.get("type") or "") not in SELINUX_TYPES:
            ok = False
            types.add(opts.get("type") or "")
        for k in ("user", "role"):
            if opts.get(k):
                ok = False
                flags[k] = True
        return ok

    pod_opts = _sc(spec).get("seLinuxOptions")
    if isinstance(pod_opts, dict) and not valid(pod_opts):
        setters.append("pod")
    bad = [c.get("name", "") for c in containers(spec)
           if isinstance(_sc(c).get("seLinuxOptions"), dict) and not valid(_sc(c)["seLinuxOptions"])]
    if bad:
        setters.append(_named(bad))
    if setters:
        data = []
        if types:
            data.append(f"{plural('type', 'types', len(types))} {join_quote(sorted(types))}")
            if flags["user"]:
                data.append("user may not be set")
            if flags["role"]:
                data.append("role may not be set")
        return Result(False, "seLinuxOptions",
                      f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}")
    return OK


def _valid_seccomp(t: Any) -> bool:
    return t in ("Localhost", "RuntimeDefault")


def _seccomp_annotation_ok(v: str) -> bool:
    return v in ("runtime/default", "docker/default") or v.startswith("localhost/")


def check_seccomp_baseline(meta: dict, spec: dict) -> Result:
    """
    seccompProfile_baseline: no Unconfined profile (fields, and the old annotations).
    """
    annotations = meta.get("annotations") or {}
    bad_annotations = set()
    pod_key = "seccomp.security.alpha.kubernetes.io/pod"
    if pod_key in annotations and not _seccomp_annotation_ok(annotations[pod_key]):
        bad_annotations.add(f'{pod_key}="{annotations[pod_key]}"')
    for c in containers(spec):
        key = "container.seccomp.security.alpha.kubernetes.io/" + c.get("name", "")
        if key in annotations and not _seccomp_annotation_ok(annotations[key]):
            bad_annotations.add(f'{key}="{annotations[key]}"')
    setters, values = [], set()
    profile = _sc(spec).get("seccompProfile")
    if isinstance(profile, dict) and not _valid_seccomp(profile.get("type")):
        setters.append("pod")
        values.add(profile.get("type") or "")
    bad = []
    for c in containers(spec):
        p = _sc(c).get("seccompProfile")
        if isinstance(p, dict) and not _valid_seccomp(p.get("type")):
            bad.append(c.get("name", ""))
            values.add(p.get("type") or "")
    if bad:
        setters.append(_named(bad))
    if setters:
        return Result(False, "seccompProfile",
                      f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to {join_quote(sorted(values))}")
    if bad_annotations:
        return Result(False, "seccompProfile",
                      f"forbidden {plural('annotation', 'annotations', len(bad_annotations))} {', '.join(sorted(bad_annotations))}")
    return OK


SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}


def check_sysctls(meta: dict, spec: dict) -> Result:
    """
    sysctls: only the safe set.
    """
    bad = [s.get("name", "") for s in _sc(spec).get("sysctls") or [] if isinstance(s, dict) and s.get("name") not in SAFE_SYSCTLS]
    if bad:
        return Result(False, "forbidden sysctls", ", ".join(bad))
    return OK


def check_host_process(meta: dict, spec: dict) -> Result:
    """
    windowsHostProcess: no Windows host process pods or containers.
    """
    setters = []
    if ((_sc(spec).get("windowsOptions") or {}).get("hostProcess")) is True:
        setters.append("pod")
    bad = [c.get("name", "") for c in containers(spec) if ((_sc(c).get("windowsOptions") or {}).get("hostProcess")) is True]
    if bad:
        setters.append(_named(bad))
    if setters:
        return Result(False, "hostProcess", f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true")
    return OK


def _windows(spec: dict) -> bool:
    return ((spec.get("os") or {}).get("name")) == "windows"


def check_privilege_escalation(meta: dict, spec: dict) -> Result:
    """
    allowPrivilegeEscalation: false on every container (not asked of Windows pods).
    """
    if _windows(spec):
        return OK
    bad = [c.get("name", "") for c in containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    if bad:
        return Result(False, "allowPrivilegeEscalation != false",
                      f"{_named(bad)} must set securityContext.allowPrivilegeEscalation=false")
    return OK


def check_capabilities_restricted(meta: dict, spec: dict) -> Result:
    """
    capabilities_restricted: drop ALL; add only NET_BIND_SERVICE (not asked of Windows pods).
    """
    if _windows(spec):
        return OK
    missing, adding, caps = [], [], set()
    for c in containers(spec):
        capabilities = _sc(c).get("capabilities")
        if not isinstance(capabilities, dict):
            missing.append(c.get("name", ""))
            continue
        if "ALL" not in (capabilities.get("drop") or []):
            missing.append(c.get("name", ""))
        extra = [x for x in capabilities.get("add") or [] if x != "NET_BIND_SERVICE"]
        if extra:
            adding.append(c.get("name", ""))
            caps.update(extra)
    details = []
    if missing:
        details.append(f'{_named(missing)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_named(adding)} must not include {join_quote(sorted(caps))} in securityContext.capabilities.add")
    if details:
        return Result(False, "unrestricted capabilities", "; ".join(details))
    return OK


_ALLOWED_VOLUME_SOURCES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret")


def check_restricted_volumes(meta: dict, spec: dict) -> Result:
    """
    restrictedVolumes: only the allowed volume types.
    """
    bad: list[str] = []
    kinds: set[str] = set()
    for v in spec.get("volumes") or []:
        if not isinstance(v, dict):
            continue
        sources = [k for k in v if k != "name" and v[k] is not None]
        if any(s in _ALLOWED_VOLUME_SOURCES for s in sources):
            continue
        bad.append(v.get("name", ""))
        kinds.update(s for s in sources)
    if bad:
        return Result(False, "restricted volume types",
                      f"{plural('volume', 'volumes', len(bad))} {join_quote(bad)} {plural('uses', 'use', len(bad))} "
                      f"{plural('restricted volume type', 'restricted volume types', len(kinds))} {join_quote(sorted(kinds))}")
    return OK


def check_run_as_non_root(meta: dict, spec: dict) -> Result:
    """
    runAsNonRoot: true on the pod or on every container.
    """
    setters = []
    pod_ok = False
    pod_value = _sc(spec).get("runAsNonRoot")
    if pod_value is not None:
        if pod_value is False:
            setters.append("pod")
        else:
            pod_ok = True
    explicit, implicit = [], []
    for c in containers(spec):
        v = _sc(c).get("runAsNonRoot")
        if v is not None:
            if v is False:
                explicit.append(c.get("name", ""))
        elif not pod_ok:
            implicit.append(c.get("name", ""))
    if explicit:
        setters.append(_named(explicit))
    if setters:
        return Result(False, "runAsNonRoot != true", f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false")
    if implicit:
        return Result(False, "runAsNonRoot != true", f"pod or {_named(implicit)} must set securityContext.runAsNonRoot=true")
    return OK


def check_run_as_user(meta: dict, spec: dict) -> Result:
    """
    runAsUser: never 0.
    """
    setters = []
    if _sc(spec).get("runAsUser") == 0 and _sc(spec).get("runAsUser") is not False:
        setters.append("pod")
    bad = [c.get("name", "") for c in containers(spec) if _sc(c).get("runAsUser") == 0 and _sc(c).get("runAsUser") is not False]
    if bad:
        setters.append(_named(bad))
    if setters:
        return Result(False, "runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0")
    return OK


def check_seccomp_restricted(meta: dict, spec: dict) -> Result:
    """
    seccompProfile_restricted: RuntimeDefault or Localhost on the pod or every container (not
    asked of Windows pods).
    """
    if _windows(spec):
        return OK
    setters, values = [], set()
    pod_set = False
    profile = _sc(spec).get("seccompProfile")
    if isinstance(profile, dict):
        if not _valid_seccomp(profile.get("type")):
            setters.append("pod")
            values.add(profile.get("type") or "")
        else:
            pod_set = True
    explicit, implicit = [], []
    for c in containers(spec):
        p = _sc(c).get("seccompProfile")
        if isinstance(p, dict):
            if not _valid_seccomp(p.get("type")):
                explicit.append(c.get("name", ""))
                values.add(p.get("type") or "")
        elif not pod_set:
            implicit.append(c.get("name", ""))
    if explicit:
        setters.append(_named(explicit))
    if setters:
        return Result(False, "seccompProfile",
                      f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to {join_quote(sorted(values))}")
    if implicit:
        return Result(False, "seccompProfile",
                      f'pod or {_named(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')
    return OK


Check = Callable[[dict, dict], Result]

#: Baseline checks in kube's order, each with whether a restricted check replaces it.
BASELINE_CHECKS: tuple[tuple[Check, bool], ...] = (
    (check_app_armor, False),
    (check_capabilities_baseline, True),
    (check_host_namespaces, False),
    (check_host_path_volumes, True),
    (check_host_ports, False),
    (check_privileged, False),
    (check_proc_mount, False),
    (check_selinux, False),
    (check_seccomp_baseline, True),
    (check_sysctls, False),
    (check_host_process, False),
)

RESTRICTED_CHECKS: tuple[Check, ...] = (
    check_privilege_escalation,
    check_capabilities_restricted,
    check_restricted_volumes,
    check_run_as_non_root,
    check_run_as_user,
    check_seccomp_restricted,
)


def evaluate(level: str, meta: dict, spec: dict) -> list[Result]:
    """
    The failed checks of C{level} for a pod's metadata and spec, in kube's order.
    """
    if level == PRIVILEGED:
        return []
    checks: list[Check] = [c for c, replaced in BASELINE_CHECKS if not (replaced and level == RESTRICTED)]
    if level == RESTRICTED:
        checks += list(RESTRICTED_CHECKS)
    return [r for r in (c(meta, spec) for c in checks) if not r.allowed]


def forbidden_detail(results: list[Result]) -> str:
    """
    kube's C{AggregateCheckResults(...).ForbiddenDetail()}: C{reason (detail), ...}.
    """
    return ", ".join(f"{r.reason} ({r.detail})" if r.detail else r.reason for r in results)


# -------------------------------------------------------------------------------------------------
# policy

@attr.s(frozen=True, auto_attribs=True)
class LevelVersion:
    """
    A level and its version (C{latest} or C{v1.N}).
    """

    level: str
    version: str = "latest"

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"


@attr.s(frozen=True, auto_attribs=True)
class Policy:
    """
    The enforce, audit and warn levels of a namespace.
    """

    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion


DEFAULT_POLICY = Policy(LevelVersion(PRIVILEGED), LevelVersion(PRIVILEGED), LevelVersion(PRIVILEGED))


def policy_for(labels: dict, defaults: Policy) -> tuple[Policy, list[str]]:
    """
    kube's C{PolicyToEvaluate}: the namespace's levels from its labels over the defaults; an
    invalid level means restricted, an invalid version latest.
    """
    errors: list[str] = []
    out = {}
    for mode in MODES:
        current: LevelVersion = getattr(defaults, mode)
        level, version = current.level, current.version
        has_level = False
        if LABEL_PREFIX + mode in labels:
            value = labels[LABEL_PREFIX + mode]
            if value in LEVELS:
                level, has_level = value, True
            else:
                level = RESTRICTED
                errors.append(f"{LABEL_PREFIX}{mode}: Invalid value: \"{value}\": must be one of privileged, baseline, restricted")
        key = LABEL_PREFIX + mode + "-version"
        if key in labels:
            value = labels[key]
            if value == "latest" or _VERSION.match(value):
                version = value
            else:
                version = "latest"
                errors.append(f"{key}: Invalid value: \"{value}\": must be 'latest' or of the form 'v1.x'")
        elif has_level:
            version = "latest"
        if version != "latest" and int(version[3:]) > 33:
            version = "latest"
        out[mode] = LevelVersion(level, version)
    return Policy(**out), errors


def config_from(doc: Any) -> tuple[Policy, dict[str, set]]:
    """
    A C{PodSecurityConfiguration}'s defaults and exemptions.
    """
    if not isinstance(doc, dict):
        return DEFAULT_POLICY, {"usernames": set(), "namespaces": set(), "runtimeClasses": set()}
    defaults = doc.get("defaults") or {}
    levels = {}
    for mode in MODES:
        levels[mode] = LevelVersion(defaults.get(mode) or PRIVILEGED, defaults.get(mode + "-version") or "latest")
    exemptions = doc.get("exemptions") or {}
    return Policy(**levels), {k: set(exemptions.get(k) or []) for k in ("usernames", "namespaces", "runtimeClasses")}


def _pod_parts(a: Attributes) -> Optional[tuple[dict, dict]]:
    """
    The pod (or pod template) metadata and spec of the request's object.
    """
    obj = a.object or {}
    if a.is_kind("", "Pod"):
        return obj.get("metadata") or {}, obj.get("spec") or {}
    spec = obj.get("spec") or {}
    if a.is_resource("", "podtemplates"):
        template = obj.get("template") or {}
    elif a.is_resource("batch", "cronjobs"):
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    else:
        template = spec.get("template") or {}
    if not isinstance(template, dict):
        return None
    return template.get("metadata") or {}, template.get("spec") or {}


@implementer(IValidatingAdmission)
class PodSecurity:
    """
    The plugin.
    """

    name = "PodSecurity"

    def __init__(self, context: PluginContext, config: Any = None) -> None:
        self.context = context
        self.defaults, self.exemptions = config_from(config)

    def handles(self, operation: str) -> bool:
        """
        C{CREATE} and C{UPDATE}.
        """
        return operation in (CREATE, UPDATE)

    async def validate(self, a: Attributes) -> None:
        """
        Enforce, warn and audit.
        """
        if a.is_resource("", "namespaces") and not a.subresource and a.operation == UPDATE:
            await self._namespace_update(a)
            return
        is_pod = a.is_resource("", "pods") and a.subresource in ("", "ephemeralcontainers")
        is_controller = a.group_resource in POD_CONTROLLERS and not a.subresource
        if not (is_pod or is_controller) or not isinstance(a.object, dict) or not a.namespace:
            return
        if a.operation == UPDATE and not self._significant(a):
            return
        if a.namespace in self.exemptions["namespaces"]:
            a.add_annotation(LABEL_PREFIX + "exempt", "namespace")
            return
        user = getattr(a.user, "name", "") if a.user is not None else ""
        if user and user in self.exemptions["usernames"]:
            a.add_annotation(LABEL_PREFIX + "exempt", "user")
            return
        parts = _pod_parts(a)
        if parts is None:
            return
        meta, spec = parts
        if spec.get("runtimeClassName") and spec["runtimeClassName"] in self.exemptions["runtimeClasses"]:
            a.add_annotation(LABEL_PREFIX + "exempt", "runtimeClass")
            return
        ns = await self.context.get("", "namespaces", "", a.namespace, memo=a.memo)
        labels = ((ns or {}).get("metadata") or {}).get("labels") or {}
        policy, errors = policy_for(labels, self.defaults)
        if errors:
            a.add_annotation(LABEL_PREFIX + "error", "; ".join(errors))
        cache: dict[LevelVersion, list[Result]] = {}

        def run(lv: LevelVersion) -> list[Result]:
            if lv not in cache:
                cache[lv] = evaluate(lv.level, meta, spec)
            return cache[lv]

        if is_pod:
            a.add_annotation(LABEL_PREFIX + "enforce-policy", str(policy.enforce))
            failed = run(policy.enforce)
            if failed:
                name = a.name or (a.object.get("metadata") or {}).get("name") or ""
                raise forbidden_error(
                    a.resource[2], name,
                    f"violates PodSecurity {_go_quote(str(policy.enforce))}: {forbidden_detail(failed)}", a.resource[0],
                )
        audit = run(policy.audit)
        if audit:
            a.add_annotation(
                LABEL_PREFIX + "audit-violations",
                f"would violate PodSecurity {_go_quote(str(policy.audit))}: {forbidden_detail(audit)}",
            )
        warn = run(policy.warn)
        if warn:
            a.add_warning(f"would violate PodSecurity {_go_quote(str(policy.warn))}: {forbidden_detail(warn)}")

    async def _namespace_update(self, a: Attributes) -> None:
        """
        A namespace given a new enforce level: warn about its pods that violate it (kube's
        C{EvaluatePodsInNamespace}: pods with the same reasons in one line).
        """
        def labels(o: Any) -> dict:
            return ((o or {}).get("metadata") or {}).get("labels") or {}

        new, _ = policy_for(labels(a.object), self.defaults)
        old, _ = policy_for(labels(a.old_object), self.defaults)
        if new.enforce == old.enforce or new.enforce.level == PRIVILEGED:
            return
        name = a.name
        if name in self.exemptions["namespaces"]:
            return
        pods = sorted(await self.context.list("", "pods", name), key=lambda p: p["metadata"]["name"])
        groups: dict[str, list[str]] = {}
        for pod in pods:
            spec = pod.get("spec") or {}
            if spec.get("runtimeClassName") and spec["runtimeClassName"] in self.exemptions["runtimeClasses"]:
                continue
            failed = evaluate(new.enforce.level, pod.get("metadata") or {}, spec)
            if failed:
                groups.setdefault(", ".join(r.reason for r in failed), []).append(pod["metadata"]["name"])
        if not groups:
            return
        a.add_warning(f"existing pods in namespace {_go_quote(name)} violate the new PodSecurity enforce level "
                      f"{_go_quote(str(new.enforce))}")
        for reasons, names in groups.items():
            others = len(names) - 1
            who = names[0] if not others else f"{names[0]} (and {others} other {plural('pod', 'pods', others)})"
            a.add_warning(f"{who}: {reasons}")

    @staticmethod
    def _significant(a: Attributes) -> bool:
        """
        Whether an update changes what the checks read (the pod spec or template, or the
        annotations they look at).
        """
        old = a.old_object or {}
        new = a.object or {}
        if a.is_kind("", "Pod"):
            def ann(o: dict) -> dict:
                return {k: v for k, v in ((o.get("metadata") or {}).get("annotations") or {}).items()
                        if "apparmor" in k or "seccomp" in k}

            return (old.get("spec") != new.get("spec")) or ann(old) != ann(new)
        return old.get("spec") != new.get("spec") or old.get("template") != new.get("template")


def _go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


@register("PodSecurity")
def _factory(context: PluginContext, config: Any) -> PodSecurity:
    return PodSecurity(context, config)
