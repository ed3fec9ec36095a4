"""
The custom-resource schema engine's cost per object (issue 9): prune + default + validate through
L{kapid.apiextensions.schema.compile_schema} for schemas of 10, 100 and 1,000 properties (the
objects of L{bench.crd.wide_schema}, every leaf set validly), plus the realistic 60-property schema
of the CRD rows and the deliberately slow "heavy" schema (32 levels, enums of 200 and 5,000).

Like every kapid figure, each cost is also given as a ratio against ceilings measured in the same
run on the same object: C{orjson.loads} of the object's JSON (the cheapest thing a request does
with it) and a C{jsonschema} Draft 7 validator of the same schema (a general-purpose validator
that only validates: no pruning, no defaulting, no kube messages). Growth is the cost per object
÷ the 10-property schema's (linear growth: about 10 and 100).

    .venv/bin/python bench/schema_bench.py [--seconds S]

Runs in about half a minute with the default 0.6 s per measurement (3 interleaved repeats, the
median kept). Prints a table; no test asserts on it.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from typing import Any, Callable

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jsonschema  # noqa: E402
import orjson  # noqa: E402

from bench.crd import (  # noqa: E402
    GROUP,
    VALIDATION_SIZES,
    count_properties,
    custom_resource,
    crd,
    heavy_crd,
    heavy_object,
    wide_schema,
)
from kapid.apiextensions.schema import compile_schema  # noqa: E402


def _per_call(fn: Callable[[Any], Any], make: Callable[[], Any], seconds: float, limit: int = 200_000) -> float:
    """
    Seconds per call of C{fn} on fresh inputs from C{make} (only C{fn} is timed), for about
    C{seconds}.
    """
    spent, done = 0.0, 0
    wall = time.perf_counter()
    while done < limit and (time.perf_counter() - wall < seconds or done < 3):
        batch = [make() for _ in range(16)]
        t = time.perf_counter()
        for x in batch:
            fn(x)
        spent += time.perf_counter() - t
        done += len(batch)
    return spent / done


def measure(schema: dict, template: dict, seconds: float, repeats: int = 3) -> dict:
    """
    The engine's and the ceilings' cost per object (median of interleaved repeats), in seconds.
    """
    compiled = compile_schema(schema)
    check = copy.deepcopy(template)
    compiled.prune(check)
    compiled.default(check)
    errors = compiled.validate(check)
    if errors:
        raise SystemExit(f"the benchmark object is invalid: {[str(e) for e in errors[:3]]}")
    raw = orjson.dumps(template)
    draft7 = jsonschema.Draft7Validator(schema)

    def engine(obj: dict) -> None:
        compiled.prune(obj)
        compiled.default(obj)
        compiled.validate(obj)

    def draft7_validate(obj: dict) -> None:
        for _ in draft7.iter_errors(obj):
            pass

    fresh = lambda: orjson.loads(raw)  # noqa: E731 (a copy not timed)
    samples: dict[str, list[float]] = {"engine": [], "loads": [], "draft7": []}
    for _ in range(repeats):
        samples["engine"].append(_per_call(engine, fresh, seconds))
        samples["loads"].append(_per_call(orjson.loads, lambda: raw, seconds / 3))
        samples["draft7"].append(_per_call(draft7_validate, fresh, seconds / 2))
    out = {k: statistics.median(v) for k, v in samples.items()}
    t = time.perf_counter()
    compile_schema(schema)
    out["compile"] = time.perf_counter() - t
    out["bytes"] = len(raw)
    return out


def _realistic() -> tuple[dict, dict]:
    definition = crd()
    schema = definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema, custom_resource("cr-0", "default", 2048)


def _heavy() -> tuple[dict, dict]:
    definition = heavy_crd()
    return definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"], heavy_object("h")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--seconds", type=float, default=0.6, help="time per measurement (default 0.6)")
    args = parser.parse_args(argv)
    rows = []
    for n in VALIDATION_SIZES:
        schema, obj = wide_schema(n)
        rows.append((f"p{n}", count_properties(schema), measure(schema, obj, args.seconds)))
    for name, (schema, obj) in (("realistic", _realistic()), ("heavy", _heavy())):
        rows.append((name, count_properties(schema), measure(schema, obj, args.seconds)))
    base = rows[0][2]["engine"]
    print(f"kapid.apiextensions.schema: prune + default + validate per object (group {GROUP} objects)")
    print()
    head = (f"{'schema':<10} {'props':>6} {'JSON B':>7} {'µs/obj':>9} {'obj/s':>9} {'µs/prop':>8} "
            f"{'growth':>7} {'÷ loads':>8} {'÷ draft7':>9} {'compile ms':>11}")
    print(head)
    print("-" * len(head))
    for name, props, m in rows:
        growth = f"{m['engine'] / base:.1f}" if name.startswith("p") else "–"
        print(f"{name:<10} {props:>6} {m['bytes']:>7} {m['engine'] * 1e6:>9.1f} {1 / m['engine']:>9,.0f} "
              f"{m['engine'] * 1e6 / props:>8.2f} {growth:>7} {m['engine'] / m['loads']:>8.1f} "
              f"{m['engine'] / m['draft7']:>9.2f} {m['compile'] * 1e3:>11.1f}")
    print()
    print("growth: cost per object ÷ the 10-property schema's (linear: 10 and 100);")
    print("÷ loads: times the cost of orjson.loads of the same object; ÷ draft7: ÷ a jsonschema")
    print("Draft7Validator of the same schema iterating all errors (below 1: the engine is faster).")


if __name__ == "__main__":
    main(sys.argv[1:])
