"""
Auditing (kube's C{audit.k8s.io/v1}): a policy decides each request's level (None, Metadata,
Request, RequestResponse); the audit filter records C{Event}s at C{RequestReceived} and
C{ResponseComplete}; the log backend writes them as JSON lines (or kube's legacy text) to
C{--audit-log-path}, rotated by size.
"""

from __future__ import annotations

import datetime
import sys
import uuid
from typing import Any, Sequence

import attr
import orjson
import yaml
from twisted.logger import Logger

from kapid.auth.interfaces import Attributes, UserInfo
from kapid.server import context
from kapid.server.filters import Filter

log = Logger()

NONE, METADATA, REQUEST, REQUEST_RESPONSE = "None", "Metadata", "Request", "RequestResponse"
LEVELS = (NONE, METADATA, REQUEST, REQUEST_RESPONSE)
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")

_AUDIT_ID = "_kapid_audit_id"
_AUTHZ = "_kapid_authz_decision"
_ANNOTATIONS = "_kapid_audit_annotations"


class PolicyError(ValueError):
    """
    The audit policy file is not a valid C{audit.k8s.io/v1} Policy.
    """


@attr.s(frozen=True, auto_attribs=True)
class GroupResources:
    """
    A rule's resources of one API group.
    """

    group: str = ""
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()


@attr.s(frozen=True, auto_attribs=True)
class PolicyRule:
    """
    One rule of an audit policy (kube's C{audit.PolicyRule}).
    """

    level: str
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: tuple[str, ...] = ()

    def matches(self, a: Attributes) -> bool:
        """
        Whether the rule applies to a request with attributes C{a} (kube's C{ruleMatches}).
        """
        if self.users and a.user.name not in self.users:
            return False
        if self.user_groups and not set(self.user_groups) & set(a.user.groups):
            return False
        if self.verbs and a.verb not in self.verbs:
            return False
        if self.namespaces or self.resources:
            if not a.is_resource_request:
                return False
            if self.namespaces and a.namespace not in self.namespaces:
                return False
            if self.resources and not any(self._resource_matches(gr, a) for gr in self.resources):
                return False
        if self.non_resource_urls:
            if a.is_resource_request:
                return False
            if not any(_url_matches(p, a.path) for p in self.non_resource_urls):
                return False
        return True

    @staticmethod
    def _resource_matches(gr: GroupResources, a: Attributes) -> bool:
        if gr.group != a.api_group:
            return False
        if not gr.resources:
            return True
        combined = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        for pattern in gr.resources:
            if pattern in (combined, "*") or (pattern.endswith("/*") and a.subresource and pattern[:-2] == a.resource):
                break
            if pattern.startswith("*/") and a.subresource and pattern[2:] == a.subresource:
                break
        else:
            return False
        return not gr.resource_names or a.name in gr.resource_names


def _url_matches(pattern: str, path: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where} must be a list of strings")
    return tuple(value)


@attr.s(frozen=True, auto_attribs=True)
class Policy:
    """
    An audit policy: the first matching rule decides the level; C{omit_stages} apply to all.
    """

    rules: tuple[PolicyRule, ...]
    omit_stages: tuple[str, ...] = ()

    @classmethod
    def from_file(cls, path: str) -> "Policy":
        """
        Read and check a policy file (YAML or JSON); raise L{PolicyError}.
        """
        try:
            with open(path, "rb") as f:
                doc = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as e:
            raise PolicyError(f"cannot read audit policy {path}: {e}")
        return cls.from_dict(doc)

    @classmethod
    def from_dict(cls, doc: Any) -> "Policy":
        """
        A policy from its parsed document; raise L{PolicyError}.
        """
        if not isinstance(doc, dict) or doc.get("kind") != "Policy":
            raise PolicyError("the audit policy must be a document of kind Policy")
        if doc.get("apiVersion") not in ("audit.k8s.io/v1", "audit.k8s.io/v1beta1"):
            raise PolicyError(f"unsupported audit policy apiVersion {doc.get('apiVersion')!r}")
        rules = []
        for i, raw in enumerate(doc.get("rules") or []):
            where = f"rules[{i}]"
            if not isinstance(raw, dict):
                raise PolicyError(f"{where} must be an object")
            level = raw.get("level")
            if level not in LEVELS:
                raise PolicyError(f"{where}.level: {level!r} is not one of {', '.join(LEVELS)}")
            groups = []
            for j, gr in enumerate(raw.get("resources") or []):
                if not isinstance(gr, dict):
                    raise PolicyError(f"{where}.resources[{j}] must be an object")
                groups.append(GroupResources(
                    group=gr.get("group") or "",
                    resources=_strings(gr.get("resources"), f"{where}.resources[{j}].resources"),
                    resource_names=_strings(gr.get("resourceNames"), f"{where}.resources[{j}].resourceNames"),
                ))
            rule = PolicyRule(
                level=level,
                users=_strings(raw.get("users"), f"{where}.users"),
                user_groups=_strings(raw.get("userGroups"), f"{where}.userGroups"),
                verbs=_strings(raw.get("verbs"), f"{where}.verbs"),
                resources=tuple(groups),
                namespaces=_strings(raw.get("namespaces"), f"{where}.namespaces"),
                non_resource_urls=_strings(raw.get("nonResourceURLs"), f"{where}.nonResourceURLs"),
                omit_stages=_strings(raw.get("omitStages"), f"{where}.omitStages"),
            )
            if rule.non_resource_urls and (rule.resources or rule.namespaces):
                raise PolicyError(f"{where}: rules cannot apply to both regular resources and non-resource URLs")
            for stage in rule.omit_stages:
                if stage not in STAGES:
                    raise PolicyError(f"{where}.omitStages: unknown stage {stage!r}")
            rules.append(rule)
        omit = _strings(doc.get("omitStages"), "omitStages")
        for stage in omit:
            if stage not in STAGES:
                raise PolicyError(f"omitStages: unknown stage {stage!r}")
        return cls(tuple(rules), omit)

    def level_for(self, a: Attributes) -> tuple[str, tuple[str, ...]]:
        """
        The level and omitted stages for a request (None when no rule matches).
        """
        for rule in self.rules:
            if rule.matches(a):
                return rule.level, tuple(set(rule.omit_stages) | set(self.omit_stages))
        return NONE, self.omit_stages


class AuditLog:
    """
    The log backend: one event per line, C{json} (kube's Event) or C{legacy} text, to a file
    rotated by size (C{maxsize} MB, C{maxbackup} old files kept) or to standard out (C{"-"}).
    """

    def __init__(self, path: str, fmt: str = "json", maxsize_mb: int = 0, maxbackup: int = 0) -> None:
        self.format = fmt
        if path == "-":
            self._file: Any = sys.stdout
            self._owned = False
        else:
            import os

            from twisted.python.logfile import LogFile

            directory = os.path.dirname(os.path.abspath(path)) or "."
            os.makedirs(directory, exist_ok=True)
            self._file = LogFile(
                os.path.basename(path), directory,
                rotateLength=maxsize_mb * 1024 * 1024 if maxsize_mb else None,
                maxRotatedFiles=maxbackup or None,
            )
            self._owned = True

    def write(self, event: dict[str, Any]) -> None:
        """
        Write one event.
        """
        if self.format == "legacy":
            line = _legacy(event)
        else:
            line = orjson.dumps(event).decode("utf-8")
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        """
        Flush and close the file.
        """
        try:
            self._file.flush()
        finally:
            if self._owned:
                self._file.close()


def _legacy(event: dict[str, Any]) -> str:
    user = event.get("user", {})
    ref = event.get("objectRef", {})
    imp = event.get("impersonatedUser") or {}
    groups = ",".join(f'"{g}"' for g in user.get("groups", []))
    return (
        f'{event["stageTimestamp"]} AUDIT: id="{event["auditID"]}" stage="{event["stage"]}" '
        f'ip="{",".join(event.get("sourceIPs", []))}" method="{event["verb"]}" user="{user.get("username", "")}" '
        f'groups="{groups}" as="{imp.get("username", "<self>")}" asgroups="<lookup>" '
        f'user-agent="{event.get("userAgent", "")}" namespace="{ref.get("namespace", "")}" '
        f'uri="{event["requestURI"]}"'
        + (f' response="{event["responseStatus"]["code"]}"' if "responseStatus" in event else "")
    )


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def audit_id(request: Any) -> str:
    """
    The request's audit ID (kube's C{Audit-Id} header), made on first use.
    """
    value = getattr(request, _AUDIT_ID, None)
    if value is None:
        supplied = request.getHeader(b"audit-id")
        value = supplied.decode("latin-1") if supplied else str(uuid.uuid4())
        setattr(request, _AUDIT_ID, value)
    return value


def record_authorization(request: Any, decision: str, reason: str) -> None:
    """
    Remember the authorization decision for the audit annotations.
    """
    setattr(request, _AUTHZ, (decision, reason))


def add_annotations(request: Any, values: dict[str, str]) -> None:
    """
    Add audit annotations (admission plugins' and webhooks'); a key keeps its first value.
    """
    current = getattr(request, _ANNOTATIONS, None)
    if current is None:
        current = {}
        setattr(request, _ANNOTATIONS, current)
    for k, v in values.items():
        current.setdefault(k, v)


def _user(u: UserInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"username": u.name}
    if u.uid:
        out["uid"] = u.uid
    if u.groups:
        out["groups"] = list(u.groups)
    if u.extra:
        out["extra"] = {k: list(v) for k, v in u.extra.items()}
    return out


def _json_body(data: bytes) -> Any:
    try:
        return orjson.loads(data) if data else None
    except orjson.JSONDecodeError:
        return None


class AuditFilter(Filter):
    """
    Records audit events for the requests the policy selects.
    """

    def __init__(self, wrapped: Any, policy: Policy, backend: Any) -> None:
        super().__init__(wrapped)
        self.policy = policy
        self.backend = backend

    def render(self, request: Any) -> Any:
        """
        Record C{RequestReceived}, arrange C{ResponseComplete}, then render the chain.
        """
        from kapid.server.filters.authz import attributes_of

        attributes = attributes_of(request)
        level, omit = self.policy.level_for(attributes)
        if level == NONE:
            return self.wrapped.render(request)
        info = context.request_info(request)
        event: dict[str, Any] = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": level,
            "auditID": audit_id(request),
            "stage": "RequestReceived",
            "requestURI": request.uri.decode("latin-1"),
            "verb": attributes.verb,
            "user": _user(attributes.user),
            "sourceIPs": _source_ips(request),
            "userAgent": (request.getHeader(b"user-agent") or b"").decode("latin-1"),
        }
        if info is not None and info.is_resource_request:
            ref = {"resource": info.resource, "namespace": info.namespace, "name": info.name,
                   "apiGroup": info.api_group, "apiVersion": info.api_version, "subresource": info.subresource}
            event["objectRef"] = {k: v for k, v in ref.items() if v}
        if level in (REQUEST, REQUEST_RESPONSE) and request.method in (b"POST", b"PUT", b"PATCH", b"DELETE"):
            try:
                request.content.seek(0)
                body = _json_body(request.content.read())
                request.content.seek(0)
            except Exception:
                body = None
            if body is not None:
                event["requestObject"] = body
        event["requestReceivedTimestamp"] = _now()
        event["stageTimestamp"] = event["requestReceivedTimestamp"]
        if "RequestReceived" not in omit:
            self._emit(event)
        captured: list[bytes] = []
        long_running = bool(info and info.is_long_running)
        if not long_running:
            original = request.write

            def write(data: bytes) -> None:
                if sum(map(len, captured)) < 1 << 20:
                    captured.append(data)
                original(data)

            request.write = write
        request.notifyFinish().addBoth(lambda _: self._complete(request, event, level, omit, captured))
        return self.wrapped.render(request)

    def _complete(self, request: Any, event: dict[str, Any], level: str, omit: Sequence[str], captured: list[bytes]) -> None:
        if "ResponseComplete" in omit:
            return
        from kapid.server.filters.impersonation import impersonator

        done = dict(event)
        done["stage"] = "ResponseComplete"
        actor = impersonator(request)
        if actor is not None:
            done["user"] = _user(actor)
            current = context.user(request)
            if current is not None:
                done["impersonatedUser"] = _user(current)
        code = request.code
        status: dict[str, Any] = {"metadata": {}, "code": code}
        body = b"".join(captured)
        parsed = _json_body(body) if captured else None
        if code >= 400 and isinstance(parsed, dict) and parsed.get("kind") == "Status":
            for key in ("status", "message", "reason"):
                if key in parsed:
                    status[key] = parsed[key]
        done["responseStatus"] = status
        if level == REQUEST_RESPONSE and parsed is not None:
            done["responseObject"] = parsed
        done["stageTimestamp"] = _now()
        decision = getattr(request, _AUTHZ, None)
        if decision is not None:
            done["annotations"] = {
                "authorization.k8s.io/decision": "allow" if decision[0] == "Allow" else "forbid",
                "authorization.k8s.io/reason": decision[1],
            }
        extra = getattr(request, _ANNOTATIONS, None)
        if extra:
            done.setdefault("annotations", {}).update(extra)
        self._emit(done)

    def _emit(self, event: dict[str, Any]) -> None:
        try:
            self.backend.write(event)
        except Exception:
            log.failure("Writing an audit event failed")


def _source_ips(request: Any) -> list[str]:
    ips: list[str] = []
    forwarded = request.getHeader(b"x-forwarded-for")
    if forwarded:
        ips += [ip.strip() for ip in forwarded.decode("latin-1").split(",") if ip.strip()]
    peer = getattr(request.getClientAddress(), "host", "")
    if peer and peer not in ips:
        ips.append(peer)
    return ips
