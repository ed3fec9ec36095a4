"""
kube-apiserver's identity Lease (KEP-1965), in every kapid process (no leader election): a Lease
C{apiserver-<hash of the hostname>} in kube-system labelled
C{apiserver.kubernetes.io/identity=kube-apiserver} and C{kubernetes.io/hostname}, held by
C{<lease name>_<random uuid>} for 3600 s and renewed every 10 s; a process with the same hostname
takes the Lease over. Leases of servers that stopped renewing are deleted once expired (checked
every lease duration), as kube's identity lease garbage collector does.
"""

from __future__ import annotations

import hashlib
import socket
import uuid
from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kapid.apimachinery import meta as metautil
from kapid.apimachinery.status import StatusError
from kapid.storage.interfaces import ListOptions, Preconditions

log = Logger()

NAMESPACE = "kube-system"
IDENTITY_LABEL = "apiserver.kubernetes.io/identity"
HOSTNAME_LABEL = "kubernetes.io/hostname"
DURATION = 3600
RENEW_INTERVAL = 10.0


def lease_name(hostname: str) -> str:
    """
    C{apiserver-} and a hash of C{hostname}.
    """
    return "apiserver-" + hashlib.sha256(hostname.encode("utf-8")).hexdigest()[:26]


class IdentityLease:
    """
    Keeps this server's identity Lease and collects expired ones.

    @param leases: the Leases' L{kapid.registry.store.RegistryStore}.
    """

    def __init__(
        self,
        leases: Any,
        clock: Any,
        hostname: Optional[str] = None,
        renew_interval: float = RENEW_INTERVAL,
        duration: int = DURATION,
    ) -> None:
        self.leases = leases
        self.clock = clock
        self.hostname = hostname or socket.gethostname()
        self.name = lease_name(self.hostname)
        self.identity = f"{self.name}_{uuid.uuid4()}"
        self.renew_interval = renew_interval
        self.duration = duration
        self.stopped = False
        self._timers: dict[str, Any] = {}

    def start(self) -> Deferred:
        """
        Write the Lease now, then renew it and collect expired ones on timers; fires after the
        first write.
        """
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        await self._guarded(self.renew)
        self._every("renew", self.renew_interval, self.renew)
        self._every("gc", float(self.duration), self.collect)

    def _every(self, what: str, interval: float, fn: Any) -> None:
        def run() -> None:
            if self.stopped:
                return
            d = Deferred.fromCoroutine(self._guarded(fn))
            d.addBoth(lambda _: self._every(what, interval, fn))

        if not self.stopped:
            self._timers[what] = self.clock.callLater(interval, run)

    async def _guarded(self, fn: Any) -> None:
        try:
            await fn()
        except Exception as e:
            log.warn("apiserver identity lease: {e}", e=e.message if isinstance(e, StatusError) else e)

    async def renew(self) -> None:
        """
        Create the Lease, or take it over and set its renew time.
        """
        stamp = metautil.micro_timestamp(self.clock.seconds())
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": self.duration, "renewTime": stamp}
        labels = {IDENTITY_LABEL: "kube-apiserver", HOSTNAME_LABEL: self.hostname}

        def update(cur: Optional[dict]) -> dict:
            if cur is None:
                return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                        "metadata": {"name": self.name, "namespace": NAMESPACE, "labels": labels}, "spec": spec}
            cur = dict(cur)
            meta = dict(cur.get("metadata") or {})
            meta["labels"] = {**(meta.get("labels") or {}), **labels}
            cur["metadata"] = meta
            cur["spec"] = {**(cur.get("spec") or {}), **spec}
            return cur

        await self.leases.update(NAMESPACE, self.name, update, "v1", force_allow_create=True)

    async def collect(self) -> None:
        """
        Delete the identity Leases whose renew time is older than their duration.
        """
        res = await self.leases.storage.get_list(self.leases.list_key(NAMESPACE), ListOptions())
        now = self.clock.seconds()
        for lease in res["items"]:
            meta = lease.get("metadata") or {}
            if (meta.get("labels") or {}).get(IDENTITY_LABEL) != "kube-apiserver" or meta.get("name") == self.name:
                continue
            spec = lease.get("spec") or {}
            renewed = metautil.parse_timestamp(spec.get("renewTime") or "")
            if renewed is None or renewed + float(spec.get("leaseDurationSeconds") or 0) > now:
                continue
            try:
                await self.leases.storage.delete(
                    self.leases.key(NAMESPACE, meta["name"]),
                    Preconditions(uid=meta.get("uid"), resource_version=meta.get("resourceVersion")),
                )
                log.info("deleted the expired apiserver identity lease {name}", name=meta["name"])
            except Exception as e:
                log.warn("deleting the expired apiserver identity lease {name} failed: {e}", name=meta.get("name"), e=e)

    def stop(self) -> None:
        """
        Stop renewing and collecting.
        """
        self.stopped = True
        for t in self._timers.values():
            if t.active():
                t.cancel()
        self._timers = {}


def post_start_hook(service: Any) -> Deferred:
    """
    The daemon's C{start-kube-apiserver-identity-lease-controller} hook (and its collector).
    """
    link = getattr(service, "resource_link", None)
    res = None if link is None else link.registry.get("coordination.k8s.io", "leases")
    if res is None:
        return Deferred.fromCoroutine(_nothing())
    lease = IdentityLease(link.store_for(res), service.reactor)
    service.identity_lease = lease
    stage = getattr(service, "shutdown_initiated", None)
    if stage is not None:
        stage.when_reached().addCallback(lambda _: lease.stop())
    return lease.start()


async def _nothing() -> None:
    return None
