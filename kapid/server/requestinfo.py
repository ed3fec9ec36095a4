"""
Kube's C{RequestInfoFactory}: what a request is about (verb, API prefix, group, version,
namespace, resource, subresource, name), parsed from its method, path and query as kube-apiserver
parses them; plus kube's long-running request check.
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import attr

API_PREFIXES = frozenset({"api", "apis"})
GROUPLESS_API_PREFIXES = frozenset({"api"})
SPECIAL_VERBS = frozenset({"proxy", "watch"})
SPECIAL_VERBS_NO_SUBRESOURCES = frozenset({"proxy"})
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})

#: kube-apiserver's long-running verbs and subresources (C{--long-running-request-regexp} default).
LONG_RUNNING_VERBS = frozenset({"watch", "proxy"})
LONG_RUNNING_SUBRESOURCES = frozenset({"attach", "exec", "proxy", "log", "portforward"})

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class RequestInfoError(ValueError):
    """
    The URL cannot be parsed (kube answers 500 C{failed to create RequestInfo: ...}).
    """


@attr.s(frozen=True, slots=True, auto_attribs=True)
class RequestInfo:
    """
    Kube's C{request.RequestInfo}.
    """

    is_resource_request: bool
    path: str
    verb: str
    api_prefix: str = ""
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    parts: tuple[str, ...] = ()

    @property
    def is_long_running(self) -> bool:
        """
        Whether kube treats the request as long-running (exempt from timeout and max-in-flight).
        """
        if self.verb in LONG_RUNNING_VERBS:
            return True
        return self.is_resource_request and self.subresource in LONG_RUNNING_SUBRESOURCES


def split_path(path: str) -> list[str]:
    """
    The segments of a URL path (kube's C{splitPath}).
    """
    path = path.strip("/")
    return path.split("/") if path else []


def _valid_path_segment_name(name: str) -> bool:
    """
    Kube's C{path.IsValidPathSegmentName}.
    """
    return name not in (".", "..") and "/" not in name and "%" not in name


def _exact_name(selector: str) -> Optional[str]:
    """
    The name a field selector requires exactly (C{metadata.name=x} or C{metadata.name==x}), or None;
    a selector that does not parse gives None.
    """
    terms = selector.split(",") if selector else []
    name = None
    for term in terms:
        for op in ("!=", "==", "="):
            if op in term:
                field, _, value = term.partition(op)
                break
        else:
            return None  # a term without an operator: invalid selector
        if op != "!=" and field.strip() == "metadata.name":
            name = value.strip()
    return name


def new_request_info(method: str, path: str, query: Mapping[str, Sequence[str]]) -> RequestInfo:
    """
    Parse a request as kube's C{RequestInfoFactory.NewRequestInfo} does. C{query} maps parameter
    names to their values (as C{request.args} does, with text keys and values).
    """
    verb = method.lower()
    parts = split_path(path)
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return RequestInfo(is_resource_request=False, path=path, verb=verb)
    api_prefix = parts[0]
    parts = parts[1:]
    api_group = ""
    if api_prefix not in GROUPLESS_API_PREFIXES:
        if len(parts) < 3:
            return RequestInfo(is_resource_request=False, path=path, verb=verb)
        api_group = parts[0]
        parts = parts[1:]
    api_version = parts[0]
    parts = parts[1:]
    if parts[0] in SPECIAL_VERBS:
        if len(parts) < 2:
            raise RequestInfoError(f"unable to determine kind and namespace from url, {path}")
        verb = parts[0]
        parts = parts[1:]
    else:
        verb = {
            "POST": "create",
            "GET": "get",
            "HEAD": "get",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete",
        }.get(method.upper(), "")
    namespace = ""
    if parts[0] == "namespaces":
        if len(parts) == 2 and verb == "patch":
            # server-side apply creating a namespace: the namespace is not the request's namespace
            namespace = ""
        elif len(parts) > 1:
            namespace = parts[1]
            if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
                parts = parts[2:]
    resource = subresource = name = ""
    if len(parts) >= 3 and verb not in SPECIAL_VERBS_NO_SUBRESOURCES:
        subresource = parts[2]
    if len(parts) >= 2:
        name = parts[1]
    if len(parts) >= 1:
        resource = parts[0]
    if not name and verb == "get":
        watch = query.get("watch") or []
        if watch and str(watch[0]).lower() not in ("false", "0"):
            verb = "watch"
        else:
            verb = "list"
        selector = query.get("fieldSelector") or []
        if selector:
            exact = _exact_name(str(selector[0]))
            if exact and _valid_path_segment_name(exact):
                name = exact
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(
        is_resource_request=True,
        path=path,
        verb=verb,
        api_prefix=api_prefix,
        api_group=api_group,
        api_version=api_version,
        namespace=namespace,
        resource=resource,
        subresource=subresource,
        name=name,
        parts=tuple(parts),
    )
