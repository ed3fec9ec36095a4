"""
The C{default} ServiceAccount in every namespace (kube's C{serviceaccounts-controller}): created for
the namespaces that exist when the server starts, for every namespace created later, and again
when someone deletes it. Terminating namespaces get none.

L{post_start_hook} is the daemon's post-start hook (C{hook(kapid_service)}); it returns once every
existing namespace has its account and leaves a storage watch running (restarted when it ends)
until the server begins to shut down.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kapid.apimachinery.status import StatusError
from kapid.storage.interfaces import ADDED, DELETED, ERROR, MODIFIED, Event, ListOptions

log = Logger()

DEFAULT_NAME = "default"


class ServiceAccountsController:
    """
    Keeps a C{default} ServiceAccount in every active namespace.

    @ivar namespaces: the namespaces' L{kapid.registry.store.RegistryStore}.
    @ivar service_accounts: the serviceaccounts' store.
    @ivar clock: for the delay before a watch that ended starts again.
    @ivar retry_delay: that delay, in seconds.
    """

    def __init__(self, namespaces: Any, service_accounts: Any, clock: Any, retry_delay: float = 1.0) -> None:
        self.namespaces = namespaces
        self.service_accounts = service_accounts
        self.clock = clock
        self.retry_delay = retry_delay
        self.stopped = False
        self._watchers: list[Any] = []
        self._queue: list[str] = []
        self._working: Optional[Deferred] = None
        self._restart: Any = None

    @property
    def storage(self) -> Any:
        """
        The L{IStorage} both stores use.
        """
        return self.namespaces.storage

    async def ensure(self, namespace: str) -> bool:
        """
        Create C{default} in C{namespace} when it is missing; True when this call created it.
        """
        try:
            await self.service_accounts.get(namespace, DEFAULT_NAME, "v1")
            return False
        except StatusError as e:
            if e.code != 404:
                raise
        obj = {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": DEFAULT_NAME}}
        default = getattr(self.service_accounts.strategy, "default", None)
        if default is not None:
            default("v1", obj)
        try:
            await self.service_accounts.create(namespace, obj, "v1")
        except StatusError as e:
            # 409: made meanwhile; 403/404: the namespace is terminating or gone
            if e.code in (403, 404, 409):
                return False
            raise
        return True

    async def sync_all(self) -> str:
        """
        Ensure the account in every active namespace; fires with the list's resourceVersion.
        """
        res = await self.storage.get_list(self.namespaces.list_key(""), ListOptions())
        for ns in res["items"]:
            meta = ns.get("metadata") or {}
            if not meta.get("deletionTimestamp"):
                await self.ensure(meta.get("name", ""))
        return res["resourceVersion"]

    def start(self) -> Deferred:
        """
        Sync every namespace, then watch namespaces and accounts; fires when the first sync is
        done.
        """
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        rv = await self.sync_all()
        if self.stopped:
            return
        opts = ListOptions(resource_version=rv)
        ns_watch = await self.storage.watch(self.namespaces.list_key(""), opts, self._on_namespace)
        sa_watch = await self.storage.watch(self.service_accounts.list_key(""), opts, self._on_account)
        self._watchers = [ns_watch, sa_watch]
        if self.stopped:
            self._stop_watchers()
            return
        for w in self._watchers:
            w.done.addBoth(self._watch_ended)

    def _on_namespace(self, event: Event) -> None:
        if event.type == ERROR:
            self._stop_watchers()
            return
        if event.type in (ADDED, MODIFIED) and event.object is not None:
            meta = event.object.get("metadata") or {}
            if not meta.get("deletionTimestamp"):
                self._enqueue(meta.get("name", ""))

    def _on_account(self, event: Event) -> None:
        if event.type == ERROR:
            self._stop_watchers()
            return
        if event.type == DELETED and event.object is not None:
            meta = event.object.get("metadata") or {}
            if meta.get("name") == DEFAULT_NAME:
                self._enqueue(meta.get("namespace", ""))

    def _enqueue(self, namespace: str) -> None:
        if not namespace or namespace in self._queue:
            return
        self._queue.append(namespace)
        if self._working is None:
            d = Deferred.fromCoroutine(self._drain())
            if not d.called:  # (a drain that finished at once has already cleared _working)
                self._working = d

    async def _drain(self) -> None:
        while self._queue and not self.stopped:
            namespace = self._queue.pop(0)
            try:
                await self.ensure(namespace)
            except Exception:
                log.failure("creating the default service account in {namespace} failed", namespace=namespace)
        self._working = None

    def _stop_watchers(self) -> None:
        watchers, self._watchers = self._watchers, []
        for w in watchers:
            w.stop()

    def _watch_ended(self, result: Any) -> None:
        # one watch ended: end the other too, and start both again after a while
        self._stop_watchers()
        if self.stopped or self._restart is not None:
            return None

        def again() -> None:
            self._restart = None
            if self.stopped:
                return
            d = self.start()
            d.addErrback(self._start_failed)

        self._restart = self.clock.callLater(self.retry_delay, again)
        return None

    def _start_failed(self, failure: Any) -> None:
        log.failure("serviceaccounts controller failed to start again", failure)
        self._watch_ended(None)

    def stop(self) -> None:
        """
        End the watches; nothing more is created.
        """
        self.stopped = True
        if self._restart is not None and self._restart.active():
            self._restart.cancel()
        self._restart = None
        self._stop_watchers()


def controller_for(link: Any, clock: Any) -> Optional[ServiceAccountsController]:
    """
    The controller over a L{kapid.endpoints.link.ResourceLink}'s stores (None when it serves no
    namespaces or service accounts).
    """
    ns = link.registry.lookup("", "v1", "namespaces")
    sa = link.registry.lookup("", "v1", "serviceaccounts")
    if ns is None or sa is None:
        return None
    return ServiceAccountsController(link.store_for(ns), link.store_for(sa), clock)


def post_start_hook(service: Any) -> Deferred:
    """
    The daemon's post-start hook (register it as C{serviceaccounts-controller}): start the
    controller of C{service.resource_link}, stopped when the server's shutdown begins.
    """
    link = getattr(service, "resource_link", None)
    if link is None:
        return Deferred.fromCoroutine(_nothing())
    controller = controller_for(link, service.reactor)
    if controller is None:
        return Deferred.fromCoroutine(_nothing())
    service.serviceaccounts_controller = controller
    stage = getattr(service, "shutdown_initiated", None)
    if stage is not None:
        stage.when_reached().addCallback(lambda _: controller.stop())
    else:
        service.reactor.addSystemEventTrigger("before", "shutdown", controller.stop)
    return controller.start()


async def _nothing() -> None:
    return None
