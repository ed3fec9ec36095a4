"""
Fault injection for tests (C{--enable-fault-injection}, refused unless every listener binds a
loopback address): make the next N matching requests fail with a chosen C{Status} or be delayed.

The faults API, under C{/debug/kapid/faults} (through authentication and authorization like any
non-resource path; JSON)::

    POST   /debug/kapid/faults        {"verb": "update", "resource": "configmaps", "namespace": "ns",
                                       "name": "x", "code": 409, "count": 1}         -> 201, the fault
    GET    /debug/kapid/faults        {"faults": [...]}  (the ones still armed)
    DELETE /debug/kapid/faults        every fault removed
    DELETE /debug/kapid/faults/<id>   one fault removed (404 when there is none)
    POST   /debug/kapid/faults/watches/close  {"expired": true, "resource": "", "namespace": ""}
                                      every open watch ended (after a 410 Expired ERROR event
                                      with C{expired}) -> {"closed": n}
    POST   /debug/kapid/faults/compact       storage compacted at its current revision, so older
                                      resourceVersions are gone -> {"compactedRevision": rev}
    POST   /debug/kapid/faults/storage       {"unavailableSeconds": 5}: storage unreachable for that
                                      long (0 ends it): /readyz red, 500 ServerTimeout on storage
                                      operations, as for a real outage

A fault's fields: C{verb} (kube's verb: get, list, watch, create, update, patch, delete,
deletecollection; empty or C{*} for any), C{resource} (C{configmaps}, or C{deployments.apps} /
C{group} for another group), C{subresource}, C{namespace}, C{name} (empty for any), C{count} (how
many requests it hits, default 1; -1 until removed), C{code} (the status code of the answer; 0 to
only delay), C{reason} and C{message} (default: what kube-apiserver says for that code), and
C{delaySeconds} (wait that long first; a delay past the request timeout is answered 504 by the
timeout filter, as kube does).

The answer for a code is what kube-apiserver answers for the real fault: 409 is the optimistic-lock
C{Conflict} on the object, 410 C{Expired}, 429 C{TooManyRequests} with C{Retry-After: 1}, 500
C{InternalError}, 503 C{ServiceUnavailable}, 504 C{Timeout}, 404 C{NotFound} of the object.

So that nobody mistakes an injected fault for a real one: each is logged (C{Injected fault ...}),
a request it hit carries the audit annotation C{kapid.io/injected-fault} (the fault as JSON), and
during an injected storage outage the readyz check C{kapid-fault-injection} fails beside the
storage check.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, Optional

import attr
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import deferLater
from twisted.logger import Logger
from zope.interface import implementer

from kapid.apimachinery import status
from kapid.apimachinery.status import StatusError
from kapid.server import context
from kapid.server.filters import Filter, answer, continue_when
from kapid.storage.interfaces import IKV, UnavailableError

log = Logger()

#: Where the faults API is served.
FAULTS_PATH = "/debug/kapid/faults"

_VERBS = ("", "*", "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")


@attr.s(auto_attribs=True)
class Fault:
    """
    One injected fault (see the module docstring for the fields).

    @ivar remaining: how many more requests it hits (-1: until removed).
    @ivar hits: how many requests it has hit.
    """

    id: str
    verb: str = ""
    resource: str = ""
    group: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    remaining: int = 1
    code: int = 0
    reason: str = ""
    message: str = ""
    delay: float = 0.0
    hits: int = 0

    def matches(self, info: Any) -> bool:
        """
        Whether the resource request C{info} (a L{kapid.server.requestinfo.RequestInfo}) is one
        this fault hits.
        """
        return (
            info is not None
            and info.is_resource_request
            and self.remaining != 0
            and self.verb in ("", "*", info.verb)
            and self.resource in ("", "*", info.resource)
            and (not self.resource or self.resource == "*" or self.group == info.api_group)
            and self.subresource == info.subresource
            and self.namespace in ("", info.namespace)
            and self.name in ("", info.name)
        )

    def error(self, info: Any) -> Optional[StatusError]:
        """
        The C{Status} to answer with (None when the fault only delays).
        """
        if not self.code:
            return None
        default = _default_error(self.code, info)
        return StatusError(
            self.code,
            self.reason or default.reason,
            self.message or default.message,
            default.details if not self.message else None,
            default.headers,
        )

    def to_dict(self) -> dict[str, Any]:
        """
        The fault as the API shows it.
        """
        return {
            "id": self.id, "verb": self.verb, "resource": self.resource, "group": self.group,
            "subresource": self.subresource, "namespace": self.namespace, "name": self.name,
            "count": self.remaining, "code": self.code, "reason": self.reason, "message": self.message,
            "delaySeconds": self.delay, "hits": self.hits,
        }


def _default_error(code: int, info: Any) -> StatusError:
    """
    What kube-apiserver answers for the real fault behind C{code}.
    """
    resource, group, name = info.resource, info.api_group, info.name
    if code == 409:
        return status.conflict(resource, name, group=group)
    if code == 404:
        return status.not_found(resource, name, group=group)
    if code == 410:
        return status.expired("The resourceVersion for the provided watch is too old.")
    if code == 429:
        return status.too_many_requests("Too many requests, please try again later.")
    if code == 500:
        return status.internal_error("etcdserver: request timed out")
    if code == 503:
        return status.service_unavailable("The server is currently unable to handle the request")
    if code == 504:
        return StatusError(504, "Timeout",
                           "Timeout: request did not complete within requested timeout - context deadline exceeded")
    return StatusError(code, "", f"injected fault: {code}")


class FaultRegistry:
    """
    The armed faults of one server (shared by its listeners).
    """

    def __init__(self, kv: Any = None) -> None:
        self.faults: list[Fault] = []
        self._ids = itertools.count(1)
        #: the server's storage (an L{kapid.storage.interfaces.IKV}), for compaction
        self.kv = kv
        #: the open watch requests and their request infos
        self.watches: dict[Any, Any] = {}

    def track_watch(self, request: Any, info: Any) -> None:
        """
        Remember an open watch until its response finishes.
        """
        self.watches[request] = info
        request.notifyFinish().addBoth(lambda _: self.watches.pop(request, None))

    def close_watches(self, expired: bool, resource: str = "", namespace: str = "") -> int:
        """
        End every open watch (of C{resource} and C{namespace} when given) as kube-apiserver ends
        them when its watch is broken: the stream just ends, or (C{expired}) an C{ERROR} event
        with a 410 C{Expired} Status comes first. Returns how many were closed.
        """
        from kapid.server.filters.waitgroup import _ENDER
        from kapid.storage.interfaces import ERROR, Event, ExpiredError

        closed = 0
        for request, info in list(self.watches.items()):
            if resource and info.resource != resource or namespace and info.namespace != namespace:
                continue
            ender = getattr(request, _ENDER, None)
            stream = getattr(ender, "__self__", None)
            closed += 1
            if expired and stream is not None and hasattr(stream, "on_event"):
                rv = str(getattr(stream, "last_rv", "") or "0")
                newer = int(rv) + 1 if rv.isdigit() else rv
                stream.on_event(Event(ERROR, None, ExpiredError(f"too old resource version: {rv} ({newer})")))
            elif ender is not None:
                ender()
            elif not request.finished:
                request.finish()
        log.warn("Injected fault: closed {n} watch(es){how}", n=closed, how=" with 410 Expired" if expired else "")
        return closed

    def health_check(self) -> Any:
        """
        The C{kapid-fault-injection} readyz check: it fails while an injected storage outage goes
        on, so C{/readyz?verbose} names the injection beside the storage check it turned red.
        """
        from kapid.server.healthz import READYZ, HealthCheck

        def check() -> None:
            if isinstance(self.kv, FaultyKV) and self.kv.unavailable:
                raise RuntimeError("storage made unavailable by an injected fault")

        return HealthCheck("kapid-fault-injection", check, (READYZ,))

    def make_storage_unavailable(self, seconds: float) -> float:
        """
        Make the storage unavailable for C{seconds} (0 ends an outage); returns when it ends, in
        the clock's seconds.
        """
        if not isinstance(self.kv, FaultyKV):
            raise status.service_unavailable("storage is not open yet")
        self.kv.unavailable_until = self.kv.clock.seconds() + seconds if seconds > 0 else 0.0
        log.warn("Injected fault: storage unavailable for {s}s", s=seconds)
        return self.kv.unavailable_until

    async def compact(self) -> int:
        """
        Compact the storage at its current revision (every older resourceVersion is then gone
        from storage, as after kube's periodic compaction); returns that revision.
        """
        if self.kv is None:
            raise status.service_unavailable("storage is not open yet")
        revision = int(await self.kv.current_revision())
        await self.kv.compact(revision)
        log.warn("Injected fault: storage compacted at revision {rev}", rev=revision)
        return revision

    def add(self, spec: dict[str, Any]) -> Fault:
        """
        Arm a fault from the API's JSON fields; L{StatusError} (400/422) for bad fields.
        """
        if not isinstance(spec, dict):
            raise status.bad_request("a fault is a JSON object")
        known = {"verb", "resource", "group", "subresource", "namespace", "name", "count", "code", "reason",
                 "message", "delaySeconds"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise status.bad_request(f"unknown fault field(s): {', '.join(unknown)}")
        text = {k: spec.get(k, "") or "" for k in ("verb", "resource", "group", "subresource", "namespace",
                                                   "name", "reason", "message")}
        for key, value in text.items():
            if not isinstance(value, str):
                raise status.bad_request(f"fault field {key} must be a string")
        if text["verb"] not in _VERBS:
            raise status.bad_request(f"fault verb {text['verb']!r} is not one of {', '.join(_VERBS[2:])}")
        resource = text["resource"]
        if "." in resource and not text["group"]:
            resource, text["group"] = resource.split(".", 1)
        count, code, delay = spec.get("count", 1), spec.get("code", 0), spec.get("delaySeconds", 0)
        if not isinstance(count, int) or isinstance(count, bool) or count == 0 or count < -1:
            raise status.bad_request("fault count must be a positive integer, or -1 for every request")
        if not isinstance(code, int) or isinstance(code, bool) or (code and not 400 <= code <= 599):
            raise status.bad_request("fault code must be an HTTP error status (400-599), or 0 to only delay")
        if not isinstance(delay, (int, float)) or isinstance(delay, bool) or delay < 0:
            raise status.bad_request("fault delaySeconds must be a non-negative number")
        if not code and not delay:
            raise status.bad_request("a fault needs a code, a delaySeconds, or both")
        fault = Fault(
            str(next(self._ids)), text["verb"], resource, text["group"], text["subresource"], text["namespace"],
            text["name"], count, code, text["reason"], text["message"], float(delay),
        )
        self.faults.append(fault)
        log.warn("Fault injected: {fault}", fault=json.dumps(fault.to_dict()))
        return fault

    def take(self, info: Any) -> Optional[Fault]:
        """
        The first armed fault C{info} matches, counted as hit (and disarmed after its last hit).
        """
        for fault in self.faults:
            if fault.matches(info):
                fault.hits += 1
                if fault.remaining > 0:
                    fault.remaining -= 1
                if fault.remaining == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def remove(self, fault_id: str) -> bool:
        """
        Disarm one fault; False when there is none with C{fault_id}.
        """
        for fault in self.faults:
            if fault.id == fault_id:
                self.faults.remove(fault)
                return True
        return False

    def clear(self) -> None:
        """
        Disarm every fault.
        """
        self.faults.clear()


#: The IKV calls a storage outage fails (watches go on: like kapid's etcd watches, they resume).
_GUARDED = ("get", "list", "count", "optimistic_put", "optimistic_delete", "put_all", "grant_lease", "compact",
            "current_revision", "check_health")


@implementer(IKV)
class FaultyKV:
    """
    An L{IKV} in front of the server's storage that can be made unavailable for a while: every call
    then fails with L{UnavailableError}, as the etcd client's do when etcd cannot be reached, so
    the stack above answers what it answers for a real outage (C{/readyz} red, 500
    C{ServerTimeout} on storage operations). Watches are left alone: no writes happen meanwhile.
    """

    def __init__(self, kv: Any, clock: Any) -> None:
        self.kv = kv
        self.clock = clock
        self.unavailable_until = 0.0

    @property
    def unavailable(self) -> bool:
        """
        Whether the injected outage is still going on.
        """
        return self.clock.seconds() < self.unavailable_until

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.kv, name)
        if name not in _GUARDED:
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if self.unavailable:
                return fail(UnavailableError("storage unavailable (injected fault)"))
            return attribute(*args, **kwargs)

        return guarded


def _json(request: Any, code: int, body: Any) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"application/json")
    request.setHeader(b"Cache-Control", b"no-cache, private")
    return json.dumps(body).encode("utf-8") + b"\n"


class FaultFilter(Filter):
    """
    Serves the faults API and applies armed faults to the requests they match (innermost, so the
    request has been authenticated and authorized like the real one).
    """

    def __init__(self, wrapped: Any, faults: FaultRegistry, clock: Any) -> None:
        super().__init__(wrapped)
        self.faults = faults
        self.clock = clock

    def render(self, request: Any) -> Any:
        """
        The faults API, or a fault, or the chain.
        """
        path = request.path.decode("utf-8", "replace")
        if path == FAULTS_PATH or path.startswith(FAULTS_PATH + "/"):
            try:
                return self._api(request, path[len(FAULTS_PATH):].strip("/"))
            except StatusError as e:
                return answer(request, e)
        info = context.request_info(request)
        fault = self.faults.take(info) if self.faults.faults else None
        if info is not None and info.verb == "watch":
            self.faults.track_watch(request, info)
        if fault is None or info is None:
            return self.wrapped.render(request)
        log.warn(
            "Injected fault {id} on {verb} {uri}: {what}", id=fault.id, verb=info.verb,
            uri=request.uri.decode("utf-8", "replace"),
            what=f"{fault.code or 'no error'}" + (f" after {fault.delay}s" if fault.delay else ""),
        )
        from kapid.server.audit import add_annotations

        add_annotations(request, {"kapid.io/injected-fault": json.dumps(fault.to_dict(), sort_keys=True)})
        error = fault.error(info)

        def go(_: Any) -> Any:
            if error is not None:
                raise error
            return self.wrapped.render(request)

        if fault.delay:
            return continue_when(request, deferLater(self.clock, fault.delay, lambda: None), go)
        try:
            return go(None)
        except StatusError as e:
            return answer(request, e)

    @staticmethod
    def _body(request: Any, empty: Any = {}) -> Any:
        raw = request.content.read() if request.content is not None else b""
        if not raw.strip():
            return dict(empty) if isinstance(empty, dict) else empty
        try:
            return json.loads(raw)
        except ValueError as e:
            raise status.bad_request(f"the body is not valid JSON: {e}")

    def _api(self, request: Any, rest: str) -> Any:
        method = request.method
        if not rest and method == b"GET":
            return _json(request, 200, {"faults": [f.to_dict() for f in self.faults.faults]})
        if not rest and method == b"POST":
            return _json(request, 201, self.faults.add(self._body(request, None)).to_dict())
        if not rest and method == b"DELETE":
            self.faults.clear()
            return _json(request, 200, {"faults": []})
        if rest == "watches/close" and method == b"POST":
            spec = self._body(request)
            expired = spec.get("expired", False)
            if not isinstance(expired, bool):
                raise status.bad_request("expired must be true or false")
            closed = self.faults.close_watches(expired, str(spec.get("resource") or ""),
                                               str(spec.get("namespace") or ""))
            return _json(request, 200, {"closed": closed})
        if rest == "storage" and method == b"POST":
            seconds = self._body(request).get("unavailableSeconds")
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
                raise status.bad_request("unavailableSeconds must be a non-negative number")
            until = self.faults.make_storage_unavailable(float(seconds))
            return _json(request, 200, {"unavailableSeconds": seconds, "unavailableUntil": until})
        if rest == "compact" and method == b"POST":
            d = Deferred.fromCoroutine(self.faults.compact())
            return continue_when(request, d, lambda revision: _json(request, 200, {"compactedRevision": revision}))
        if rest and "/" not in rest and method == b"DELETE":
            if not self.faults.remove(rest):
                raise StatusError(404, "NotFound", f"fault {rest!r} not found")
            return _json(request, 200, {"faults": [f.to_dict() for f in self.faults.faults]})
        if rest:
            raise status.path_not_found()
        raise status.method_not_supported("faults", method.decode("ascii", "replace").lower())
