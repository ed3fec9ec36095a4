"""
The custom resource rows (issue 9), on the long-lived kapid of each backend (the one the ConfigMap
rows use, so the ratios compare figures of one process in one run):

* C{<backend>/cr_create/cN}: wrk POST of custom resources of a CRD with a realistic schema (60
  properties, nested objects, map and set lists, enums, patterns, formats, defaults), each object
  exactly as long as the 2 KB ConfigMap of C{<backend>/create/cN};
* C{<backend>/cr_get/cN}: wrk GET of one of them (against C{<backend>/get/cN});
* C{<backend>/crd_ready}: seconds from the POST of a new CRD (the same schema, a fresh group each
  repeat) to the first custom resource create that answers 201, polled every 2 ms (bounded).

* C{<backend>/cr_heavy/get_alone/c4} and C{<backend>/cr_heavy/get_during/c4}: wrk GET of one
  ConfigMap, alone and while another wrk POSTs custom resources of a CRD whose schema is slow on
  purpose (32 nested levels with an enum of 200 values each, one of 5,000 at the bottom; the CRD
  stays well under etcd's 1.5 MB request limit): does validation stall the reactor
  for everyone else? The ratio is the GET's p99 during ÷ alone (no target); the heavy creates per
  second and their p50 are in the row's details.
* C{schema/validate/pN} (N = 10, 100, 1,000): objects per second through a compiled schema of N
  properties (L{kapid.apiextensions.schema.compile_schema}: prune, default, validate of an object
  that sets every property), in a process of its own (C{python -m bench.crd validate N SECONDS}).

The ratios: custom resource create / get ÷ ConfigMap create / get of the same size (target ≥ 0.8),
the CRD-to-first-create time ÷ kapid's start-up to C{/readyz} (no target), and the validation cost
per object at 100 and 1,000 properties ÷ at 10 (how it grows: linear growth is 10 and 100).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from typing import Any

from bench import wrk
from bench.common import child_env, configmap, http_status, python_argv

GROUP = "bench.kapid.io"
NAMESPACE = "bench-cr"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

_STR = {"type": "string"}
_INT = {"type": "integer"}
_QUANTITY = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}],
             "pattern": r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi)?$"}
_RESOURCES = {"type": "object", "properties": {"cpu": _QUANTITY, "memory": _QUANTITY}}

#: The schema of a BenchApp: 60 properties (L{count_properties}), up to five levels deep.
SCHEMA: dict = {
    "type": "object",
    "description": "A BenchApp is an application deployment described the way operators describe theirs.",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "image": {"type": "string", "minLength": 1, "description": "The container image."},
                "replicas": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 1},
                "paused": {"type": "boolean", "default": False},
                "serviceAccountName": {"type": "string", "maxLength": 253},
                "strategy": {"type": "object", "properties": {
                    "type": {"type": "string", "enum": ["RollingUpdate", "Recreate"], "default": "RollingUpdate"},
                    "maxSurge": {"x-kubernetes-int-or-string": True},
                    "maxUnavailable": {"x-kubernetes-int-or-string": True},
                }},
                "env": {
                    "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "required": ["name"],
                              "properties": {"name": {"type": "string", "pattern": "^[A-Z_][A-Z0-9_]*$"},
                                             "value": _STR}},
                },
                "ports": {
                    "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                    "items": {"type": "object", "required": ["name", "containerPort"], "properties": {
                        "name": _STR,
                        "containerPort": {"type": "integer", "minimum": 1, "maximum": 65535},
                        "protocol": {"type": "string", "enum": ["TCP", "UDP", "SCTP"], "default": "TCP"},
                    }},
                },
                "resources": {"type": "object", "properties": {"requests": _RESOURCES, "limits": _RESOURCES}},
                "probe": {"type": "object", "properties": {
                    "path": {"type": "string", "pattern": "^/"},
                    "port": _INT,
                    "periodSeconds": {"type": "integer", "minimum": 1, "default": 10},
                    "timeoutSeconds": {"type": "integer", "minimum": 1, "default": 1},
                }},
                "config": {"type": "object", "properties": {
                    "logLevel": {"type": "string", "enum": ["debug", "info", "warn", "error"]},
                    "featureFlags": {"type": "array", "x-kubernetes-list-type": "set", "items": _STR},
                    "timeouts": {"type": "object", "properties": {
                        "connect": {"type": "string", "format": "duration"},
                        "read": {"type": "string", "format": "duration"},
                        "write": {"type": "string", "format": "duration"},
                    }},
                    "endpoint": {"type": "string", "format": "uri"},
                }},
                "storage": {"type": "object", "properties": {
                    "size": {"type": "string", "pattern": "^[0-9]+(Mi|Gi|Ti)$"},
                    "className": _STR,
                    "accessModes": {"type": "array", "items": {"type": "string", "enum": [
                        "ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"]}},
                }},
                "nodeSelector": {"type": "object", "additionalProperties": _STR},
                "tolerations": {"type": "array", "x-kubernetes-list-type": "atomic", "items": {
                    "type": "object", "properties": {
                        "key": _STR, "operator": {"type": "string", "enum": ["Exists", "Equal"]},
                        "value": _STR, "effect": {"type": "string", "enum": ["NoSchedule", "NoExecute"]},
                    }}},
                "owner": {"type": "object", "properties": {
                    "team": _STR, "email": {"type": "string", "format": "email"},
                }},
            },
        },
        "status": {"type": "object", "properties": {
            "phase": {"type": "string", "enum": ["Pending", "Running", "Failed"]},
            "replicas": _INT,
            "readyReplicas": _INT,
            "observedGeneration": {"type": "integer", "format": "int64"},
            "conditions": {
                "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                "items": {"type": "object", "required": ["type", "status"], "properties": {
                    "type": _STR, "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                    "reason": _STR, "message": _STR,
                    "lastTransitionTime": {"type": "string", "format": "date-time"},
                }},
            },
        }},
    },
}


def count_properties(schema: dict) -> int:
    """
    How many properties a schema declares, at every depth.
    """
    n = 0
    for sub in (schema.get("properties") or {}).values():
        n += 1 + count_properties(sub)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            n += count_properties(schema[key])
    return n


def crd(group: str = GROUP, kind: str = "BenchApp", plural: str = "benchapps") -> dict:
    """
    The CRD of the bench kind (status and scale subresources, printer columns) in C{group}.
    """
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas",
                                                         "statusReplicasPath": ".status.replicas"}},
                "additionalPrinterColumns": [
                    {"name": "Image", "type": "string", "jsonPath": ".spec.image"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                ],
                "schema": {"openAPIV3Schema": copy.deepcopy(SCHEMA)},
            }],
        },
    }


def custom_resource(name: str, namespace: str, size: int, group: str = GROUP, kind: str = "BenchApp") -> dict:
    """
    A valid BenchApp whose compact JSON is C{size} bytes long (padded with an annotation) when
    C{name} has the length of the names it stands for.
    """
    obj: dict = {
        "apiVersion": f"{group}/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "bench"},
                     "annotations": {"kapid.io/pad": ""}},
        "spec": {
            "image": "registry.example/bench/app:1.2.3",
            "replicas": 3,
            "serviceAccountName": "bench",
            "strategy": {"type": "RollingUpdate", "maxSurge": "25%", "maxUnavailable": 1},
            "env": [{"name": f"VAR_{i}", "value": f"value-{i:04d}"} for i in range(8)],
            "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090,
                                                               "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": 1, "memory": "256Mi"}},
            "probe": {"path": "/healthz", "port": 8080, "periodSeconds": 5},
            "config": {"logLevel": "info", "featureFlags": ["alpha", "beta", "gamma"],
                       "timeouts": {"connect": "5s", "read": "30s", "write": "30s"},
                       "endpoint": "https://api.example.com/v1"},
            "storage": {"size": "10Gi", "className": "fast", "accessModes": ["ReadWriteOnce"]},
            "nodeSelector": {"disktype": "ssd", "zone": "a"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "bench", "effect": "NoSchedule"}],
            "owner": {"team": "platform", "email": "platform@example.com"},
        },
    }
    pad = size - len(json.dumps(obj, separators=(",", ":")))
    obj["metadata"]["annotations"]["kapid.io/pad"] = "p" * max(pad, 0)
    return obj


#: The schema sizes of the validation rows.
VALIDATION_SIZES = (10, 100, 1000)

#: Leaf schemas of the validation rows (cycled) and a valid value for each.
_LEAVES: tuple = (
    ({"type": "string", "maxLength": 64, "pattern": "^[a-z][a-z0-9-]*$"}, "value-one"),
    ({"type": "integer", "minimum": 0, "maximum": 100000}, 42),
    ({"type": "string", "enum": ["alpha", "beta", "gamma", "delta"]}, "gamma"),
    ({"type": "boolean", "default": False}, True),
    ({"type": "string", "format": "date-time"}, "2026-01-02T03:04:05Z"),
    ({"type": "number", "minimum": 0}, 1.5),
    ({"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}}, ["a", "b", "c"]),
    ({"type": "string", "default": "dflt"}, "set"),
    ({"x-kubernetes-int-or-string": True}, "50%"),
)


def wide_schema(properties: int) -> tuple[dict, dict]:
    """
    A schema of exactly C{properties} properties (C{spec} holds groups of one object and up to
    nine leaves each, every tenth group one level deeper) and an object that sets every leaf validly.
    """
    spec: dict = {"type": "object", "properties": {}}
    value: dict = {}
    parent_schema, parent_value = spec, value
    remaining, g = properties - 1, 0
    while remaining > 0:
        count = min(9, remaining - 1)
        remaining -= 1 + count
        leaves = {f"f{i}": copy.deepcopy(_LEAVES[(g + i) % len(_LEAVES)][0]) for i in range(count)}
        group_schema = {"type": "object", "properties": leaves}
        group_value = {f"f{i}": copy.deepcopy(_LEAVES[(g + i) % len(_LEAVES)][1]) for i in range(count)}
        parent_schema["properties"][f"g{g}"] = group_schema
        parent_value[f"g{g}"] = group_value
        if g % 10 == 9:  # every tenth group goes one level deeper
            parent_schema, parent_value = group_schema, group_value
        g += 1
    schema = {"type": "object", "properties": {"spec": spec}}
    obj = {"apiVersion": f"{GROUP}/v1", "kind": "Wide", "metadata": {"name": "w", "namespace": "default"},
           "spec": value}
    return schema, obj


def validation_cost(properties: int, seconds: float) -> dict:
    """
    Prune, default and validate L{wide_schema}'s object for about C{seconds}
    (L{bench.schema_bench.measure}): objects per second, microseconds per object, and the ratios to
    the ceilings measured beside it (C{orjson.loads} of the object, a jsonschema Draft 7 validator).
    """
    from bench.schema_bench import measure

    schema, template = wide_schema(properties)
    m = measure(schema, template, seconds, repeats=1)
    per = m["engine"]
    return {"throughput": 1 / per if per else 0.0, "us_per_object": per * 1e6,
            "us_per_property": per * 1e6 / count_properties(schema), "properties": count_properties(schema),
            "x_orjson_loads": per / m["loads"], "x_draft7": per / m["draft7"]}


def _validation_sample(properties: int, seconds: float, not_available: type) -> dict:
    """
    L{validation_cost} in a process of its own; raises C{not_available} without the schema module.
    """
    done = subprocess.run(python_argv("-m", "bench.crd", "validate", str(properties), str(seconds)),
                          capture_output=True, text=True, timeout=seconds + 120, env=child_env())
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
        if "No module named 'kapid.apiextensions.schema'" in done.stderr:
            raise not_available("kapid.apiextensions.schema is missing")
        raise RuntimeError(f"bench.crd validate {properties} exited {done.returncode}: {tail[0][:300]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


#: The slow schema's nesting depth, enum size per level and at the bottom.
HEAVY_DEPTH, HEAVY_ENUM, HEAVY_BOTTOM_ENUM = 32, 200, 5000


def heavy_crd() -> dict:
    """
    A CRD whose schema is deep and has huge enums (C{heavies.heavy.bench.kapid.io}).
    """
    enum = [f"value-{i:05d}" for i in range(HEAVY_ENUM)]
    bottom = [f"value-{i:05d}" for i in range(HEAVY_BOTTOM_ENUM)]
    level: dict = {"type": "object", "properties": {"v": {"type": "string", "enum": bottom}}}
    for _ in range(HEAVY_DEPTH - 1):
        level = {"type": "object", "properties": {"v": {"type": "string", "enum": enum}, "next": level}}
    schema = {"type": "object", "properties": {"spec": level}}
    definition = crd("heavy." + GROUP, "Heavy", "heavies")
    version = definition["spec"]["versions"][0]
    version["schema"]["openAPIV3Schema"] = schema
    version.pop("subresources")
    version["additionalPrinterColumns"] = []
    return definition


def heavy_object(name: str) -> dict:
    """
    A valid Heavy: every level set, each to its enum's last value.
    """
    spec: dict = {"v": f"value-{HEAVY_BOTTOM_ENUM - 1:05d}"}
    for _ in range(HEAVY_DEPTH - 1):
        spec = {"v": f"value-{HEAVY_ENUM - 1:05d}", "next": spec}
    return {"apiVersion": f"heavy.{GROUP}/v1", "kind": "Heavy", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": spec}


def _post(base: str, path: str, obj: dict, ok: tuple = (201, 409)) -> None:
    status, data = http_status(base + path, "POST", json.dumps(obj).encode(), {"Content-Type": "application/json"})
    if status not in ok:
        raise RuntimeError(f"POST {path} answered {status or 'no connection'}: {data[:200].decode(errors='replace')}")


def first_create_after_crd(base: str, group: str, timeout: float = 30.0) -> dict:
    """
    POST a new CRD in C{group}, then POST a custom resource every 2 ms until one answers 201;
    the seconds from the CRD's POST to that 201, and how many tries it took.
    """
    definition = crd(group)
    path = f"/apis/{group}/v1/namespaces/{NAMESPACE}/benchapps"
    body = json.dumps(custom_resource("first", NAMESPACE, 2048, group)).encode()
    headers = {"Content-Type": "application/json"}
    t0 = time.perf_counter()
    _post(base, CRDS, definition, ok=(201,))
    tries = 0
    last = (0, b"")
    while time.perf_counter() - t0 < timeout:
        tries += 1
        last = http_status(base + path, "POST", body, headers)
        if last[0] == 201:
            seconds = time.perf_counter() - t0
            return {"throughput": seconds, "seconds": seconds, "tries": tries}
        if last[0] not in (404, 0):
            break  # neither "not served yet" nor a refused connection: a real error
        time.sleep(0.002)
    raise RuntimeError(f"no custom resource create succeeded within {timeout:.0f} s of the CRD's create "
                       f"(last answer {last[0]}: {last[1][:200].decode(errors='replace')})")


def setup(bench: Any) -> None:
    """
    Register the custom resource scenarios on the long-lived kapid of every backend (call after
    C{setup_kapid}).
    """
    # the classes of the module running the bench (bench.run, or __main__ under python -m bench.run)
    run_module = sys.modules[type(bench).__module__]
    NotAvailable, Scenario = run_module.NotAvailable, run_module.Scenario
    s = bench.settings
    # the ConfigMap rows send json.dumps(configmap(...)) with names made the same way (prefix, wrk
    # thread, counter): a custom resource of that many bytes is the same size on the wire
    size = len(json.dumps(configmap("@NAME@", "bench-create")))
    template = json.dumps(custom_resource("@NAME@", NAMESPACE, size), separators=(",", ":"))
    path = f"/apis/{GROUP}/v1/namespaces/{NAMESPACE}/benchapps"

    for b in bench.backends:
        info = bench.kapid.get(b)
        if info is None:
            continue
        base = info["url"]
        state: dict = {}

        def ready(info: dict = info, base: str = base, state: dict = state) -> str:
            if info["error"]:
                raise NotAvailable(info["error"])
            if "error" not in state:
                try:
                    _post(base, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": NAMESPACE}})
                    _post(base, CRDS, crd())
                    first_path = f"/apis/{GROUP}/v1/namespaces/{NAMESPACE}/benchapps"
                    deadline = time.monotonic() + 30.0
                    while True:
                        status, data = http_status(base + first_path, "POST",
                                                   json.dumps(custom_resource("one", NAMESPACE, size)).encode(),
                                                   {"Content-Type": "application/json"})
                        if status in (201, 409) or time.monotonic() > deadline or status not in (404, 0):
                            break
                        time.sleep(0.01)
                    if status not in (201, 409):
                        raise RuntimeError(f"POST {first_path} answered {status}: {data[:200].decode(errors='replace')}")
                    state["error"] = None
                except Exception as e:
                    state["error"] = f"custom resources not served: {e}"
            if state["error"]:
                raise NotAvailable(state["error"])
            return base

        def create(c: int, ready: Any = ready) -> dict:
            base = ready()
            return wrk.run_wrk(base, wrk.script_create(path, template, f"c{c}-{time.monotonic_ns()}"), c, s.duration)

        def get(c: int, ready: Any = ready) -> dict:
            base = ready()
            return wrk.run_wrk(base, wrk.script_get(path + "/one"), c, s.duration)

        def established(ready: Any = ready, b: str = b) -> dict:
            base = ready()
            return first_create_after_crd(base, f"r{bench.repeat}-{time.monotonic_ns()}.{b}.{GROUP}")

        for c in s.kapid_concurrencies:
            bench.add(Scenario(f"{b}/cr_create/c{c}", b, "req/s", lambda c=c, f=create: f(c),
                               note=f"POST custom resource, {size} B, {count_properties(SCHEMA)}-property schema"))
            bench.add(Scenario(f"{b}/cr_get/c{c}", b, "req/s", lambda c=c, f=get: f(c),
                               note="GET one custom resource"))
        bench.add(Scenario(f"{b}/crd_ready", b, "s", established,
                           note="CRD POST to the first custom resource POST answering 201"))
        heavy_state: dict = {}

        def heavy_ready(ready: Any = ready, heavy_state: dict = heavy_state) -> str:
            base = ready()
            if "error" not in heavy_state:
                try:
                    _post(base, CRDS, heavy_crd())
                    _post(base, f"/api/v1/namespaces/{NAMESPACE}/configmaps",
                          configmap("heavy-probe", NAMESPACE))
                    path = f"/apis/heavy.{GROUP}/v1/namespaces/{NAMESPACE}/heavies"
                    deadline = time.monotonic() + 30.0
                    while True:
                        status, data = http_status(base + path, "POST", json.dumps(heavy_object("one")).encode(),
                                                   {"Content-Type": "application/json"})
                        if status in (201, 409) or time.monotonic() > deadline or status not in (404, 0):
                            break
                        time.sleep(0.01)
                    if status not in (201, 409):
                        raise RuntimeError(f"POST {path} answered {status}: {data[:200].decode(errors='replace')}")
                    heavy_state["error"] = None
                except Exception as e:
                    heavy_state["error"] = f"the slow CRD is not served: {e}"
            if heavy_state["error"]:
                raise NotAvailable(heavy_state["error"])
            return base

        get_script = wrk.script_get(f"/api/v1/namespaces/{NAMESPACE}/configmaps/heavy-probe")

        def get_alone(heavy_ready: Any = heavy_ready) -> dict:
            return wrk.run_wrk(heavy_ready(), get_script, 4, s.duration)

        def get_during(heavy_ready: Any = heavy_ready) -> dict:
            import concurrent.futures

            base = heavy_ready()
            heavy = json.dumps(heavy_object("@NAME@"), separators=(",", ":"))
            create_script = wrk.script_create(f"/apis/heavy.{GROUP}/v1/namespaces/{NAMESPACE}/heavies", heavy,
                                              f"h-{time.monotonic_ns()}")
            with concurrent.futures.ThreadPoolExecutor(2) as ex:
                creates = ex.submit(wrk.run_wrk, base, create_script, 4, s.duration)
                gets = ex.submit(wrk.run_wrk, base, get_script, 4, s.duration)
                out, load = gets.result(), creates.result()
            out["heavy_creates_per_s"] = load["throughput"]
            out["heavy_create_p50_ms"] = load["p50_ms"]
            return out

        bench.add(Scenario(f"{b}/cr_heavy/get_alone/c4", b, "req/s", get_alone, note="GET one ConfigMap, c4"))
        bench.add(Scenario(f"{b}/cr_heavy/get_during/c4", b, "req/s", get_during,
                           note=f"the same GET while POSTs of a {HEAVY_DEPTH}-level schema with "
                                f"{HEAVY_ENUM}- and {HEAVY_BOTTOM_ENUM:,}-value enums run at c4"))
    for n in VALIDATION_SIZES:
        bench.add(Scenario(f"schema/validate/p{n}", "schema", "objects/s",
                           lambda n=n: _validation_sample(n, s.duration, NotAvailable),
                           note=f"prune + default + validate, {n}-property schema, in-process"))


def ratios(bench: Any, ratio: Any) -> None:
    """
    Add the custom resource ratios with C{ratio(label, numerator, denominator, target, better)}.
    """
    for b in bench.backends:
        ratio(f"custom resource create ÷ ConfigMap create, same size ({b}), c16", f"{b}/cr_create/c16",
              f"{b}/create/c16", 0.8)
        ratio(f"custom resource get ÷ ConfigMap get, same size ({b}), c16", f"{b}/cr_get/c16", f"{b}/get/c16", 0.8)
        ratio(f"CRD create → first CR create ÷ start-up to /readyz ({b})", f"{b}/crd_ready", f"{b}/startup",
              None, "lower")
        ratio(f"GET p99 during slow-schema creates ÷ alone ({b}), c4", f"{b}/cr_heavy/get_during/c4",
              f"{b}/cr_heavy/get_alone/c4", None, "lower", "p99_ms", "p99_ms")
    for n in VALIDATION_SIZES[1:]:
        # throughput at 10 ÷ at n = cost per object at n ÷ at 10
        ratio(f"validation cost per object, {n:,} ÷ {VALIDATION_SIZES[0]} properties",
              f"schema/validate/p{VALIDATION_SIZES[0]}", f"schema/validate/p{n}", None, "lower")


def main(argv: list[str]) -> None:
    """
    C{python -m bench.crd validate N SECONDS}: print L{validation_cost}'s result as one JSON line.
    """
    if len(argv) != 3 or argv[0] != "validate":
        raise SystemExit("usage: python -m bench.crd validate PROPERTIES SECONDS")
    print(json.dumps(validation_cost(int(argv[1]), float(argv[2]))))


if __name__ == "__main__":
    main(sys.argv[1:])
