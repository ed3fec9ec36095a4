"""
C{python3 -m bench.run [--quick] [--backend embedded|etcd|both] [--out DIR] [--only NAME,...]}:
measure kapid against the ceilings of its own stack, in one run, and print every figure as a ratio.

What it starts (all on free loopback ports, all stopped by PID at the end, on Ctrl-C and on errors):
a real etcd (C{/usr/bin/etcd}, temp data dir), the ceiling servers (L{bench.servers}), C{twistd -n web}
for the start-up ceiling, and C{twistd -n kapid} processes on the embedded store and on etcd. Load
comes from Debian's C{wrk} (HTTP) and from L{bench.client} (a Twisted process: etcd gateway, watch
streams, paginated lists, IStorage). Every load loop is bounded by a count and by a deadline.

Repeats are interleaved (repeat 1 of every scenario, then repeat 2 of every scenario, ...), and each
scenario reports min / median / max throughput and the median of its repeats' p50 / p99 latency.
A scenario the server cannot run yet is reported as C{not available: <reason>}, never faked.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from typing import Any, Callable, Optional

from bench import wrk
from bench.common import (
    REPO,
    Processes,
    child_env,
    configmap,
    free_port,
    http_status,
    percentile,
    pod_bytes,
    python_argv,
    rss_bytes,
    summarize,
    wait_for_200,
)

CONCURRENCIES = (1, 16, 64)

#: twistd for C{sys.executable} (C{python -m twisted} is C{twist}, which has no C{-n}; twistd's module
#: has no C{__main__}).
#: Concurrent writers feeding the watch fan-out scenarios (the same for direct etcd watches and kapid).
WATCH_WRITERS = 4

TWISTD = ("-c", "from twisted.scripts.twistd import run; run()")


class NotAvailable(Exception):
    """
    A scenario cannot run against this server (yet); the message says why.
    """


# --------------------------------------------------------------------------------------------------
# Settings


class Settings:
    """
    Sizes and durations of a run: full, C{--quick} (CI smoke, under two minutes) or C{--tiny}
    (the smoke test's few hundred requests).
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        if mode == "full":
            self.repeats, self.duration, self.max_requests = 3, 3.0, 200_000
            self.startup_repeats = 3
            self.kapid_concurrencies = (1, 16, 64)
            self.list_sizes = (1000, 10000)
            self.fanout = ((100, 1000), (1000, 1000))
            self.etcd_watchers = 100
            self.etcd_watch_events = 1000
            self.memory_objects = 10000
        elif mode == "quick":
            self.repeats, self.duration, self.max_requests = 1, 1.0, 20_000
            self.startup_repeats = 1
            self.kapid_concurrencies = (16,)
            self.list_sizes = (500,)
            self.fanout = ((100, 100),)
            self.etcd_watchers = 100
            self.etcd_watch_events = 100
            self.memory_objects = 500
        else:  # tiny
            self.repeats, self.duration, self.max_requests = 1, 1.0, 200
            self.startup_repeats = 1
            self.kapid_concurrencies = (16,)
            self.list_sizes = (100,)
            self.fanout = ((10, 20),)
            self.etcd_watchers = 10
            self.etcd_watch_events = 20
            self.memory_objects = 200


# --------------------------------------------------------------------------------------------------
# The run


class Scenario:
    """
    One named measurement: C{fn()} returns one sample (a dict with C{throughput}, C{p50_ms},
    C{p99_ms}, ...) per call, or raises L{NotAvailable}.
    """

    def __init__(self, name: str, group: str, unit: str, fn: Callable[[], dict], repeats: Optional[int] = None,
                 note: str = "") -> None:
        self.name = name
        self.group = group
        self.unit = unit
        self.fn = fn
        self.repeats = repeats
        self.note = note
        self.samples: list[dict] = []
        self.unavailable: Optional[str] = None
        self.errors: list[str] = []


class Bench:
    """
    One benchmark run: the processes it started, its scenarios, and their results.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.settings = Settings("tiny" if args.tiny else "quick" if args.quick else "full")
        self.out = os.path.abspath(args.out)
        os.makedirs(self.out, exist_ok=True)
        self.tmp = tempfile.mkdtemp(prefix="kapid-bench-")
        self.logs = os.path.join(self.out, "logs")
        shutil.rmtree(self.logs, ignore_errors=True)
        os.makedirs(self.logs)
        self.procs = Processes()
        self.scenarios: list[Scenario] = []
        self.run_id = str(int(time.time()))
        self.etcd_url = ""
        self.kapid: dict[str, dict] = {}
        self.backends = ["embedded", "etcd"] if args.backend == "both" else [args.backend]
        self.repeat = 0
        self.only = [s.strip() for s in (args.only or "").split(",") if s.strip()]

    def log(self, msg: str) -> None:
        """
        A progress line on stderr.
        """
        sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {msg}\n")
        sys.stderr.flush()

    def wanted(self, name: str) -> bool:
        """
        Whether C{--only} selects scenario C{name} (prefix match on any selector).
        """
        return not self.only or any(name.startswith(o) or f"/{o}" in name for o in self.only)

    def wanted_prefix(self, prefix: str) -> bool:
        """
        Whether any scenario under C{prefix} may be selected.
        """
        return not self.only or any(o.startswith(prefix) or prefix.startswith(o) or "/" not in o
                                    for o in self.only)

    def add(self, scenario: Scenario) -> None:
        """
        Register a scenario if C{--only} selects it.
        """
        if self.wanted(scenario.name):
            self.scenarios.append(scenario)

    # ----------------------------------------------------------------------------------------------
    # Children

    def client(self, spec: dict, timeout: float) -> dict:
        """
        Run one L{bench.client} spec in its own process (bounded by C{timeout}); its result dict.
        """
        argv = python_argv("-m", "bench.client", json.dumps(spec))
        from bench.common import child_env

        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
                             text=True, start_new_session=True)
        self.procs.procs.append(p)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.procs.stop(p)
            raise RuntimeError(f"client {spec['op']} did not finish within {timeout:.0f} s")
        finally:
            if p in self.procs.procs:
                self.procs.procs.remove(p)
        line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            raise RuntimeError(f"client {spec['op']} gave no result: {err[-600:]}")
        result = json.loads(line[len("RESULT "):])
        if "error" in result:
            raise RuntimeError(f"client {spec['op']}: {result['error']}")
        return result

    def start_etcd(self) -> None:
        """
        Start a real etcd on free loopback ports with a temp data dir.
        """
        etcd = shutil.which("etcd") or "/usr/bin/etcd"
        if not os.path.exists(etcd):
            raise SystemExit("etcd not found (Debian package etcd-server)")
        cport, pport = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{cport}"
        peer = f"http://127.0.0.1:{pport}"
        argv = [etcd, "--name", "bench", "--data-dir", os.path.join(self.tmp, "etcd"),
                "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"bench={peer}", "--log-level", "error",
                "--quota-backend-bytes", str(4 * 1024 ** 3)]
        p = self.procs.start(argv, os.path.join(self.logs, "etcd.log"))
        if wait_for_200(self.etcd_url + "/health", p, 30.0) is None:
            raise SystemExit(f"etcd did not become healthy; log in {self.logs}/etcd.log")
        self.etcd_proc = p

    def start_server(self, kind: str) -> str:
        """
        Start a ceiling server (L{bench.servers}); its base URL.
        """
        port = free_port()
        p = self.procs.start(python_argv("-m", "bench.servers", kind, str(port)),
                             os.path.join(self.logs, f"ceiling-{kind}.log"))
        path = "/pod" if kind == "klein" else "/"
        if wait_for_200(f"http://127.0.0.1:{port}{path}", p, 30.0) is None:
            raise SystemExit(f"ceiling server {kind} did not start")
        return f"http://127.0.0.1:{port}"

    def kapid_argv(self, port: int, data_dir: str, backend: str) -> list[str]:
        """
        The argv of a C{twistd -n kapid} process.
        """
        argv = python_argv(*TWISTD, "-n", "--pidfile=", "kapid",
                           "--insecure-port", str(port), "--secure-port", str(free_port()),
                           "--bind-address", "127.0.0.1", "--data-dir", data_dir)
        if backend == "etcd":
            argv += ["--etcd-servers", self.etcd_url]
        return argv

    def start_kapid(self, backend: str, label: str, data_dir: Optional[str] = None,
                    timeout: float = 60.0) -> dict:
        """
        Start a C{twistd -n kapid} on C{backend}; returns C{{"proc", "url", "startup", "error"}}.
        """
        port = free_port()
        data_dir = data_dir or tempfile.mkdtemp(prefix=f"data-{label}-", dir=self.tmp)
        log = os.path.join(self.logs, f"kapid-{label}.log")
        t0 = time.monotonic()
        p = self.procs.start(self.kapid_argv(port, data_dir, backend), log)
        url = f"http://127.0.0.1:{port}"
        t_wait = time.monotonic()
        took = wait_for_200(url + "/readyz", p, timeout)
        info = {"proc": p, "url": url, "startup": None, "error": None, "log": log, "data_dir": data_dir}
        if took is None:
            tail = ""
            try:
                with open(log, errors="replace") as f:
                    tail = " ".join(f.read().splitlines()[-3:])[-300:]
            except OSError:
                pass
            status, _ = http_status(url + "/readyz")
            why = (f"exited with status {p.poll()}" if p.poll() is not None
                   else f"not ready within {timeout:.0f} s (/readyz {status})")
            info["error"] = f"kapid ({backend}) {why}: {tail}"
            self.procs.stop(p)
        else:
            info["startup"] = took + (t_wait - t0)
        return info

    # ----------------------------------------------------------------------------------------------
    # Ceilings

    def setup_ceilings(self) -> None:
        """
        Start the ceiling servers and register the ceiling scenarios.
        """
        s = self.settings
        if self.wanted_prefix("ceiling/web") or self.wanted_prefix("ceiling/klein"):
            web = self.start_server("web")
            klein = self.start_server("klein")
            body = pod_bytes().decode()
            for c in CONCURRENCIES:
                self.add(Scenario(f"ceiling/web/c{c}", "ceiling", "req/s",
                                  lambda c=c: wrk.run_wrk(web, wrk.script_get("/"), c, s.duration),
                                  note="twisted.web resource, 2 KB JSON"))
            for c in CONCURRENCIES:
                self.add(Scenario(f"ceiling/klein_json/c{c}", "ceiling", "req/s",
                                  lambda c=c: wrk.run_wrk(klein, wrk.script_body("POST", "/pod", body), c,
                                                          s.duration),
                                  note="Klein POST, orjson decode+encode of a 2 KB Pod"))
        # The etcd gateway ceilings run in one Twisted client process per repeat (one process start,
        # not one per figure); each figure is still its own scenario.
        w, e = s.etcd_watchers, s.etcd_watch_events
        specs = []
        for op in ("etcd_put", "etcd_range", "etcd_txn"):
            for c in CONCURRENCIES:
                specs.append({"key": f"ceiling/{op}/c{c}", "op": op, "endpoint": "", "concurrency": c,
                              "duration": s.duration, "max_requests": s.max_requests, "run": self.run_id})
        specs.append({"key": f"ceiling/etcd_watch/w{w}", "op": "etcd_watch", "endpoint": "", "watchers": w,
                      "events": e, "duration": 60, "run": self.run_id, "writers": WATCH_WRITERS})
        specs = [sp for sp in specs if self.wanted(sp["key"])]
        def fill(sp: dict) -> None:
            sp["endpoint"] = self.etcd_url
            sp["run"] = f"{self.run_id}-{self.repeat}"

        etcd_sample = self.batched(specs, fill, s.duration + 30)

        for sp in specs:
            if sp["op"] == "etcd_watch":
                note = f"{w} direct etcd watch streams, {e} sequential puts"
                unit = "deliveries/s"
            else:
                note = "one Twisted process, treq, own pool"
                unit = "req/s"
            self.add(Scenario(sp["key"], "ceiling", unit, lambda k=sp["key"]: etcd_sample(k), note=note))

    def batched(self, specs: list[dict], fill: Callable[[dict], None], seconds_each: float) -> Callable[[str], dict]:
        """
        A function C{sample(key)} for scenarios measured together: the first call in each repeat
        runs every spec in C{specs} (after C{fill(spec)}) in one L{bench.client} process; each call
        returns its own spec's result.
        """
        batches: dict[int, dict] = {}

        def sample(key: str) -> dict:
            r = self.repeat
            if r not in batches:
                for sp in specs:
                    fill(sp)
                batches[r] = self.client({"op": "batch", "specs": specs},
                                         timeout=len(specs) * seconds_each + 120)
            res = batches[r][key]
            if "error" in res:
                raise RuntimeError(res["error"])
            return res

        return sample

    def startup_phase(self) -> None:
        """
        Start-up to first 200: C{twistd -n web} against C{twistd -n kapid} (each backend), interleaved.
        """
        s = self.settings
        sc_web = Scenario("startup/twistd_web", "ceiling", "s", lambda: {})
        sc_k = {b: Scenario(f"{b}/startup", b, "s", lambda: {}) for b in self.backends}
        todo = [sc for sc in [sc_web, *sc_k.values()] if self.wanted(sc.name)]
        if not todo:
            return
        self.scenarios.extend(todo)
        webdir = os.path.join(self.tmp, "www")
        os.makedirs(webdir, exist_ok=True)
        with open(os.path.join(webdir, "index.html"), "w") as f:
            f.write("<p>ok</p>")
        for r in range(s.startup_repeats):
            if sc_web in todo:
                port = free_port()
                t0 = time.monotonic()
                p = self.procs.start(python_argv(*TWISTD, "-n", "--pidfile=", "web", "--listen",
                                                 f"tcp:{port}:interface=127.0.0.1", "--path", webdir),
                                     os.path.join(self.logs, "twistd-web.log"))
                t_wait = time.monotonic()
                took = wait_for_200(f"http://127.0.0.1:{port}/", p, 30.0)
                self.procs.stop(p)
                if took is None:
                    sc_web.errors.append("twistd web did not answer 200")
                else:
                    sc_web.samples.append({"seconds": took + (t_wait - t0)})
            for b, sc in sc_k.items():
                if sc not in todo or sc.unavailable:
                    continue
                info = self.start_kapid(b, f"startup-{b}-{r}", timeout=30.0)
                if info["error"]:
                    sc.unavailable = info["error"]
                    continue
                self.procs.stop(info["proc"])
                sc.samples.append({"seconds": info["startup"]})
        for sc in todo:
            for smp in sc.samples:
                smp["throughput"] = smp["seconds"]  # summarised like a figure; lower is better
            self.log(f"{sc.name}: {[round(x['seconds'], 3) for x in sc.samples]} {sc.unavailable or ''}")

    def fixture_phase(self) -> None:
        """
        kapid as a test fixture (L{bench.fixture}, a fresh process each repeat): start-up from
        C{import kapid.testing} to the first client call, and C{kapid_namespace}'s round trip
        (create + delete a namespace).
        """
        s = self.settings
        sc_start = Scenario("fixture/startup", "fixture", "s", lambda: {},
                            note="import kapid.testing to first 200 (envtest publishes 10-15 s)")
        sc_ns = Scenario("fixture/namespace_roundtrip", "fixture", "round trips/s", lambda: {},
                         note="create + delete a namespace, blocking client")
        todo = [sc for sc in (sc_start, sc_ns) if self.wanted(sc.name)]
        if not todo:
            return
        self.scenarios.extend(todo)
        roundtrips = {"full": 300, "quick": 100}.get(s.mode, 20)
        for r in range(s.startup_repeats):
            done = subprocess.run(python_argv("-m", "bench.fixture", f"--roundtrips={roundtrips}"),
                                  capture_output=True, text=True, timeout=120, env=child_env(), cwd=REPO)
            with open(os.path.join(self.logs, f"fixture-{r}.log"), "w") as f:
                f.write(done.stdout + done.stderr)
            if done.returncode != 0:
                for sc in todo:
                    sc.errors.append(f"bench.fixture exited {done.returncode}: {done.stderr.strip()[-300:]}")
                continue
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            times = figures["roundtrip_ms"]
            sc_start.samples.append({"seconds": figures["startup_s"], "throughput": figures["startup_s"]})
            sc_ns.samples.append({"throughput": 1000.0 * len(times) / sum(times),
                                  "p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99)})
        for sc in todo:
            self.log(f"{sc.name}: {[summarize(sc.samples).get('throughput_median')]} {sc.errors or ''}")

    # ----------------------------------------------------------------------------------------------
    # Storage (issue 3)

    def setup_storage(self) -> None:
        """
        IStorage over etcd and over the embedded store, driven from a Twisted process like the raw
        gateway ceiling.
        """
        from bench.storage_ops import STORAGE_OPS, storage_available

        s = self.settings
        watchers = 1000 if s.mode == "full" else 100 if s.mode == "quick" else 10
        events = 1000 if s.mode == "full" else 50 if s.mode == "quick" else 10
        size = 1000 if s.mode == "full" else 200 if s.mode == "quick" else 100
        for kv in ("etcd", "embedded"):
            if kv not in self.backends:
                continue
            for layer in ("store", "cacher"):
                specs = []
                for op in STORAGE_OPS:
                    name = {"list": f"storage/{kv}/{layer}/list{size}",
                            # the plain store opens one etcd watch per watcher: at most 100 there
                            "watch_fanout": f"storage/{kv}/{layer}/watch_fanout/"
                                            f"w{watchers if layer == 'cacher' else min(watchers, 100)}"}.get(
                                op, f"storage/{kv}/{layer}/{op}/c16")
                    if self.wanted(name):
                        specs.append({"key": name, "op": "storage", "kv": kv, "layer": layer, "storage_op": op,
                                      "concurrency": 16, "duration": s.duration, "max_requests": s.max_requests,
                                      "watchers": watchers, "events": events, "list_size": size})

                def fill(sp: dict) -> None:
                    sp["etcd"] = self.etcd_url
                    sp["data_dir"] = tempfile.mkdtemp(dir=self.tmp)
                    sp["run"] = f"{self.run_id}-{time.monotonic_ns()}"

                sample = self.batched(specs, fill, s.duration + 60)
                for sp in specs:
                    def fn(key: str = sp["key"], kv: str = kv, layer: str = layer,
                           sample: Callable[[str], dict] = sample) -> dict:
                        reason = storage_available(kv, layer)
                        if reason:
                            raise NotAvailable(reason)
                        return sample(key)

                    op = sp["storage_op"]
                    self.add(Scenario(sp["key"], "storage", "objects/s" if op == "list" else
                                      "deliveries/s" if op == "watch_fanout" else "ops/s", fn,
                                      note=f"IStorage {layer} over {kv}"))

    # ----------------------------------------------------------------------------------------------
    # kapid scenarios

    def setup_kapid(self, backend: str) -> None:
        """
        Start the long-lived kapid on C{backend}, prepare its data, register its scenarios.
        """
        s = self.settings
        b = backend
        if not self.wanted_prefix(b + "/"):
            return
        info = self.start_kapid(b, f"main-{b}")
        self.kapid[b] = info
        base = info["url"]
        names: list[str] = []

        def need() -> str:
            if info["error"]:
                raise NotAvailable(info["error"])
            return base

        def probe(method: str, path: str, body: Optional[bytes] = None, ok=(200, 201),
                  ctype: str = "application/json") -> bytes:
            need()
            status, data = http_status(base + path, method, body, {"Content-Type": ctype})
            if status not in ok:
                raise NotAvailable(f"{method} {path} answered {status or 'no connection'}: "
                                   f"{data[:160].decode(errors='replace')}")
            return data

        def ensure_ns(ns: str) -> None:
            body = json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}).encode()
            status, _ = http_status(base + "/api/v1/namespaces", "POST", body, {"Content-Type": "application/json"})
            # kube answers 201, or 409 when it exists; kapid without namespaces yet may accept any namespace

        def populate(ns: str, count: int) -> dict:
            ensure_ns(ns)
            cm = json.dumps(configmap("probe-0", ns)).encode()
            probe("POST", f"/api/v1/namespaces/{ns}/configmaps", cm, ok=(201, 409))
            return self.client({"op": "populate", "server": base, "namespace": ns, "prefix": "o",
                                "count": count, "concurrency": 16, "duration": 600.0},
                               timeout=660)

        prepared: dict[str, Any] = {}

        def prepare(key: str, fn: Callable[[], Any]) -> Any:
            if key not in prepared:
                try:
                    prepared[key] = ("ok", fn())
                except NotAvailable as e:
                    prepared[key] = ("na", str(e))
                except Exception as e:
                    prepared[key] = ("na", f"setup failed: {e}")
            state, val = prepared[key]
            if state == "na":
                raise NotAvailable(val)
            return val

        # -- memory (run once, before the big collections exist in this process)
        mem_n = s.memory_objects

        def memory() -> dict:
            need()
            pid = info["proc"].pid
            before = rss_bytes(pid)
            res = prepare(f"list{mem_n}", lambda: populate(f"bench-list-{mem_n}", mem_n - 1))
            probe("GET", f"/api/v1/namespaces/bench-list-{mem_n}/configmaps?resourceVersion=0")
            after = rss_bytes(pid)
            json_bytes = res.get("json_bytes", 0) or 1
            per10k = (after - before) / mem_n * 10000
            return {"throughput": (after - before) / json_bytes, "rss_delta_bytes": after - before,
                    "json_bytes": json_bytes, "objects": mem_n, "rss_per_10k_objects_mb": per10k / 2**20,
                    "json_per_10k_objects_mb": json_bytes / mem_n * 10000 / 2**20}

        self.add(Scenario(f"{b}/memory/{mem_n}", b, "RSS/JSON", memory, repeats=1,
                          note="RSS growth ÷ JSON size of the objects created"))

        # -- create / get
        cm_template = json.dumps(configmap("@NAME@", "bench-create"))

        def create(c: int) -> dict:
            prepare("ns-create", lambda: (ensure_ns("bench-create"),
                                          probe("POST", "/api/v1/namespaces/bench-create/configmaps",
                                                json.dumps(configmap(f"probe-{self.run_id}", "bench-create")).encode(),
                                                ok=(201, 409))))
            res = wrk.run_wrk(base, wrk.script_create("/api/v1/namespaces/bench-create/configmaps", cm_template,
                                                      f"c{c}-{time.monotonic_ns()}"), c, s.duration)
            return res

        def get(c: int) -> dict:
            prepare("get-obj", lambda: (ensure_ns("bench-get"),
                                        probe("POST", "/api/v1/namespaces/bench-get/configmaps",
                                              json.dumps(configmap("one", "bench-get")).encode(), ok=(201, 409)),
                                        probe("GET", "/api/v1/namespaces/bench-get/configmaps/one")))
            return wrk.run_wrk(base, wrk.script_get("/api/v1/namespaces/bench-get/configmaps/one"), c, s.duration)

        for c in s.kapid_concurrencies:
            self.add(Scenario(f"{b}/create/c{c}", b, "req/s", lambda c=c: create(c), note="POST ConfigMap 2 KB"))
            self.add(Scenario(f"{b}/get/c{c}", b, "req/s", lambda c=c: get(c), note="GET one ConfigMap"))

        # -- lists
        for n in s.list_sizes:
            ns = f"bench-list-{n}"
            path = f"/api/v1/namespaces/{ns}/configmaps"

            def ready(n: int = n, ns: str = ns, path: str = path) -> None:
                prepare(f"list{n}", lambda: populate(ns, n - 1))
                data = probe("GET", path + "?resourceVersion=0")
                got = len(json.loads(data).get("items") or [])
                if got < n:
                    raise NotAvailable(f"list of {ns} returned {got} items, expected {n}")

            def full_list(rv0: bool, n: int = n, path: str = path, ready: Callable = ready) -> dict:
                ready()
                # a list of 10,000 takes seconds here: fewer connections, a longer window
                big = n >= 5000 and s.mode == "full"
                res = wrk.run_wrk(base, wrk.script_get(path + ("?resourceVersion=0" if rv0 else "")),
                                  2 if big else 4, 3 * s.duration if big else s.duration, timeout_s=30)
                res["lists_per_s"] = res["throughput"]
                res["throughput"] = res["throughput"] * n
                return res

            def paged(n: int = n, path: str = path, ready: Callable = ready) -> dict:
                ready()
                return self.client({"op": "list_pages", "url": base + path, "limit": 500, "concurrency": 1,
                                    "duration": s.duration, "max_requests": 1000},
                                   timeout=s.duration + 120)

            self.add(Scenario(f"{b}/list{n}/full", b, "objects/s", lambda f=full_list: f(False),
                              note="GET list, from storage"))
            self.add(Scenario(f"{b}/list{n}/rv0", b, "objects/s", lambda f=full_list: f(True),
                              note="GET list ?resourceVersion=0 (watch cache)"))
            self.add(Scenario(f"{b}/list{n}/paged500", b, "objects/s", paged, note="limit=500 + continue"))

        # -- patch
        patch_names = [f"p{i}" for i in range(32)]

        def patch_ready() -> None:
            def mk() -> None:
                ensure_ns("bench-patch")
                for nm in patch_names:
                    probe("POST", "/api/v1/namespaces/bench-patch/configmaps",
                          json.dumps(configmap(nm, "bench-patch", 512)).encode(), ok=(201, 409))
            prepare("patch-objs", mk)

        for kind, ctype in (("merge", "application/merge-patch+json"),
                            ("strategic", "application/strategic-merge-patch+json")):
            def patch(kind: str = kind, ctype: str = ctype) -> dict:
                patch_ready()
                probe("PATCH", "/api/v1/namespaces/bench-patch/configmaps/p0",
                      json.dumps({"data": {"n": "0"}}).encode(), ok=(200,), ctype=ctype)
                return wrk.run_wrk(base, wrk.script_patch_cycle(
                    "/api/v1/namespaces/bench-patch/configmaps/@NAME@", patch_names,
                    '{"data":{"n":"@N@"}}', ctype), 16, s.duration)

            self.add(Scenario(f"{b}/patch_{kind}/c16", b, "req/s", patch, note=f"PATCH {ctype}"))

        # -- watch fan-out
        for watchers, events in s.fanout:
            def fanout(watchers: int = watchers, events: int = events) -> dict:
                def mk() -> None:
                    ensure_ns("bench-watch")
                    probe("POST", "/api/v1/namespaces/bench-watch/configmaps",
                          json.dumps(configmap("fan", "bench-watch", 256)).encode(), ok=(201, 409))
                prepare("fan-obj", mk)
                res = self.client({"op": "kapid_watch", "server": base, "namespace": "bench-watch", "name": "fan",
                                   "watchers": watchers, "events": events, "duration": 120.0,
                                   "writers": WATCH_WRITERS, "drain_timeout": 120.0 if watchers >= 1000 else 30.0,
                                   "open_timeout": 60.0,
                                   "etcd": self.etcd_url if b == "etcd" else None,
                                   "etcd_metrics": self.etcd_url + "/metrics" if b == "etcd" else None},
                                  timeout=300)
                if res["streams_ok"] == 0:
                    raise NotAvailable("no watch stream answered 200 "
                                       "(GET .../configmaps?watch=true&fieldSelector=metadata.name=fan)")
                return res

            self.add(Scenario(f"{b}/watch_fanout/w{watchers}", b, "deliveries/s", fanout,
                              repeats=1 if watchers >= 1000 else None,
                              note=f"{watchers} watchers, {events} events"))

        # -- two processes on one etcd
        if b == "etcd":
            for verb in ("create", "get"):
                def two(verb: str = verb) -> dict:
                    need()
                    c = 16
                    one = (create if verb == "create" else get)(c)
                    second = self.start_kapid("etcd", f"second-{time.monotonic_ns()}")
                    if second["error"]:
                        raise NotAvailable("second kapid: " + second["error"])
                    try:
                        http_status(second["url"] + "/api/v1/namespaces/bench-get/configmaps/one")
                        with_two = self.parallel_wrk(verb, [base, second["url"]], c, cm_template)
                    finally:
                        self.procs.stop(second["proc"])
                    tp = sum(x["throughput"] for x in with_two)
                    return {"throughput": tp, "one_process": one["throughput"], "ratio": tp / one["throughput"]
                            if one["throughput"] else 0.0,
                            "p50_ms": max(x["p50_ms"] for x in with_two),
                            "p99_ms": max(x["p99_ms"] for x in with_two)}

                self.add(Scenario(f"etcd/two_processes/{verb}/c16", b, "req/s", two,
                                  note=f"{verb}: two kapid on one etcd, wrk c16 each; ratio ÷ one"))

    def parallel_wrk(self, verb: str, bases: list[str], c: int, cm_template: str) -> list[dict]:
        """
        The same wrk load against several servers at once (one wrk process each).
        """
        import concurrent.futures

        s = self.settings

        def one(i_base: tuple[int, str]) -> dict:
            i, base = i_base
            if verb == "create":
                script = wrk.script_create("/api/v1/namespaces/bench-create/configmaps", cm_template,
                                           f"two{i}-{time.monotonic_ns()}")
            else:
                script = wrk.script_get("/api/v1/namespaces/bench-get/configmaps/one")
            return wrk.run_wrk(base, script, c, s.duration)

        with concurrent.futures.ThreadPoolExecutor(len(bases)) as ex:
            return list(ex.map(one, enumerate(bases)))

    # ----------------------------------------------------------------------------------------------

    def run_repeats(self) -> None:
        """
        Run every registered scenario, repeats interleaved.
        """
        s = self.settings
        pending = [sc for sc in self.scenarios if not sc.name.startswith(("startup/", "fixture/"))
                   and not sc.name.endswith("/startup")]
        for r in range(s.repeats):
            self.repeat = r
            for sc in pending:
                if sc.unavailable:
                    continue
                if sc.repeats is not None and r >= sc.repeats:
                    continue
                t0 = time.monotonic()
                try:
                    sample = sc.fn()
                    if not sample.get("throughput") and sample.get("first_error"):
                        raise RuntimeError(f"every call failed: {sample['first_error']}")
                    sc.samples.append(sample)
                    self.log(f"{sc.name} [{r + 1}/{s.repeats}] {sample.get('throughput', 0):,.1f} {sc.unit} "
                             f"p50 {sample.get('p50_ms', 0):.2f} ms p99 {sample.get('p99_ms', 0):.2f} ms "
                             f"({time.monotonic() - t0:.1f} s)")
                except NotAvailable as e:
                    sc.unavailable = str(e)
                    self.log(f"{sc.name}: not available: {e}")
                except KeyboardInterrupt:
                    raise
                except Exception as e:
                    sc.errors.append(f"{type(e).__name__}: {e}")
                    self.log(f"{sc.name}: error: {e}")
                    if os.environ.get("KAPID_BENCH_DEBUG"):
                        traceback.print_exc()

    # ----------------------------------------------------------------------------------------------

    def figure(self, name: str, key: str = "throughput_median") -> Optional[float]:
        """
        The summarised figure C{key} of scenario C{name}, or None.
        """
        for sc in self.scenarios:
            if sc.name == name and sc.samples:
                return summarize(sc.samples).get(key)
        return None

    def ratios(self) -> list[dict]:
        """
        The ratios (kapid ÷ ceiling) with their targets.
        """
        out: list[dict] = []
        s = self.settings

        def ratio(label: str, num: str, den: str, target: Optional[float], better: str = "higher",
                  num_key: str = "throughput_median", den_key: str = "throughput_median") -> None:
            a, b = self.figure(num, num_key), self.figure(den, den_key)
            value = a / b if a is not None and b else None
            met = None
            if value is not None and target is not None:
                met = value >= target if better == "higher" else value <= target
            out.append({"name": label, "numerator": num, "denominator": den, "value": value,
                        "target": target, "better": better, "met": met})

        w = s.etcd_watchers
        for b in self.backends:
            ratio(f"start-up ({b}) ÷ twistd web start-up", f"{b}/startup", "startup/twistd_web", 2.0, "lower")
        ratio("fixture start-up (import to first call) ÷ twistd web start-up", "fixture/startup",
              "startup/twistd_web", 2.0, "lower")
        if "etcd" in self.backends:
            ratio("create (etcd) ÷ etcd txn, c16", "etcd/create/c16", "ceiling/etcd_txn/c16", 0.5)
            ratio("get (etcd) ÷ etcd range, c16", "etcd/get/c16", "ceiling/etcd_range/c16", 0.5)
        if "embedded" in self.backends:
            ratio("get (embedded) ÷ Klein JSON, c16", "embedded/get/c16", "ceiling/klein_json/c16", 0.6)
            ratio("create (embedded) ÷ Klein JSON, c16", "embedded/create/c16", "ceiling/klein_json/c16", None)
            ratio("get with RBAC among RoleBindings ÷ AlwaysAllow (embedded, HTTPS, token), c16",
                  "embedded/rbac_get/c16", "embedded/rbac_allow_get/c16", 0.9)
            ratio("get with a ServiceAccount token ÷ a token-file token (embedded, HTTPS), c16",
                  "embedded/sa_token_get/c16", "embedded/rbac_allow_get/c16", 0.9)
            ratio("create with the default admission chain ÷ admission off (embedded), c16",
                  "embedded/admission_on_create/c16", "embedded/admission_off_create/c16", 0.9)
            ratio("pod create with the default admission chain ÷ admission off (embedded), c16",
                  "embedded/admission_on_pod_create/c16", "embedded/admission_off_pod_create/c16", 0.9)
            ratio("create through a mutating and a validating webhook ÷ without (embedded), c16",
                  "embedded/admission_webhooks_create/c16", "embedded/admission_on_create/c16", None)
        for b in self.backends:
            fan = next((f"{b}/watch_fanout/w{x}" for x, _ in s.fanout if x == w), None)
            if fan:
                ratio(f"fan-out deliveries ({b}, {w} watchers) ÷ direct etcd watch deliveries", fan,
                      f"ceiling/etcd_watch/w{w}", 10.0)
        if "etcd" in self.backends:
            for verb in ("create", "get"):
                a = self.figure(f"etcd/two_processes/{verb}/c16", "ratio")
                out.append({"name": f"two processes ÷ one ({verb}, etcd)", "numerator": f"etcd/two_processes/{verb}/c16",
                            "denominator": f"etcd/{verb}/c16", "value": a, "target": 1.6, "better": "higher",
                            "met": None if a is None else a >= 1.6})
        for b in self.backends:
            n = max(s.list_sizes)
            v = self.figure(f"{b}/list{n}/rv0")
            out.append({"name": f"list {n} at resourceVersion=0 ({b}), objects/s ÷ 50,000", "numerator": f"{b}/list{n}/rv0",
                        "denominator": "50,000 objects/s", "value": v / 50000 if v else None, "target": 1.0,
                        "better": "higher", "met": None if v is None else v >= 50000})
        for kv in ("etcd", "embedded"):
            if kv not in self.backends:
                continue
            for layer in ("store", "cacher"):
                ratio(f"IStorage create ({kv}, {layer}) ÷ etcd txn, c16", f"storage/{kv}/{layer}/create/c16",
                      "ceiling/etcd_txn/c16", 0.7)
                ratio(f"IStorage get ({kv}, {layer}) ÷ etcd range, c16", f"storage/{kv}/{layer}/get/c16",
                      "ceiling/etcd_range/c16", None)
        from bench import crd as crd_bench

        crd_bench.ratios(self, ratio)
        from bench import aggregator as aggregator_bench

        aggregator_bench.ratios(self, ratio)
        return [r for r in out if not self.only or r["value"] is not None]

    def report(self, started: float) -> dict:
        """
        Print the table and ratios; write results.json and ratios.png; return the results.
        """
        rows = []
        results: dict = {"meta": self.meta(started), "scenarios": {}, "ratios": []}
        for sc in self.scenarios:
            entry: dict = {"group": sc.group, "unit": sc.unit, "note": sc.note}
            if sc.unavailable:
                entry.update(status="not available", reason=sc.unavailable)
            elif sc.samples:
                entry.update(status="ok", summary=summarize(sc.samples), samples=sc.samples)
            else:
                entry.update(status="error", reason="; ".join(sc.errors) or "no samples")
            if sc.errors and sc.samples:
                entry["errors"] = sc.errors
            results["scenarios"][sc.name] = entry
            rows.append((sc.name, entry))
        results["ratios"] = self.ratios()
        print(format_table(rows))
        print()
        print(format_ratios(results["ratios"]))
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(results, f, indent=2, sort_keys=False)
        with open(os.path.join(self.out, "results.md"), "w") as f:
            f.write(markdown(results))
        try:
            chart(results, os.path.join(self.out, "ratios.png"))
        except ImportError:
            self.log("matplotlib is missing (pip install matplotlib): no chart")
        print(f"\nresults: {os.path.join(self.out, 'results.json')}  chart: {os.path.join(self.out, 'ratios.png')}")
        return results

    def meta(self, started: float) -> dict:
        """
        When and where the run happened.
        """
        try:
            commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True, timeout=5).stdout.strip()
        except Exception:
            commit = ""
        return {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
                "seconds": round(time.time() - started, 1), "mode": self.settings.mode,
                "repeats": self.settings.repeats, "duration_s": self.settings.duration,
                "backends": self.backends, "host": platform.node(), "cpus": os.cpu_count(),
                "loadavg_end": os.getloadavg(), "python": platform.python_version(), "commit": commit,
                "etcd": subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout.split("\n")[0]}

    def main(self) -> int:
        """
        Run everything; return the exit status.
        """
        started = time.time()
        self.procs.install_signal_handlers()
        try:
            self.log(f"mode {self.settings.mode}, backends {', '.join(self.backends)}, logs in {self.logs}")
            self.start_etcd()
            self.setup_ceilings()
            self.startup_phase()
            self.fixture_phase()
            self.setup_storage()
            for b in self.backends:
                self.setup_kapid(b)
            from bench import crd as crd_bench

            crd_bench.setup(self)
            from bench import rbac as rbac_bench

            rbac_bench.setup(self)
            from bench import admission as admission_bench

            admission_bench.setup(self)
            from bench import aggregator as aggregator_bench

            aggregator_bench.setup(self)
            self.run_repeats()
            results = self.report(started)
        finally:
            self.procs.kill_all()
            shutil.rmtree(self.tmp, ignore_errors=True)
        missing = [n for n, e in results["scenarios"].items() if e["status"] != "ok"]
        if missing:
            print(f"\n{len(missing)} scenario(s) did not run: " + ", ".join(missing))
        if self.settings.mode != "full" and missing:
            return 1  # --quick / --tiny: every selected scenario must have run
        return 0


# --------------------------------------------------------------------------------------------------
# Output


def _fmt(v: Optional[float]) -> str:
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 1:
        return f"{v:,.2f}"
    return f"{v:.3f}"


def format_table(rows: list[tuple[str, dict]]) -> str:
    """
    The scenario table: throughput min / median / max, latency p50 / p99 (medians of repeats).
    """
    head = (f"{'scenario':<40} {'unit':<13} {'min':>10} {'median':>10} {'max':>10} {'p50 ms':>9} {'p99 ms':>9}"
            "  n  details")
    lines = [head, "-" * len(head)]
    for name, e in rows:
        if e["status"] != "ok":
            lines.append(f"{name:<40} {e['status']}: {e['reason'][:150]}")
            continue
        sm = e["summary"]
        lines.append(f"{name:<40} {e['unit']:<13} {_fmt(sm.get('throughput_min')):>10} "
                     f"{_fmt(sm.get('throughput_median')):>10} {_fmt(sm.get('throughput_max')):>10} "
                     f"{_fmt(sm.get('p50_ms')):>9} {_fmt(sm.get('p99_ms')):>9}  {sm['repeats']}  {details(sm)}")
    return "\n".join(lines)


#: Summary fields worth a word in the table, with their labels.
DETAILS = (("lists_per_s", "lists/s"), ("complete", "all delivered"), ("upstream_watchers_added", "upstream watches"),
           ("rss_per_10k_objects_mb", "MB RSS/10k"), ("json_per_10k_objects_mb", "MB JSON/10k"),
           ("one_process", "one process"), ("ratio", "two÷one"), ("errors", "errors"),
           ("error_events", "ERROR events"), ("heavy_creates_per_s", "slow-schema creates/s"),
           ("us_per_object", "µs/object"), ("tries", "tries"))


def details(sm: dict) -> str:
    """
    A few scenario-specific figures as C{label=value} words.
    """
    words = []
    for key, label in DETAILS:
        v = sm.get(key)
        if v is None or (key == "errors" and not v):
            continue
        words.append(f"{label}={v}" if isinstance(v, bool) else f"{label}={_fmt(v)}")
    return " ".join(words)


def format_ratios(ratios: list[dict]) -> str:
    """
    The ratio table with targets.
    """
    head = f"{'ratio (kapid ÷ ceiling)':<66} {'value':>8} {'target':>9}  met"
    lines = [head, "-" * len(head)]
    for r in ratios:
        tgt = "-" if r["target"] is None else ("≥ " if r["better"] == "higher" else "≤ ") + _fmt(r["target"])
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        lines.append(f"{r['name']:<66} {_fmt(r['value']):>8} {tgt:>9}  {met}")
    return "\n".join(lines)


def markdown(results: dict) -> str:
    """
    The scenario table and the ratios as Markdown (for bench/README.md).
    """
    m = results["meta"]
    out = [f"Run {m['started']} ({m['mode']}, {m['repeats']} repeat(s) of {m['duration_s']} s, {m['cpus']} cpus, "
           f"load average at the end {', '.join(f'{x:.2f}' for x in m['loadavg_end'])}, commit {m['commit']}, "
           f"{m['etcd']}, Python {m['python']}).", "",
           "| ratio (kapid ÷ ceiling) | value | target | met |", "|---|---:|---:|:---:|"]
    for r in results["ratios"]:
        tgt = "–" if r["target"] is None else ("≥ " if r["better"] == "higher" else "≤ ") + _fmt(r["target"])
        met = "–" if r["met"] is None else ("yes" if r["met"] else "**no**")
        out.append(f"| {r['name']} | {_fmt(r['value'])} | {tgt} | {met} |")
    out += ["", "| scenario | unit | min | median | max | p50 ms | p99 ms | n | details |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, e in results["scenarios"].items():
        if e["status"] != "ok":
            out.append(f"| {name} | {e['status']}: {e['reason'][:100]} | | | | | | | |")
            continue
        sm = e["summary"]
        out.append(f"| {name} | {e['unit']} | {_fmt(sm.get('throughput_min'))} | {_fmt(sm.get('throughput_median'))} | "
                   f"{_fmt(sm.get('throughput_max'))} | {_fmt(sm.get('p50_ms'))} | {_fmt(sm.get('p99_ms'))} | "
                   f"{sm['repeats']} | {details(sm)} |")
    return "\n".join(out) + "\n"


def chart(results: dict, path: str) -> None:
    """
    A horizontal bar chart of the ratios, each as a fraction of its target (1.0 = target met;
    for lower-is-better ratios the fraction is target ÷ value).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [r for r in results["ratios"] if r["value"] is not None]
    fig, ax = plt.subplots(figsize=(12, 0.42 * max(len(items), 1) + 1.8))
    labels, vals, colors = [], [], []
    for r in items:
        if r["target"] and r["value"]:
            frac = r["value"] / r["target"] if r["better"] == "higher" else r["target"] / r["value"]
        else:
            frac = r["value"]
        labels.append(r["name"])
        vals.append(max(frac, 0.01))
        colors.append("#999999" if r["met"] is None else "#2e7d32" if r["met"] else "#c62828")
    ax.barh(range(len(vals)), vals, color=colors)
    for i, r in enumerate(items):
        txt = _fmt(r["value"]) + ("" if r["target"] is None else
                                  (" (target ≥ " if r["better"] == "higher" else " (target ≤ ") + _fmt(r["target"]) + ")")
        ax.text(vals[i] * 1.08, i, txt, va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_xlim(0.01, max(vals + [1.0]) * 8)
    ax.set_yticks(range(len(vals)))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=1, linestyle="--")
    ax.set_xlabel("fraction of target, log scale (≥ 1 = met; green met, red missed; grey: no target, raw ratio)",
                  fontsize=8)
    m = results["meta"]
    ax.set_title(f"kapid ÷ ceilings measured in the same run — {m['started']} ({m['mode']}, {m['cpus']} cpus, "
                 f"commit {m['commit']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """
    The command line.
    """
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one short repeat, small sizes (CI smoke, < 2 min)")
    p.add_argument("--tiny", action="store_true", help="a few hundred requests per scenario (the smoke test)")
    p.add_argument("--backend", choices=("embedded", "etcd", "both"), default="both")
    p.add_argument("--out", default=os.path.join(REPO, "bench", "out"),
                   help="directory for results.json, ratios.png and logs/ (default bench/out)")
    p.add_argument("--only", default="", help="comma-separated scenario name prefixes, e.g. ceiling,etcd/get")
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    """
    Entry point.
    """
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return Bench(args).main()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; children stopped\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
