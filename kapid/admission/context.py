"""
What admission plugins read: L{PluginContext} looks objects up through a resource link's stores
(the watch cache first, then storage, as kube's plugins read their informers and then the API).
"""

from __future__ import annotations

from typing import Any, Optional

from kapid.storage.interfaces import ListOptions


class PluginContext:
    """
    Lookups for plugins over a L{kapid.endpoints.link.ResourceLink}.

    @param link: the link whose registry and stores are read (set later with L{bind} when the
        chain is built before its link).
    @param clock: the reactor's time.
    @param config: the server's configuration (or None in tests).
    """

    def __init__(self, link: Any = None, clock: Any = None, config: Any = None) -> None:
        self.link = link
        self.clock = clock if clock is not None else getattr(link, "clock", None)
        self.config = config
        #: other services a plugin may use (e.g. C{service_resolver}, C{client_factory})
        self.extras: dict[Any, Any] = {}
        self._resources: dict[tuple[str, str], Any] = {}
        #: every link bound (the daemon's built-in and apiextensions links)
        self.links: list[Any] = [link] if link is not None else []

    def bind(self, link: Any, primary: bool = True) -> None:
        """
        Read through C{link} from now on (unless C{primary} is false and a link is bound already);
        every link bound is remembered (L{stores_everywhere}).
        """
        if link not in self.links:
            self.links.append(link)
        if primary or self.link is None:
            self.link = link
        if self.clock is None:
            self.clock = getattr(link, "clock", None)

    def stores_everywhere(self, group: str, plural: str) -> list[Any]:
        """
        The store of C{group}/C{plural} in every bound link (each link writes through its own).
        """
        out = []
        for link in self.links or ([self.link] if self.link is not None else []):
            for r in link.registry.all():
                if r.group == group and r.plural == plural:
                    out.append(link.store_for(r))
                    break
        return out

    def store(self, group: str, plural: str) -> Any:
        """
        The L{kapid.registry.store.RegistryStore} of C{group}/C{plural}, or None when not served.
        """
        if self.link is None:
            return None
        registry = self.link.registry
        res = self._resources.get((group, plural))
        if res is None or registry.lookup(group, res.storage_version.name, plural) is not res:
            res = None
            for r in registry.all():
                if r.group == group and r.plural == plural:
                    res = r
                    break
            if res is None:
                return None
            self._resources[(group, plural)] = res
        return self.link.store_for(res)

    async def get(
        self, group: str, plural: str, namespace: str, name: str, live: bool = False, memo: Optional[dict] = None
    ) -> Optional[dict]:
        """
        One stored object (in its storage version), or None: from the watch cache, and from
        storage when the cache does not have it (or C{live}). With C{memo} (an
        L{Attributes.memo}), a request looks each object up once.
        """
        key_memo = ("get", group, plural, namespace, name)
        if memo is not None and not live and key_memo in memo:
            return memo[key_memo]
        store = self.store(group, plural)
        if store is None:
            return None
        key = store.key(namespace, name)
        obj = None
        if not live:
            obj = await store.storage.get(key, "0", True)
        if obj is None:
            obj = await store.storage.get(key, "", True)
        if memo is not None and obj is not None:
            memo[key_memo] = obj
        return obj

    async def list(self, group: str, plural: str, namespace: str = "", memo: Optional[dict] = None) -> list[dict]:
        """
        Every stored object of C{group}/C{plural} (in C{namespace} when given), from the cache
        (once per request with C{memo}).
        """
        key_memo = ("list", group, plural, namespace)
        if memo is not None and key_memo in memo:
            return memo[key_memo]
        store = self.store(group, plural)
        if store is None:
            return []
        res = await store.storage.get_list(store.list_key(namespace), ListOptions(resource_version="0"))
        items = list(res["items"])
        if memo is not None:
            memo[key_memo] = items
        return items


class Watched:
    """
    A cluster-scoped collection kept in memory by a storage watch (kube's informer), for the
    configurations plugins read on every request (webhook configurations, PriorityClasses).
    Until the watch is up (or after it failed) the objects are listed from the cache as before.

    @param context: the L{PluginContext}.
    """

    def __init__(self, context: PluginContext, group: str, plural: str) -> None:
        self.context = context
        self.group = group
        self.plural = plural
        self._items: dict[str, dict] = {}
        self._list: list[dict] = []
        self._ready = False
        self._starting: Any = None
        self._watcher: Any = None

    async def items(self) -> list[dict]:
        """
        The current objects (a list the caller must not change).
        """
        if self._ready:
            return self._list
        if self._starting is None and self.context.store(self.group, self.plural) is not None:
            from twisted.internet.defer import Deferred

            self._starting = Deferred.fromCoroutine(self._start())
            self._starting.addErrback(self._failed)
        return await self.context.list(self.group, self.plural)

    async def _start(self) -> None:
        store = self.context.store(self.group, self.plural)
        res = await store.storage.get_list(store.list_key(""), ListOptions())
        items = {(o.get("metadata") or {}).get("name") or "": o for o in res["items"]}
        opts = ListOptions(resource_version=str(res.get("resourceVersion") or ""))
        self._items = items
        self._watcher = await store.storage.watch(store.list_key(""), opts, self._event)
        self._list = [items[k] for k in sorted(items)]
        self._ready = True

    def _failed(self, failure: Any) -> None:
        from twisted.logger import Logger

        Logger().failure("watching {plural} for admission failed; listing instead", failure, plural=self.plural)
        self._starting = None

    def _event(self, event: Any) -> None:
        if event.type == "ERROR":
            # the watch ended (e.g. compacted history): list and watch again on next use
            self._ready = False
            self._starting = None
            watcher, self._watcher = self._watcher, None
            stop = getattr(watcher, "stop", None)
            if stop is not None:
                stop()
            return
        if event.type not in ("ADDED", "MODIFIED", "DELETED") or event.object is None:
            return
        name = (event.object.get("metadata") or {}).get("name") or ""
        if event.type == "DELETED":
            self._items.pop(name, None)
        else:
            self._items[name] = event.object
        self._list = [self._items[k] for k in sorted(self._items)]


def watched(context: PluginContext, group: str, plural: str) -> Watched:
    """
    The context's one L{Watched} collection of C{group}/C{plural}.
    """
    key = ("watched", group, plural)
    found = context.extras.get(key)
    if found is None:
        found = context.extras[key] = Watched(context, group, plural)
    return found
