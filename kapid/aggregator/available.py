"""
kube's APIService availability controller for the APIServices that name a Service: the Service
must exist (C{ServiceNotFound}), serve the APIService's port (C{ServicePortError}), have a ready
endpoint (C{MissingEndpoints}), and answer a discovery request for the group/version
(C{FailedDiscoveryCheck}); then C{Available=True} (C{Passed}). Checked when an APIService
changes and every C{interval} seconds, so an APIService recovers by itself when its backend
comes back. The condition is written only when it changes.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.web.client import readBody
from twisted.web.http_headers import Headers

from kapid.aggregator.autoregister import condition_differs, write_condition
from kapid.apimachinery.status import StatusError
from kapid.transport.client import WebhookCallError

log = Logger()

#: kube's timeout of one discovery check.
DISCOVERY_TIMEOUT = 6.0
#: How many discovery checks kube makes at once (one success is enough).
ATTEMPTS = 5


def _cond(ok: bool, reason: str, message: str, now: str) -> dict:
    return {
        "type": "Available", "status": "True" if ok else "False", "lastTransitionTime": now,
        "reason": reason, "message": message,
    }


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class AvailabilityController:
    """
    Keeps the C{Available} condition of remote APIServices.

    @param store: the apiservices' store (status writes).
    @param resolver: a L{kapid.transport.resolver.ServiceResolver} (its C{services} store is read).
    @param proxy: the L{kapid.aggregator.proxy.APIServiceProxy} whose clients probe the backends.
    @param clock: for the periodic checks and timeouts.
    @param interval: seconds between checks of every remote APIService.
    @param discovery: the L{kapid.aggregator.discovery.RemoteDiscovery} fed with the discovery
        documents of the APIServices that pass, or None.
    """

    def __init__(
        self, store: Any, resolver: Any, proxy: Any, clock: Any, interval: float = 10.0, discovery: Any = None,
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.proxy = proxy
        self.clock = clock
        self.interval = interval
        self.discovery = discovery
        self._bodies: dict[int, bytes] = {}
        self.api_services: dict[str, dict] = {}
        self.stopped = False
        self._timer: Any = None
        self._checking: set[str] = set()

    def start(self) -> None:
        """
        Check every remote APIService now and every C{interval} seconds.
        """
        self._tick()

    def stop(self) -> None:
        """
        No more checks.
        """
        self.stopped = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()

    def _tick(self) -> None:
        self._timer = None
        if self.stopped:
            return
        for name in sorted(self.api_services):
            self.check_later(name)
        self._timer = self.clock.callLater(self.interval, self._tick)

    def update(self, api_services: dict[str, dict]) -> None:
        """
        Take the current APIServices; check the remote ones whose spec changed or that are new.
        """
        old = self.api_services
        self.api_services = {
            n: o for n, o in api_services.items() if isinstance((o.get("spec") or {}).get("service"), dict)
        }
        for name, obj in self.api_services.items():
            before = old.get(name)
            if before is None or before.get("spec") != obj.get("spec"):
                self.check_later(name)
        if self.discovery is not None:
            self.discovery.keep_only({
                ((o.get("spec") or {}).get("group") or "", (o.get("spec") or {}).get("version") or "")
                for o in self.api_services.values()
            })

    def check_later(self, name: str) -> None:
        """
        Check C{name} (once at a time).
        """
        if self.stopped or name in self._checking:
            return
        self._checking.add(name)
        d = Deferred.fromCoroutine(self.check(name))
        d.addErrback(lambda f: log.failure("availability check of APIService {name} failed", f, name=name))
        d.addBoth(lambda _: self._checking.discard(name))

    async def check(self, name: str) -> Optional[dict]:
        """
        Check APIService C{name} and write its condition when it changed; fires with the condition
        (None when the APIService is gone or local).
        """
        obj = self.api_services.get(name)
        if obj is None:
            return None
        cond = await self.condition(obj)
        if self.discovery is not None:
            spec = obj.get("spec") or {}
            group, version = spec.get("group") or "", spec.get("version") or ""
            body = self._bodies.pop(id(obj), None)
            if cond["status"] == "True" and body is not None and name in self.api_services:
                self.discovery.set(
                    group, version, int(spec.get("groupPriorityMinimum") or 0), int(spec.get("versionPriority") or 0), body
                )
                openapi = await self._fetch(obj, f"/openapi/v3/apis/{group}/{version}" if group else f"/openapi/v3/api/{version}")
                if openapi is not None and name in self.api_services:
                    self.discovery.set_openapi(group, version, openapi)
                await self._fetch_v2(obj, group, version, name)
            else:
                self.discovery.remove(group, version)
        current = self.api_services.get(name) or obj
        if condition_differs(current, cond):
            spec = obj.get("spec")
            await write_condition(self.store, name, cond, lambda o: o.get("spec") == spec)
        return cond

    async def condition(self, obj: dict) -> dict:
        """
        kube's availability checks of one remote APIService, as its C{Available} condition.
        """
        now = self.store.now()
        spec = obj.get("spec") or {}
        svc = spec.get("service") or {}
        ns, svc_name, port = svc.get("namespace") or "", svc.get("name") or "", int(svc.get("port") or 443)
        service = await self._service(ns, svc_name)
        if service is None:
            return _cond(False, "ServiceNotFound", f"service/{svc_name} in {_quote(ns)} is not present", now)
        sspec = service.get("spec") or {}
        port_name = ""
        if (sspec.get("type") or "ClusterIP") == "ClusterIP":
            found = [p for p in sspec.get("ports") or [] if p.get("port") == port]
            if not found:
                return _cond(
                    False, "ServicePortError", f"service/{svc_name} in {_quote(ns)} is not listening on port {port}", now
                )
            port_name = found[0].get("name") or ""
            if not await self._has_endpoints_object(ns, svc_name):
                return _cond(
                    False, "EndpointsNotFound", f"cannot find endpoints for service/{svc_name} in {_quote(ns)}", now
                )
        # kube's five discovery attempts at once: one success is enough; else the last error
        attempts = [Deferred.fromCoroutine(self._attempt(obj, ns, svc_name, port, port_name, now)) for _ in range(ATTEMPTS)]
        results: list[tuple[dict, Optional[bytes]]] = []
        done: Deferred = Deferred()

        def arrived(result: tuple[dict, Optional[bytes]]) -> None:
            results.append(result)
            if (result[0]["status"] == "True" or len(results) == ATTEMPTS) and not done.called:
                done.callback(result)

        for d in attempts:
            d.addCallback(arrived)
            d.addErrback(lambda f: arrived((_cond(False, "FailedDiscoveryCheck", f.getErrorMessage(), now), None)))
        cond, body = await done
        if body is not None:
            self._bodies[id(obj)] = body
        return cond

    async def _has_endpoints_object(self, namespace: str, name: str) -> bool:
        """
        Whether the Service has an Endpoints object (or EndpointSlices, which kapid's resolver
        reads first, as no controller mirrors one into the other here).
        """
        store = getattr(self.resolver, "endpoints", None)
        if store is None:
            return True
        key = store.key(namespace, name)
        if await store.storage.get(key, "0", True) is not None or await store.storage.get(key, "", True) is not None:
            return True
        slices = getattr(self.resolver, "_slices", None)
        return bool(slices is not None and await slices(namespace, name))

    async def _attempt(self, obj: dict, ns: str, svc_name: str, port: int, port_name: str, now: str) -> tuple[dict, Optional[bytes]]:
        """
        One discovery attempt (kube's): resolve an endpoint, GET the group/version's discovery
        as C{system:kube-aggregator} in C{system:masters}; the condition and the body.
        """
        spec = obj.get("spec") or {}
        try:
            location = await self.proxy.resolver.resolve(ns, svc_name, port)
        except StatusError as e:
            if e.code == 503 and "no endpoints" in e.message:
                return _cond(
                    False, "MissingEndpoints",
                    f"endpoints for service/{svc_name} in {_quote(ns)} have no addresses with port name {_quote(port_name)}",
                    now,
                ), None
            return _cond(False, "FailedDiscoveryCheck", e.message, now), None
        path = f"/apis/{spec.get('group')}/{spec.get('version')}"
        if not spec.get("group"):
            path = f"/api/{spec.get('version')}"
        url = f"https://{_host(location.host)}:{location.port}{path}"
        headers = Headers()
        headers.setRawHeaders(b"X-Remote-User", [b"system:kube-aggregator"])
        headers.setRawHeaders(b"X-Remote-Group", [b"system:masters"])
        client = self.proxy.client_for(obj)
        try:
            response = await client.request("GET", path, headers, None, timeout=DISCOVERY_TIMEOUT)
        except WebhookCallError as e:
            if e.kind == "timeout":
                return _cond(False, "FailedDiscoveryCheck", f"timed out waiting for {url}", now), None
            return _cond(False, "FailedDiscoveryCheck", f'failing or missing response from {url}: Get "{url}": {e.reason}', now), None
        code = response.code
        if code < 200 or code >= 300:
            from twisted.internet.protocol import Protocol

            response.deliverBody(Protocol())  # the body is not needed; let the connection go
            return _cond(False, "FailedDiscoveryCheck", f"failing or missing response from {url}: bad status from {url}: {code}", now), None
        try:
            body = await readBody(response)
        except Exception as e:
            return _cond(False, "FailedDiscoveryCheck", f"failing or missing response from {url}: {e}", now), None
        return _cond(True, "Passed", "all checks passed", now), body

    async def _fetch(self, obj: dict, path: str) -> Optional[bytes]:
        """
        The body of a 200 answer of C{obj}'s backend to C{GET path} as the aggregator, or None.
        """
        headers = Headers()
        headers.setRawHeaders(b"X-Remote-User", [b"system:kube-aggregator"])
        headers.setRawHeaders(b"X-Remote-Group", [b"system:masters"])
        headers.setRawHeaders(b"Accept", [b"application/json"])
        try:
            response = await self.proxy.client_for(obj).request("GET", path, headers, None, timeout=DISCOVERY_TIMEOUT)
            body = await readBody(response)
        except Exception:
            return None
        return body if response.code == 200 else None

    async def _fetch_v2(self, obj: dict, group: str, version: str, name: str) -> None:
        """
        The backend's C{/openapi/v2} (JSON), asked with the ETag last seen (kube's OpenAPI v2
        aggregation controller): taken by the discovery table unless unchanged.
        """
        headers = Headers()
        headers.setRawHeaders(b"X-Remote-User", [b"system:kube-aggregator"])
        headers.setRawHeaders(b"X-Remote-Group", [b"system:masters"])
        headers.setRawHeaders(b"Accept", [b"application/json"])
        etag = self.discovery.openapi_v2_etag(group, version)
        if etag:
            headers.setRawHeaders(b"If-None-Match", [etag.encode("latin-1")])
        try:
            response = await self.proxy.client_for(obj).request("GET", "/openapi/v2", headers, None, timeout=DISCOVERY_TIMEOUT)
            body = await readBody(response)
        except Exception:
            return
        if response.code == 200 and name in self.api_services:
            tag = (response.headers.getRawHeaders(b"etag") or [b""])[0].decode("latin-1")
            self.discovery.set_openapi_v2(group, version, body, tag)

    async def _service(self, namespace: str, name: str) -> Optional[dict]:
        store = getattr(self.resolver, "services", None)
        if store is None:
            return None
        key = store.key(namespace, name)
        svc = await store.storage.get(key, "0", True)
        if svc is None:
            svc = await store.storage.get(key, "", True)
        return svc


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
