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
        self.extras: dict[str, Any] = {}
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
