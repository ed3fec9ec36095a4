"""
The aggregator rows (issue 10): two kapid processes on the embedded store, an extension API server
(C{--requestheader-*} trusting a front-proxy CA, TLS serving certificate) and a front that
aggregates C{flowcontrol.apiserver.k8s.io/v1} from it through an APIService (its front-proxy
client certificate, the APIService's C{caBundle}). Both are driven on their insecure ports, so the
only difference is the aggregator's hop (the front's proxy over pooled TLS connections).

Scenarios:

* C{aggregator/get/c16}: wrk GET of one FlowSchema through the front; C{aggregator/get_direct/c16}:
  the same GET on the extension server itself. Ratio goal ≥ 0.6.
* C{aggregator/watch/wN} and C{aggregator/watch_direct/wN}: N watches on one FlowSchema (field
  selector) through the front, and on the extension server; the object updated with PUTs on the
  extension server by 4 writers; deliveries per second (every watcher must get every event). No
  target in the issue.

The local path's cost is the existing C{<backend>/get/cN} row: a request for a local group costs the
aggregator one dictionary lookup (none while no APIService names a Service).

C{python -m bench.aggregator watch '<json spec>'} runs one watch measurement in its own process and
prints C{RESULT <json>} (as L{bench.client} does).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Any, Optional

from bench import wrk
from bench.common import child_env, free_port, http_status, python_argv, wait_for_200

GROUP_VERSION = "flowcontrol.apiserver.k8s.io/v1"
COLLECTION = f"/apis/{GROUP_VERSION}/flowschemas"
OBJECT = "bench-agg"
FAN = "bench-agg-fan"


def flowschema(name: str, seq: str = "") -> dict:
    """
    A FlowSchema named C{name} (its C{seq} annotation set when given).
    """
    meta: dict = {"name": name}
    if seq:
        meta["annotations"] = {"seq": seq}
    return {"apiVersion": GROUP_VERSION, "kind": "FlowSchema", "metadata": meta,
            "spec": {"priorityLevelConfiguration": {"name": "global-default"}, "matchingPrecedence": 9000,
                     "rules": [{"subjects": [{"kind": "Group", "group": {"name": "bench"}}],
                                "resourceRules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"],
                                                   "namespaces": ["*"]}]}]}}


def _write(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _post(base: str, path: str, obj: dict, ok: tuple = (201, 409)) -> None:
    status, data = http_status(base + path, "POST", json.dumps(obj).encode(), {"Content-Type": "application/json"})
    if status not in ok:
        raise RuntimeError(f"POST {path} answered {status}: {data[:300]!r}")


def _start(bench: Any, label: str, extra: list[str]) -> dict:
    from bench.run import TWISTD

    insecure, secure = free_port(), free_port()
    data_dir = tempfile.mkdtemp(prefix=f"data-agg-{label}-", dir=bench.tmp)
    argv = python_argv(*TWISTD, "-n", "--pidfile=", "kapid", "--insecure-port", str(insecure),
                       "--secure-port", str(secure), "--bind-address", "127.0.0.1", "--data-dir", data_dir, *extra)
    log = os.path.join(bench.logs, f"kapid-aggregator-{label}.log")
    proc = bench.procs.start(argv, log)
    url = f"http://127.0.0.1:{insecure}"
    error = None
    if wait_for_200(url + "/readyz", proc, 60.0) is None:
        error = f"kapid ({label}) did not become ready; see {log}"
    return {"proc": proc, "url": url, "secure_port": secure, "error": error}


def start_pair(bench: Any) -> dict:
    """
    Start the extension server and the front, register the APIService, and wait until a GET
    through the front reaches the extension server. C{{"front", "backend", "error"}}.
    """
    from kapid.testing.tls import issue, make_ca

    certs = tempfile.mkdtemp(prefix="agg-certs-", dir=bench.tmp)
    serving_ca, fp_ca = make_ca("bench-serving-ca"), make_ca("bench-front-proxy-ca")
    serving = issue(serving_ca, "api", ("api.wardle.svc", "localhost"), ("127.0.0.1",))
    client = issue(fp_ca, "front-proxy-client", server=False)
    backend = _start(bench, "extension", [
        f"--tls-cert-file={_write(certs, 'api.crt', serving.cert_pem())}",
        f"--tls-private-key-file={_write(certs, 'api.key', serving.key_pem())}",
        f"--requestheader-client-ca-file={_write(certs, 'fp-ca.crt', fp_ca.cert_pem())}",
        "--requestheader-username-headers=X-Remote-User", "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-", "--requestheader-allowed-names=front-proxy-client",
    ])
    front = _start(bench, "front", [
        f"--proxy-client-cert-file={_write(certs, 'fp.crt', client.cert_pem())}",
        f"--proxy-client-key-file={_write(certs, 'fp.key', client.key_pem())}",
    ])
    out = {"front": front, "backend": backend, "error": backend["error"] or front["error"]}
    if out["error"]:
        return out
    try:
        b, f = backend["url"], front["url"]
        _post(b, COLLECTION, flowschema(OBJECT))
        _post(b, COLLECTION, flowschema(FAN, "0"))
        _post(f, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "wardle"}})
        port = backend["secure_port"]
        _post(f, "/api/v1/namespaces/wardle/services", {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
                                                        "spec": {"ports": [{"port": 443, "targetPort": port}]}})
        _post(f, "/api/v1/namespaces/wardle/endpoints", {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "api"},
                                                         "subsets": [{"addresses": [{"ip": "127.0.0.1"}], "ports": [{"port": port}]}]})
        name = "v1.flowcontrol.apiserver.k8s.io"
        path = f"/apis/apiregistration.k8s.io/v1/apiservices/{name}"
        status, data = http_status(f + path)
        current = json.loads(data) if status == 200 else {"metadata": {"name": name}}
        obj = {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
               "metadata": {"name": name, "resourceVersion": (current.get("metadata") or {}).get("resourceVersion")},
               "spec": {"group": "flowcontrol.apiserver.k8s.io", "version": "v1", "groupPriorityMinimum": 16100,
                        "versionPriority": 21, "service": {"namespace": "wardle", "name": "api", "port": 443},
                        "caBundle": base64.b64encode(serving_ca.cert_pem()).decode()}}
        if status == 200:
            s2, d2 = http_status(f + path, "PUT", json.dumps(obj).encode(), {"Content-Type": "application/json"})
            if s2 != 200:
                raise RuntimeError(f"PUT {path} answered {s2}: {d2[:300]!r}")
        else:
            _post(f, "/apis/apiregistration.k8s.io/v1/apiservices", obj)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if http_status(f + f"{COLLECTION}/{OBJECT}")[0] == 200:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("the front never served the extension server's FlowSchema")
    except Exception as e:
        out["error"] = f"setup failed: {e}"
    return out


def run_watch(bench: Any, spec: dict, timeout: float) -> dict:
    """
    Run one watch measurement in its own process (L{main}); its result.
    """
    p = subprocess.Popen(python_argv("-m", "bench.aggregator", "watch", json.dumps(spec)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=child_env(), text=True, start_new_session=True)
    bench.procs.procs.append(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        bench.procs.stop(p)
        raise RuntimeError(f"the watch client did not finish within {timeout:.0f} s")
    finally:
        if p in bench.procs.procs:
            bench.procs.procs.remove(p)
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"the watch client gave no result: {err[-600:]}")
    result = json.loads(line[len("RESULT "):])
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


def setup(bench: Any) -> None:
    """
    Start the pair and register the aggregator scenarios.
    """
    from bench.run import NotAvailable, Scenario

    if not bench.wanted_prefix("aggregator"):
        return
    state: dict = {}

    def need() -> dict:
        if not state:
            state.update(start_pair(bench))
            if not state["error"]:
                # the front's first requests open its pooled TLS connections to the extension
                # server: warm them up once, outside any measurement (the direct path has none)
                c = max(s.kapid_concurrencies)
                wrk.run_wrk(state["front"]["url"], wrk.script_get(path), c, 1.0)
        if state["error"]:
            raise NotAvailable(state["error"])
        return state

    s = bench.settings
    path = f"{COLLECTION}/{OBJECT}"
    for c in s.kapid_concurrencies:
        bench.add(Scenario(f"aggregator/get/c{c}", "aggregator", "req/s",
                           lambda c=c: wrk.run_wrk(need()["front"]["url"], wrk.script_get(path), c, s.duration),
                           note="GET one FlowSchema through the front (APIService → extension kapid, TLS)"))
        bench.add(Scenario(f"aggregator/get_direct/c{c}", "aggregator", "req/s",
                           lambda c=c: wrk.run_wrk(need()["backend"]["url"], wrk.script_get(path), c, s.duration),
                           note="the same GET on the extension kapid itself"))
    watchers, events = watch_sizes(s.mode)
    for label, key in (("watch", "front"), ("watch_direct", "backend")):
        def watch(key: str = key) -> dict:
            st = need()
            return run_watch(bench, {"server": st[key]["url"], "writer": st["backend"]["url"], "watchers": watchers,
                                     "events": events, "writers": 4, "duration": 120.0}, timeout=300)

        bench.add(Scenario(f"aggregator/{label}/w{watchers}", "aggregator", "deliveries/s", watch,
                           note=f"{watchers} watchers {'through the front' if key == 'front' else 'on the extension kapid'}, "
                                f"{events} PUTs on the extension kapid"))


def watch_sizes(mode: str) -> tuple[int, int]:
    """
    C{(watchers, events)} of the watch rows.
    """
    return {"full": (100, 1000), "quick": (100, 100)}.get(mode, (10, 20))


def ratios(bench: Any, ratio: Any) -> None:
    """
    Add the aggregator ratios with C{ratio(label, numerator, denominator, target)}.
    """
    for c in bench.settings.kapid_concurrencies:
        ratio(f"get through the aggregator ÷ on the extension server directly, c{c}", f"aggregator/get/c{c}",
              f"aggregator/get_direct/c{c}", 0.6 if c == 16 else None)
    w, _ = watch_sizes(bench.settings.mode)
    ratio(f"watch deliveries through the aggregator ÷ direct, {w} watchers", f"aggregator/watch/w{w}",
          f"aggregator/watch_direct/w{w}", None)


async def watch_op(reactor: Any, spec: dict) -> dict:
    """
    C{watchers} watches of the fan FlowSchema at C{server}; C{events} PUTs of it at C{writer}
    (C{writers} at once); deliveries per second and delivery latency (L{bench.client}'s helpers).
    """
    import orjson
    import treq

    from bench.client import closed_loop, delivery_stats, make_http, open_streams, wait_deliveries

    server, writer = spec["server"].rstrip("/"), spec["writer"].rstrip("/")
    http, pool = make_http(reactor, 4)
    list_url = f"{server}{COLLECTION}?fieldSelector=metadata.name%3D{FAN}"
    resp = await http.get(list_url)
    body = await treq.content(resp)
    if resp.code != 200:
        raise RuntimeError(f"GET {list_url}: {resp.code} {body[:200]!r}")
    rv = orjson.loads(body)["metadata"]["resourceVersion"]
    watch_url = f"{server}{COLLECTION}?watch=true&resourceVersion={rv}&fieldSelector=metadata.name%3D{FAN}"
    sink: list = []
    streams, ok = await open_streams(reactor, spec["watchers"], b"GET", watch_url, None,
                                     re.compile(rb'"seq":"(\d+)"'), sink, 60.0)
    sent: dict = {}
    errors: list = []
    wclient, wpool = make_http(reactor, spec["writers"])
    headers = {b"Content-Type": [b"application/json"]}
    obj_url = f"{writer}{COLLECTION}/{FAN}"

    async def write(n: int) -> None:
        seq = n + 1
        sent[seq] = time.perf_counter()
        r = await wclient.put(obj_url, data=orjson.dumps(flowschema(FAN, str(seq))), headers=headers)
        data = await treq.content(r)
        if r.code != 200:
            del sent[seq]
            errors.append(f"PUT {obj_url}: {r.code} {data[:200]!r}")

    first = time.perf_counter()
    await closed_loop(spec["writers"], spec["duration"], spec["events"], write)
    await wpool.closeCachedConnections()
    if not sent:
        for st in streams:
            st.stop()
        raise RuntimeError(f"no update succeeded: {errors[0] if errors else ''}")
    await wait_deliveries(reactor, sink, ok * len(sent), 30.0)
    for st in streams:
        st.stop()
    await pool.closeCachedConnections()
    out = delivery_stats(sink, sent, ok, len(sent), first)
    out["streams_ok"] = ok
    out["write_errors"] = len(errors)
    if ok == 0:
        raise RuntimeError(f"no watch stream answered 200 ({watch_url})")
    return out


def main(argv: list[str]) -> None:
    """
    C{python -m bench.aggregator watch '<json spec>'}: print C{RESULT <json>}.
    """
    from twisted.internet import task
    from twisted.internet.defer import Deferred

    if len(argv) != 2 or argv[0] != "watch":
        raise SystemExit("usage: python -m bench.aggregator watch '<json spec>'")
    spec = json.loads(argv[1])

    async def go(r: Any) -> None:
        try:
            result = await watch_op(r, spec)
        except Exception as e:
            result = {"error": repr(e)[:500]}
        sys.stdout.write("RESULT " + json.dumps(result) + "\n")
        sys.stdout.flush()

    task.react(lambda r: Deferred.fromCoroutine(go(r)))


if __name__ == "__main__":
    main(sys.argv[1:])
