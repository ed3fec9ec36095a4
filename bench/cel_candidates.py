"""
Measure the CEL implementations on PyPI for kapid: correctness on the CEL spec cases that Kubernetes
rules depend on, and evaluations per second of a typical CRD rule.

Candidates (two of them install the same C{cel} top-level package, so each can live in its own
virtualenv; pass their interpreters with C{--python}):

  - C{cel-python} (module C{celpy}): pure Python, Lark parser, tree-walking evaluator.
  - C{cel-expr-python} (module C{cel_expr_python}): bindings to Google's C++ implementation (cel-cpp),
    with its type checker and extensions (optional, strings, bindings, math).
  - C{common-expression-language} (module C{cel}, C{cel.compile}): bindings to the Rust C{cel} crate.
  - C{python-cel} (module C{cel}, C{cel.Program}): older bindings to the Rust C{cel-interpreter} crate.

Usage::

    python bench/cel_candidates.py                        # candidates importable here
    python bench/cel_candidates.py --python /tmp/cv_rust/bin/python --python /tmp/cv_pyo/bin/python
    python bench/cel_candidates.py --verbose              # every case's outcome per candidate

Figures measured on this machine (2 shared cores, 2026-12-04, 0.5 s per figure), in three venvs:

  candidate                    cases ok  typical rule ev/s  list rule (100 items) ev/s
  cel-expr-python (cel-cpp)    52/52           290,870            14,684
  common-expression-language   44/52           241,105             2,216
  python-cel                   30/52           287,147             9,008
  cel-python (pure Python)     43/52             3,500                55

With kapid importable it also prints kapid.cel.crd's rate on a custom object with five typical rules
(an update, so the transition rule runs): about 22,000 objects/s (45 us each) here; a create through
kapid's HTTP stack ran at about 535/s (c16, embedded store) in bench/latest, about 1.9 ms of work
each, so five rules should add under 3% (the issue's goal: a ratio of 0.8 or better).

python-cel panics (a BaseException) on division by zero and wraps int overflow; the Rust
bindings parse no optional syntax (C{self.?x}) and lack the strings extension and C{cel.bind};
cel-python has no optional syntax, no C{cel.bind} and fails the 3-argument C{map}.
(The exact numbers are printed by a run; rerun to refresh.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any, Callable, Optional

ERROR = "<error>"

# (expression, variables, expected): expected ERROR means a compile or evaluation error (never false).
CASES: list[tuple[str, dict[str, Any], Any]] = [
    # int, uint, double arithmetic
    ("1 + 2 * 3 == 7", {}, True),
    ("7 / 2 == 3 && -7 / 2 == -3", {}, True),
    ("-7 % 3 == -1", {}, True),
    ("9223372036854775807 + 1", {}, ERROR),
    ("-9223372036854775808 - 1", {}, ERROR),
    ("1 / 0", {}, ERROR),
    ("1 % 0", {}, ERROR),
    ("3u + 4u == 7u", {}, True),
    ("1u - 2u", {}, ERROR),
    ("uint(-1)", {}, ERROR),
    ("1.5 * 2.0 == 3.0 && 0.1 + 0.2 != 0.3", {}, True),
    ("dyn(1) == 1.0 && dyn(1u) == 1", {}, True),
    ("int('42') == 42 && string(7) == '7' && double(2) == 2.0 && uint(3) == 3u", {}, True),
    ("type(1) == int && type('a') == string", {}, True),
    ("'x' * 2", {}, ERROR),
    # strings
    ("'abc'.startsWith('a') && 'abc'.endsWith('c') && 'abc'.contains('b')", {}, True),
    ("size('h\u00e9llo') == 5 && 'abc'.size() == 3", {}, True),
    ("'abc' + 'def' == 'abcdef'", {}, True),
    ("'abc'.matches('^a.c$') && !'abd'.matches('c$')", {}, True),
    ("'a,b'.split(',') == ['a', 'b'] && 'ABC'.lowerAscii() == 'abc'", {}, True),
    ("' x '.trim() == 'x' && 'abc'.indexOf('c') == 2 && 'abc'.substring(1) == 'bc'", {}, True),
    ("['a', 'b'].join('-') == 'a-b' && 'aXa'.replace('a', 'b') == 'bXb'", {}, True),
    ("bytes('abc').size() == 3", {}, True),
    # lists and maps
    ("[1, 2] + [3] == [1, 2, 3] && 2 in [1, 2] && 'a' in {'a': 1}", {}, True),
    ("[1, 2, 3][1] == 2", {}, True),
    ("[1][5]", {}, ERROR),
    ("{'a': 1}['b']", {}, ERROR),
    ("{'a': {'b': 1}}.a.b == 1", {}, True),
    # macros
    ("[1, 2, 3].all(x, x > 0) && [1, 2, 3].exists(x, x == 2)", {}, True),
    ("[1, 2, 3].exists_one(x, x > 1)", {}, False),
    ("[1, 2, 3].map(x, x * 2) == [2, 4, 6]", {}, True),
    ("[1, 2, 3].filter(x, x % 2 == 1) == [1, 3]", {}, True),
    ("[1, 2, 3].map(x, x > 1, x * 10) == [20, 30]", {}, True),
    ("{'a': 1, 'b': 2}.all(k, k in ['a', 'b'])", {}, True),
    ("[0, 1].all(x, 1 / x > 0)", {}, ERROR),
    ("[0, 1].exists(x, 1 / x > 0)", {}, True),
    ("self.items.all(i, i.name != '')", {"self": {"items": [{"name": "a"}, {"name": "b"}]}}, True),
    # has() and field access
    ("has(self.a) && !has(self.b)", {"self": {"a": 1}}, True),
    ("self.b == 1", {"self": {"a": 1}}, ERROR),
    ("self.n == null", {"self": {"n": None}}, True),
    ("self.replicas <= self.maxReplicas && self.name.startsWith('x')",
     {"self": {"replicas": 3, "maxReplicas": 5, "name": "xyz"}}, True),
    # errors vs false: logical operators absorb errors commutatively
    ("false && (1 / 0 == 1)", {}, False),
    ("(1 / 0 == 1) || true", {}, True),
    ("(1 / 0 == 1) && false", {}, False),
    ("(1 / 0 == 1) ? 1 : 2", {}, ERROR),
    # optional types
    ("self.?b.orValue(5) == 5 && self.?a.orValue(5) == 1", {"self": {"a": 1}}, True),
    ("optional.of(1).hasValue() && !optional.none().hasValue()", {}, True),
    ("{'a': 1}[?'b'].orValue(0) == 0", {}, True),
    # timestamps and durations
    ("timestamp('2023-01-01T00:00:00Z') + duration('1h') == timestamp('2023-01-01T01:00:00Z')", {}, True),
    ("duration('90s').getSeconds() == 90 && duration('1h') > duration('30m')", {}, True),
    ("timestamp('2023-06-01T00:00:00Z').getFullYear() == 2023", {}, True),
    # cel.bind (kube enables the bindings extension)
    ("cel.bind(x, 2, x * x) == 4", {}, True),
]

TYPICAL = "self.replicas <= self.maxReplicas && self.name.startsWith('x')"
TYPICAL_SELF = {"replicas": 3, "maxReplicas": 5, "name": "xyz"}
LISTRULE = "self.items.all(i, i.name.size() < 64 && i.port > 0)"
LIST_SELF = {"items": [{"name": f"item-{i}", "port": 80 + i} for i in range(100)]}


def _adapters() -> dict[str, Callable[[str], Callable[[dict[str, Any]], Any]]]:
    """
    The candidates importable in this interpreter: name -> compile(expr) -> run(variables) -> value,
    raising on a compile or evaluation error.
    """
    found: dict[str, Callable[[str], Callable[[dict[str, Any]], Any]]] = {}
    try:
        import celpy  # type: ignore[import-not-found]
        import celpy.celtypes  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        env = celpy.Environment()

        def compile_celpy(expr: str) -> Callable[[dict[str, Any]], Any]:
            prog = env.program(env.compile(expr))

            def run(variables: dict[str, Any]) -> Any:
                act = {k: celpy.json_to_cel(v) for k, v in variables.items()}
                out = prog.evaluate(act)
                if isinstance(out, Exception):
                    raise out
                return out

            return run

        found["cel-python"] = compile_celpy
    try:
        from cel_expr_python import cel as cpp  # type: ignore[import-not-found]
        from cel_expr_python.ext import ext_bindings, ext_optional, ext_strings  # type: ignore
    except ImportError:
        pass
    else:
        cenv = cpp.NewEnv(
            variables={"self": cpp.Type.DYN},
            extensions=[ext_optional.ExtOptional(), ext_strings.ExtStrings(), ext_bindings.ExtBindings()],
        )

        def compile_cpp(expr: str) -> Callable[[dict[str, Any]], Any]:
            compiled = cenv.compile(expr)

            def run(variables: dict[str, Any]) -> Any:
                value = compiled.eval(data=variables)
                if value.type() == cpp.Type.ERROR:
                    raise ValueError(str(value))
                return value.plain_value()

            return run

        found["cel-expr-python"] = compile_cpp
    try:
        import cel as rust  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        if hasattr(rust, "compile"):
            def compile_rust(expr: str) -> Callable[[dict[str, Any]], Any]:
                prog = rust.compile(expr)
                return lambda variables: prog.execute(variables)

            found["common-expression-language"] = compile_rust
        elif hasattr(rust, "Program"):
            def compile_pyo(expr: str) -> Callable[[dict[str, Any]], Any]:
                prog = rust.Program(expr)
                return lambda variables: prog.execute(rust.Context(variables))

            found["python-cel"] = compile_pyo
    return found


def _rate(run: Callable[[dict[str, Any]], Any], variables: dict[str, Any], seconds: float) -> float:
    """Evaluations per second of C{run} over about C{seconds}."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(20):
            run(variables)
        count += 20
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def _measure(seconds: float) -> dict[str, Any]:
    """Run every case and both speed rules on each candidate importable here."""
    results: dict[str, Any] = {}
    for name, compile_ in _adapters().items():
        outcomes = []
        for expr, variables, expected in CASES:
            try:
                got: Any = compile_(expr)(variables)
            except (Exception, BaseException) as e:  # pyo3 panics are BaseExceptions
                got = ERROR
                detail = f"{type(e).__name__}: {e}"[:80]
            else:
                detail = repr(got)[:80]
            if expected is ERROR:
                ok = got == ERROR
            else:  # a bool (celpy's BoolType counts), never an error or another type
                ok = type(got).__name__ in ("bool", "BoolType") and bool(got) == expected
            outcomes.append({"expr": expr, "ok": bool(ok), "got": detail})
        speed = {}
        for label, expr, self_ in (("typical", TYPICAL, TYPICAL_SELF), ("list100", LISTRULE, LIST_SELF)):
            try:
                speed[label] = _rate(compile_(expr), {"self": self_}, seconds)
            except BaseException as e:  # pyo3 panics included
                speed[label] = f"failed: {e}"[:60]
        results[name] = {"cases": outcomes, "speed": speed}
    return results


FIVE_RULES_SCHEMA = {"type": "object", "properties": {"spec": {
    "type": "object",
    "properties": {
        "replicas": {"type": "integer"}, "maxReplicas": {"type": "integer"},
        "image": {"type": "string", "maxLength": 256}, "mode": {"type": "string", "maxLength": 16},
        "ports": {"type": "array", "maxItems": 16, "items": {"type": "object", "properties": {
            "name": {"type": "string", "maxLength": 15}, "port": {"type": "integer"}}}},
    },
    "x-kubernetes-validations": [
        {"rule": "self.replicas <= self.maxReplicas", "message": "replicas must not exceed maxReplicas"},
        {"rule": "self.image.startsWith('registry.example/')"},
        {"rule": "self.mode in ['a', 'b', 'c']"},
        {"rule": "self.ports.all(p, p.port > 0 && p.port < 65536)"},
        {"rule": "self.replicas >= oldSelf.replicas", "message": "replicas may not decrease"},
    ],
}}}
FIVE_RULES_OBJECT = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {
    "replicas": 1, "maxReplicas": 3, "image": "registry.example/x", "mode": "a",
    "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}}


def _kapid_rate(seconds: float) -> Optional[float]:
    """Custom objects per second through kapid's CRD rule set (5 rules, an update), or None."""
    try:
        from kapid.cel.crd import compile_rules
    except ImportError:
        return None
    rules = compile_rules(FIVE_RULES_SCHEMA)
    assert rules.validate(FIVE_RULES_OBJECT, FIVE_RULES_OBJECT) == []
    return _rate(lambda v: rules.validate(v["new"], v["old"]), {"new": FIVE_RULES_OBJECT, "old": FIVE_RULES_OBJECT},
                 seconds)


def main() -> None:
    """Print the table (merging the workers run in other interpreters)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", action="append", default=[], help="another interpreter to measure in")
    parser.add_argument("--seconds", type=float, default=1.0, help="per speed figure")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_measure(args.seconds)))
        return
    results = _measure(args.seconds)
    for python in args.python:
        out = subprocess.run(
            [python, __file__, "--worker", "--seconds", str(args.seconds)],
            capture_output=True, text=True, check=True, timeout=600,
        )
        results.update(json.loads(out.stdout))
    print(f"{'candidate':30} {'cases ok':>9} {'typical ev/s':>14} {'list100 ev/s':>14}")
    for name, r in results.items():
        ok = sum(c["ok"] for c in r["cases"])
        sp = [f"{v:,.0f}" if isinstance(v, float) else v for v in (r["speed"]["typical"], r["speed"]["list100"])]
        print(f"{name:30} {ok:>4}/{len(r['cases']):<4} {sp[0]:>14} {sp[1]:>14}")
    kapid_rate = _kapid_rate(args.seconds)
    if kapid_rate is not None:
        print(f"\nkapid.cel.crd, a custom object with 5 rules (update): {kapid_rate:,.0f} objects/s "
              f"({1e6 / kapid_rate:.0f} us each)")
    for name, r in results.items():
        failed = [c for c in r["cases"] if args.verbose or not c["ok"]]
        if failed:
            print(f"\n{name}:")
            for c in failed:
                print(f"  {'ok ' if c['ok'] else 'BAD'} {c['expr'][:70]:70} -> {c['got']}")


if __name__ == "__main__":
    main()
