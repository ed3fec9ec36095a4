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

    def bind(self, link: Any) -> None:
        """
        Read through C{link} from now on.
        """
        self.link = link
        if self.clock is None:
            self.clock = getattr(link, "clock", None)

    def store(self, group: str, plural: str) -> Any:
        """
        The L{kapid.registry.store.RegistryStore} of C{group}/C{plural}, or None when not served.
        """
        if self.link is None:
            return None
        registry = self.link.registry
        for res in registry.all():
            if res.group == group and res.plural == plural:
                return self.link.store_for(res)
        return None

    async def get(self, group: str, plural: str, namespace: str, name: str, live: bool = False) -> Optional[dict]:
        """
        One stored object (in its storage version), or None: from the watch cache, and from
        storage when the cache does not have it (or C{live}).
        """
        store = self.store(group, plural)
        if store is None:
            return None
        key = store.key(namespace, name)
        obj = None
        if not live:
            obj = await store.storage.get(key, "0", True)
        if obj is None:
            obj = await store.storage.get(key, "", True)
        return obj

    async def list(self, group: str, plural: str, namespace: str = "") -> list[dict]:
        """
        Every stored object of C{group}/C{plural} (in C{namespace} when given), from the cache.
        """
        store = self.store(group, plural)
        if store is None:
            return []
        res = await store.storage.get_list(store.list_key(namespace), ListOptions(resource_version="0"))
        return list(res["items"])
