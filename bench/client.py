"""
The Twisted load process: C{python -m bench.client '<json spec>'} runs one measurement in its own
process (so the load generator is not the process being measured) and prints one line
C{RESULT <json>}.

Every loop is bounded by a request count and by a deadline. Specs (C{"op"}):

* C{etcd_put} / C{etcd_range} / C{etcd_txn}: the raw etcd v3 JSON gateway from one Twisted process
  (treq over its own C{HTTPConnectionPool}) at C{concurrency} — the storage ceiling.
* C{etcd_watch}: C{watchers} direct etcd watch streams on one key while C{events} puts go on.
* C{kapid_watch}: C{watchers} kapid watch streams on one ConfigMap while C{events} updates (PUT) go
  on; reports deliveries, delivery p50/p99 and, with C{etcd_metrics}, how many upstream etcd watchers
  the server added.
* C{populate}: create C{count} ConfigMaps through the API at C{concurrency}.
* C{list_pages}: paginated lists (C{limit}) following C{continue} to the end, repeated.
* C{storage}: kapid's IStorage (store, or cacher over store) over an IKV, see L{bench.storage_ops}.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import time
from typing import Any, Awaitable, Callable, Optional

import orjson
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.protocol import Protocol

from bench.common import percentile, pod_bytes


def _lat_stats(latencies: list[float]) -> dict:
    return {
        "p50_ms": percentile(latencies, 50) * 1000.0,
        "p99_ms": percentile(latencies, 99) * 1000.0,
    }


async def closed_loop(
    concurrency: int,
    duration: float,
    max_requests: int,
    one: Callable[[int], Awaitable[Any]],
    warmup: int = 0,
) -> dict:
    """
    Run C{one(n)} from C{concurrency} workers until C{max_requests} were sent or C{duration} seconds
    passed; return throughput (successful calls per second), latency p50/p99 and counts. The first
    C{warmup} calls are made before the clock starts.
    """
    counter = [0]
    if warmup:
        wl = [0]

        async def warm() -> None:
            while wl[0] < warmup:
                n = wl[0]
                wl[0] += 1
                try:
                    await one(-1 - n)
                except Exception:
                    pass

        await gatherResults([Deferred.fromCoroutine(warm()) for _ in range(concurrency)])
    latencies: list[float] = []
    errors = [0]
    first_error: list[str] = []
    t0 = time.perf_counter()
    deadline = t0 + duration

    async def worker() -> None:
        while counter[0] < max_requests and time.perf_counter() < deadline:
            n = counter[0]
            counter[0] += 1
            t = time.perf_counter()
            try:
                await one(n)
            except Exception as e:
                errors[0] += 1
                if not first_error:
                    first_error.append(repr(e)[:300])
                continue
            latencies.append(time.perf_counter() - t)

    await gatherResults([Deferred.fromCoroutine(worker()) for _ in range(concurrency)])
    elapsed = time.perf_counter() - t0
    out = {"throughput": len(latencies) / elapsed if elapsed else 0.0, "requests": counter[0],
           "errors": errors[0], "seconds": elapsed}
    out.update(_lat_stats(latencies))
    if first_error:
        out["first_error"] = first_error[0]
    return out


def make_http(reactor: Any, max_per_host: int, persistent: bool = True) -> Any:
    """
    A treq C{HTTPClient} over its own connection pool allowing C{max_per_host} connections per host.
    """
    import treq
    from twisted.web.client import Agent, HTTPConnectionPool

    pool = HTTPConnectionPool(reactor, persistent=persistent)
    pool.maxPersistentPerHost = max_per_host
    pool.retryAutomatically = False
    return treq.client.HTTPClient(Agent(reactor, pool=pool)), pool


def b64(data: bytes) -> str:
    """
    Standard base64 text of C{data}.
    """
    return base64.b64encode(data).decode()


# --------------------------------------------------------------------------------------------------
# etcd gateway ceilings


async def etcd_ops(reactor: Any, spec: dict) -> dict:
    """
    Raw etcd gateway put / range / txn create at C{spec["concurrency"]}.
    """
    import treq

    http, pool = make_http(reactor, spec["concurrency"])
    base = spec["endpoint"].rstrip("/")
    value = b64(pod_bytes())
    run = spec.get("run", "r")
    op = spec["op"]
    headers = {b"Content-Type": [b"application/json"]}

    async def post(path: str, body: dict) -> dict:
        resp = await http.post(base + path, data=orjson.dumps(body), headers=headers)
        data = await treq.content(resp)
        if resp.code != 200:
            raise RuntimeError(f"{path} {resp.code} {data[:200]!r}")
        return orjson.loads(data)

    range_key = b64(f"/bench/{run}/range".encode())
    if op == "etcd_range":
        await post("/v3/kv/put", {"key": range_key, "value": value})

    async def one(n: int) -> None:
        if op == "etcd_put":
            await post("/v3/kv/put", {"key": b64(f"/bench/{run}/put/{n % 1000}".encode()), "value": value})
        elif op == "etcd_range":
            r = await post("/v3/kv/range", {"key": range_key})
            if not r.get("kvs"):
                raise RuntimeError("range found nothing")
        elif op == "etcd_txn":
            key = b64(f"/bench/{run}/txn/{spec['concurrency']}/{n}".encode())
            r = await post("/v3/kv/txn", {
                "compare": [{"key": key, "target": "MOD", "result": "EQUAL", "mod_revision": "0"}],
                "success": [{"request_put": {"key": key, "value": value}}],
                "failure": [{"request_range": {"key": key}}],
            })
            if not r.get("succeeded"):
                raise RuntimeError("txn create failed")
        else:
            raise ValueError(op)

    try:
        return await closed_loop(spec["concurrency"], spec["duration"], spec["max_requests"], one,
                                 warmup=spec.get("warmup", 20))
    finally:
        await pool.closeCachedConnections()


# --------------------------------------------------------------------------------------------------
# Streams


class LineStream(Protocol):
    """
    A response body read line by line (partial lines carried across chunks); each complete line is
    scanned with C{pattern} and every match's first group is recorded with the receive time.
    """

    def __init__(self, pattern: "re.Pattern[bytes]", sink: list) -> None:
        self.pattern = pattern
        self.sink = sink
        self.buf = b""
        self.lines = 0
        self.errors = 0
        self.finished: Deferred = Deferred()

    def dataReceived(self, data: bytes) -> None:
        now = time.perf_counter()
        buf = self.buf + data
        if b"\n" not in data:
            self.buf = buf
            return
        complete, _, self.buf = buf.rpartition(b"\n")
        for line in complete.split(b"\n"):
            self.lines += 1
            if b'"type":"ERROR"' in line[:20]:
                self.errors += 1
            for m in self.pattern.finditer(line):
                self.sink.append((int(m.group(1)), now))

    def connectionLost(self, reason: Any) -> None:
        if not self.finished.called:
            self.finished.callback(None)

    def stop(self) -> None:
        """
        Abort the stream.
        """
        if self.transport is not None:
            self.transport.stopProducing()


async def open_streams(reactor: Any, count: int, method: bytes, url: str, body: Optional[bytes],
                       pattern: "re.Pattern[bytes]", sink: list, timeout: float) -> tuple[list, int]:
    """
    Open C{count} streaming requests, each on its own connection; wait (bounded by C{timeout}) until
    their response headers arrived. Returns the streams and how many got a 200.
    """
    from twisted.web.client import Agent, HTTPConnectionPool
    from twisted.web.http_headers import Headers
    from twisted.internet.task import deferLater

    pool = HTTPConnectionPool(reactor, persistent=False)
    agent = Agent(reactor, pool=pool)
    streams: list[LineStream] = []
    ok = [0]
    answered = [0]

    def started(resp: Any, stream: LineStream) -> None:
        answered[0] += 1
        if resp.code == 200:
            ok[0] += 1
        resp.deliverBody(stream)

    def failed(f: Any) -> None:
        answered[0] += 1

    from twisted.web.client import FileBodyProducer
    from io import BytesIO

    for _ in range(count):
        stream = LineStream(pattern, sink)
        streams.append(stream)
        producer = FileBodyProducer(BytesIO(body)) if body is not None else None
        d = agent.request(method, url.encode(), Headers({b"Content-Type": [b"application/json"]}), producer)
        d.addCallbacks(started, failed, callbackArgs=(stream,))
    t0 = time.perf_counter()
    while answered[0] < count and time.perf_counter() - t0 < timeout:
        await deferLater(reactor, 0.02, lambda: None)
    return streams, ok[0]


async def wait_deliveries(reactor: Any, sink: list, expected: int, timeout: float) -> None:
    """
    Wait (polling, bounded by C{timeout}) until C{sink} holds C{expected} deliveries.
    """
    from twisted.internet.task import deferLater

    t0 = time.perf_counter()
    last = -1
    quiet_since = time.perf_counter()
    while len(sink) < expected and time.perf_counter() - t0 < timeout:
        await deferLater(reactor, 0.02, lambda: None)
        if len(sink) != last:
            last = len(sink)
            quiet_since = time.perf_counter()
        elif time.perf_counter() - quiet_since > 5.0:
            break  # nothing new for 5 s: the rest is not coming


def delivery_stats(sink: list, sent: dict, watchers: int, events: int, first_send: float) -> dict:
    """
    Deliveries, deliveries/s (first write to last delivery), delivery latency p50/p99 (write start to
    receipt), and whether every watcher got every event.
    """
    lat = [t - sent[k] for (k, t) in sink if k in sent]
    last = max((t for (_, t) in sink), default=first_send)
    span = last - first_send
    out = {
        "deliveries": len(sink),
        "expected": watchers * events,
        "complete": len(lat) >= watchers * events,
        "throughput": len(lat) / span if span > 0 else 0.0,
        "watchers": watchers,
        "events": events,
    }
    out.update(_lat_stats(lat))
    return out


async def metric_value(http: Any, url: str, name: str) -> Optional[float]:
    """
    The value of Prometheus metric C{name} (summed over labels) at C{url}, or None.
    """
    import treq

    try:
        resp = await http.get(url)
        text = (await treq.content(resp)).decode()
    except Exception:
        return None
    total = None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


async def etcd_watch(reactor: Any, spec: dict) -> dict:
    """
    C{watchers} direct etcd watches on one key; C{events} sequential puts of that key.
    """
    import treq

    base = spec["endpoint"].rstrip("/")
    key = f"/bench/{spec.get('run', 'r')}/watch".encode()
    body = orjson.dumps({"create_request": {"key": b64(key)}})
    sink: list = []
    pattern = re.compile(rb'"mod_revision":"(\d+)"')
    streams, ok = await open_streams(reactor, spec["watchers"], b"POST", base + "/v3/watch", body,
                                     pattern, sink, spec.get("open_timeout", 30.0))
    writers = spec.get("writers", 1)
    http, pool = make_http(reactor, writers)
    sent: dict = {}
    value = b64(json.dumps({"seq": 0, "pad": "x" * 200}).encode())
    first = time.perf_counter()

    async def put(n: int) -> None:
        t = time.perf_counter()
        resp = await http.post(base + "/v3/kv/put", data=orjson.dumps({"key": b64(key), "value": value}))
        data = orjson.loads(await treq.content(resp))
        sent[int(data["header"]["revision"])] = t

    await closed_loop(writers, spec["duration"], spec["events"], put)
    events = len(sent)
    await wait_deliveries(reactor, sink, ok * events, spec.get("drain_timeout", 30.0))
    for s in streams:
        s.stop()
    await pool.closeCachedConnections()
    out = delivery_stats(sink, sent, ok, events, first)
    out["streams_ok"] = ok
    return out


async def kapid_watch(reactor: Any, spec: dict) -> dict:
    """
    C{watchers} kapid watches on one ConfigMap (by field selector); C{events} sequential updates (PUT)
    of it; deliveries and latency; upstream etcd watchers added (with C{etcd_metrics}).
    """
    import treq

    base = spec["server"].rstrip("/")
    ns, name = spec["namespace"], spec["name"]
    obj_url = f"{base}/api/v1/namespaces/{ns}/configmaps/{name}"
    http, pool = make_http(reactor, 4)
    # list, then watch from the list's resourceVersion (what clients do; the object's own
    # resourceVersion may be older than the watch cache's window)
    list_url = f"{base}/api/v1/namespaces/{ns}/configmaps?fieldSelector=metadata.name%3D{name}"
    resp = await http.get(list_url)
    body = await treq.content(resp)
    if resp.code != 200:
        raise RuntimeError(f"GET {list_url}: {resp.code} {body[:200]!r}")
    rv = orjson.loads(body)["metadata"]["resourceVersion"]
    metric = "etcd_debugging_mvcc_watcher_total"
    before = await metric_value(http, spec["etcd_metrics"], metric) if spec.get("etcd_metrics") else None
    watch_url = (f"{base}/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={rv}"
                 f"&fieldSelector=metadata.name%3D{name}")
    sink: list = []
    pattern = re.compile(rb'"seq":"(\d+)"')
    streams, ok = await open_streams(reactor, spec["watchers"], b"GET", watch_url, None, pattern, sink,
                                     spec.get("open_timeout", 30.0))
    after = await metric_value(http, spec["etcd_metrics"], metric) if spec.get("etcd_metrics") else None
    sent: dict = {}
    writers = spec.get("writers", 1)
    wclient, wpool = make_http(reactor, writers)
    errors: list = []
    if spec.get("etcd"):
        # on etcd, write the stored object straight into etcd (the same writer as the direct-watch
        # ceiling), so the figure is kapid's fan-out capacity, not its write path
        etcd = spec["etcd"].rstrip("/")
        ekey = b64(f"/registry/configmaps/{ns}/{name}".encode())
        r = await wclient.post(etcd + "/v3/kv/range", data=orjson.dumps({"key": ekey}))
        kvs = orjson.loads(await treq.content(r)).get("kvs") or []
        if not kvs:
            raise RuntimeError(f"/registry/configmaps/{ns}/{name} is not in etcd (another --etcd-prefix?)")
        stored = orjson.loads(base64.b64decode(kvs[0]["value"]))

        async def write(n: int) -> None:
            seq = n + 1
            obj = dict(stored, data={"seq": str(seq)})
            sent[seq] = time.perf_counter()
            resp = await wclient.post(etcd + "/v3/kv/put", data=orjson.dumps(
                {"key": ekey, "value": b64(orjson.dumps(obj))}))
            await treq.content(resp)
            if resp.code != 200:
                del sent[seq]
                errors.append(f"etcd put {resp.code}")
    else:
        headers = {b"Content-Type": [b"application/json"]}

        async def write(n: int) -> None:
            seq = n + 1
            body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
                    "data": {"seq": str(seq)}}
            sent[seq] = time.perf_counter()
            r = await wclient.put(obj_url, data=orjson.dumps(body), headers=headers)
            data = await treq.content(r)
            if r.code != 200:
                del sent[seq]
                errors.append(f"PUT {obj_url}: {r.code} {data[:200]!r}")

    first = time.perf_counter()
    await closed_loop(writers, spec["duration"], spec["events"], write)
    await wpool.closeCachedConnections()
    first_error = errors[0] if errors else ""
    events = len(sent)
    if not events:
        for st in streams:
            st.stop()
        raise RuntimeError(f"no update succeeded: {first_error}")
    await wait_deliveries(reactor, sink, ok * events, spec.get("drain_timeout", 30.0))
    for s in streams:
        s.stop()
    await pool.closeCachedConnections()
    out = delivery_stats(sink, sent, ok, events, first)
    out["streams_ok"] = ok
    out["write_errors"] = len(errors)
    out["error_events"] = sum(st.errors for st in streams)
    if before is not None and after is not None:
        out["upstream_watchers_added"] = after - before
    return out


# --------------------------------------------------------------------------------------------------
# API helpers


async def populate(reactor: Any, spec: dict) -> dict:
    """
    Create C{count} ConfigMaps named C{<prefix>-<n>} in C{namespace} at C{concurrency}.
    """
    import treq

    from bench.common import configmap

    http, pool = make_http(reactor, spec["concurrency"])
    base = spec["server"].rstrip("/")
    ns = spec["namespace"]
    url = f"{base}/api/v1/namespaces/{ns}/configmaps"
    template = configmap("NAME", ns, spec.get("size", 2048))
    headers = {b"Content-Type": [b"application/json"]}
    json_bytes = [0]

    async def one(n: int) -> None:
        obj = dict(template)
        obj["metadata"] = dict(template["metadata"], name=f"{spec['prefix']}-{n}")
        body = orjson.dumps(obj)
        resp = await http.post(url, data=body, headers=headers)
        data = await treq.content(resp)
        if resp.code not in (201, 409):
            raise RuntimeError(f"POST {resp.code} {data[:200]!r}")
        json_bytes[0] += len(data)

    try:
        out = await closed_loop(spec["concurrency"], spec["duration"], spec["count"], one)
    finally:
        await pool.closeCachedConnections()
    out["json_bytes"] = json_bytes[0]
    return out


async def list_pages(reactor: Any, spec: dict) -> dict:
    """
    Paginated lists of C{url} with C{limit}, following C{continue} to the end, repeated; throughput
    is objects per second, latency is per full (all pages) list.
    """
    import treq

    http, pool = make_http(reactor, spec.get("concurrency", 1))
    url = spec["url"]
    objects = [0]

    async def one(n: int) -> None:
        cont = ""
        for _ in range(100000):
            u = f"{url}?limit={spec['limit']}" + (f"&continue={cont}" if cont else "")
            resp = await http.get(u)
            data = orjson.loads(await treq.content(resp))
            if resp.code != 200:
                raise RuntimeError(f"list {resp.code}: {str(data)[:200]}")
            objects[0] += len(data.get("items") or [])
            cont = (data.get("metadata") or {}).get("continue") or ""
            if not cont:
                return
        raise RuntimeError("too many pages")

    try:
        out = await closed_loop(spec.get("concurrency", 1), spec["duration"], spec["max_requests"], one)
    finally:
        await pool.closeCachedConnections()
    out["lists_per_s"] = out["throughput"]
    out["throughput"] = objects[0] / out["seconds"] if out["seconds"] else 0.0
    return out


async def batch(reactor: Any, spec: dict) -> dict:
    """
    Run C{spec["specs"]} one after another in this process (saving a process start per
    measurement); a dict of their results by C{key} (a failed one holds C{error}).
    """
    out = {}
    for sub in spec["specs"]:
        try:
            if sub["op"] == "storage":
                from bench.storage_ops import storage_op as fn
            else:
                fn = OPS[sub["op"]]
            out[sub["key"]] = await fn(reactor, sub)
        except Exception as e:
            out[sub["key"]] = {"error": repr(e)[:500]}
    return out


OPS: dict = {
    "batch": batch,
    "etcd_put": etcd_ops,
    "etcd_range": etcd_ops,
    "etcd_txn": etcd_ops,
    "etcd_watch": etcd_watch,
    "kapid_watch": kapid_watch,
    "populate": populate,
    "list_pages": list_pages,
}


def main(argv: list[str]) -> None:
    """
    Run the spec in C{argv[0]} (JSON) on the real reactor and print C{RESULT <json>}.
    """
    from twisted.internet import reactor, task

    spec = json.loads(argv[0])
    op = spec["op"]
    if op == "storage":
        from bench.storage_ops import storage_op as fn
    else:
        fn = OPS[op]

    async def go(r: Any) -> None:
        try:
            result = await fn(r, spec)
        except Exception as e:
            result = {"error": repr(e)[:500]}
        sys.stdout.write("RESULT " + json.dumps(result) + "\n")
        sys.stdout.flush()

    task.react(lambda r: Deferred.fromCoroutine(go(r)))


if __name__ == "__main__":
    main(sys.argv[1:])
