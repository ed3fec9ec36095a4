"""
The storage benchmark (issue 3), run inside the L{bench.client} Twisted process: kapid's L{IStorage}
(the plain L{kapid.storage.store.Store}, or the watch cache over it) over an L{IKV} opened with
L{kapid.storage.factory.open_kv} — on the same etcd as the raw gateway ceiling, or on the embedded
store — doing create / get / list / watch fan-out.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any, Optional


from bench.client import closed_loop, metric_value, make_http, _lat_stats
from bench.common import pod

#: The operations measured per (KV, layer).
STORAGE_OPS = ("create", "get", "list", "watch_fanout")

_MODULES = {
    "etcd": ("kapid.storage.factory", "kapid.storage.etcd3", "kapid.storage.store"),
    "embedded": ("kapid.storage.factory", "kapid.storage.embedded", "kapid.storage.store"),
}


def storage_available(kv: str, layer: str) -> Optional[str]:
    """
    None when the modules for C{kv} and C{layer} are present; otherwise the reason.
    """
    mods = list(_MODULES[kv]) + (["kapid.storage.cacher"] if layer == "cacher" else [])
    for m in mods:
        try:
            if importlib.util.find_spec(m) is None:
                return f"{m} is not in the tree yet"
        except ModuleNotFoundError:
            return f"{m} is not in the tree yet"
    return None


def make_cacher(store: Any, reactor: Any, prefix: str) -> Any:
    """
    The watch cache (L{kapid.storage.cacher.CachingStorage}) over C{store} with etcd prefix C{prefix}.
    """
    from kapid.storage.cacher import CachingStorage

    return CachingStorage(store, reactor, cache_size=1000, prefix=prefix)


async def open_storage(reactor: Any, spec: dict, resource_prefix: str) -> tuple[Any, Any, Any]:
    """
    The (kv, store, storage under test) for C{spec}.
    """
    from kapid.storage.factory import open_kv
    from kapid.storage.store import Store

    if spec["kv"] == "etcd":
        kv = await open_kv(reactor, backend="etcd3", etcd_servers=[spec["etcd"]], data_dir=spec["data_dir"])
    else:
        kv = await open_kv(reactor, backend="embedded", etcd_servers=[], data_dir=spec["data_dir"])
    prefix = "/bench-" + spec["run"]
    store = Store(kv, reactor, prefix)
    storage = store
    if spec["layer"] == "cacher":
        storage = make_cacher(store, reactor, prefix)
    return kv, store, storage


async def storage_op(reactor: Any, spec: dict) -> dict:
    """
    Run one storage measurement; see the module docstring.
    """
    from kapid.storage.interfaces import ListOptions

    op = spec["storage_op"]
    c = spec["concurrency"]
    kv, store, storage = await open_storage(reactor, spec, "/pods/")
    prefix = store.prefix.rstrip("/")
    base = f"{prefix}/pods/bench/"
    obj = pod(namespace="bench")

    def named(name: str) -> dict:
        # the object's namespace/name must match its key (the cacher keys objects by them)
        return dict(obj, metadata=dict(obj["metadata"], name=name))

    try:
        if op == "create":
            async def one(n: int) -> None:
                await storage.create(f"{base}c{n}", named(f"c{n}"))

            return await closed_loop(c, spec["duration"], spec["max_requests"], one, warmup=10)
        if op == "get":
            await storage.create(f"{base}one", named("one"))
            rv = "0" if spec["layer"] == "cacher" else ""  # the cacher answers "0" from its cache
            if rv:  # wait (bounded) until the cache holds the object
                from twisted.internet.task import deferLater

                for _ in range(500):
                    if await storage.get(f"{base}one", "0", ignore_not_found=True) is not None:
                        break
                    await deferLater(reactor, 0.01, lambda: None)

            async def one(n: int) -> None:
                await storage.get(f"{base}one", rv)

            return await closed_loop(c, spec["duration"], spec["max_requests"], one, warmup=20)
        if op == "list":
            size = spec["list_size"]

            async def mk(n: int) -> None:
                await storage.create(f"{base}l{n}", named(f"l{n}"))

            made = await closed_loop(16, 120.0, size, mk)
            if made["requests"] < size:
                raise RuntimeError(f"populated {made['requests']} of {size}")
            if spec["layer"] == "cacher":  # wait (bounded) until the cache has every object
                from twisted.internet.task import deferLater

                for _ in range(500):
                    got = await storage.get_list(base, ListOptions(resource_version="0"))
                    if len(got["items"]) >= size:
                        break
                    await deferLater(reactor, 0.02, lambda: None)
            opts = ListOptions(resource_version="0" if spec["layer"] == "cacher" else "")

            async def one(n: int) -> None:
                res = await storage.get_list(base, opts)
                if len(res["items"]) < size:
                    raise RuntimeError(f"list returned {len(res['items'])} of {size}")

            out = await closed_loop(1, spec["duration"], 10000, one)
            out["lists_per_s"] = out["throughput"]
            out["throughput"] = out["throughput"] * size
            return out
        if op == "watch_fanout":
            return await _fanout(reactor, spec, kv, storage, base, named("fan"))
        raise ValueError(op)
    finally:
        close = getattr(storage, "close", None)
        if storage is not store and close is not None:
            await close()
        await store.close()
        await kv.close()


async def _fanout(reactor: Any, spec: dict, kv: Any, storage: Any, base: str, obj: dict) -> dict:
    """
    N watchers on one object's prefix, E sequential updates; deliveries/s, latency, upstream watches.
    """
    from twisted.internet.task import deferLater

    from kapid.storage.interfaces import ListOptions

    watchers = spec["watchers"] if spec["layer"] == "cacher" else min(spec["watchers"], 100)
    events = spec["events"]
    key = f"{base}fan"
    created = await storage.create(key, obj)
    rv = created["metadata"]["resourceVersion"]
    http = pool = None
    before = after = None
    metric = "etcd_debugging_mvcc_watcher_total"
    if spec["kv"] == "etcd":
        http, pool = make_http(reactor, 2)
        before = await metric_value(http, spec["etcd"] + "/metrics", metric)
    sent: dict = {}
    received: list = []

    def on_event(ev: Any) -> None:
        o = ev.object or {}
        seq = ((o.get("metadata") or {}).get("annotations") or {}).get("seq")
        if seq is not None:
            received.append((int(seq), time.perf_counter()))

    handles = []
    opts = ListOptions(resource_version=rv)
    for _ in range(watchers):
        handles.append(await storage.watch(base, opts, on_event))
    if http is not None:
        after = await metric_value(http, spec["etcd"] + "/metrics", metric)
    first = time.perf_counter()
    deadline = first + 120.0
    for n in range(1, events + 1):
        if time.perf_counter() > deadline:
            break
        sent[n] = time.perf_counter()

        def bump(cur: Any, n: int = n) -> dict:
            new = dict(cur)
            md = dict(cur["metadata"])
            md["annotations"] = dict(md.get("annotations") or {}, seq=str(n))
            new["metadata"] = md
            return new

        await storage.guaranteed_update(key, bump)
    expected = watchers * len(sent)
    t0 = time.perf_counter()
    while len(received) < expected and time.perf_counter() - t0 < 60.0:
        await deferLater(reactor, 0.02, lambda: None)
    for h in handles:
        h.stop()
    if pool is not None:
        await pool.closeCachedConnections()
    last = max((t for _, t in received), default=first)
    lat = [t - sent[s] for s, t in received if s in sent]
    out = {"throughput": len(lat) / (last - first) if last > first else 0.0, "deliveries": len(lat),
           "expected": expected, "complete": len(lat) >= expected, "watchers": watchers, "events": len(sent)}
    out.update(_lat_stats(lat))
    if before is not None and after is not None:
        out["upstream_watchers_added"] = after - before
    return out
