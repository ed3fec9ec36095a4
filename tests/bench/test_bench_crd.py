"""
Tests for C{bench/crd.py}: its objects are what the rows claim, and a tiny run of its rows (with
the ConfigMap rows they are compared with) reports every figure and ratio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from bench import crd
from bench.common import REPO, child_env, configmap

#: The rows a tiny run must produce.
ROWS = ("embedded/create/c16", "embedded/get/c16", "embedded/cr_create/c16", "embedded/cr_get/c16",
        "embedded/crd_ready", "embedded/startup", "embedded/cr_heavy/get_alone/c4",
        "embedded/cr_heavy/get_during/c4", "schema/validate/p10", "schema/validate/p100", "schema/validate/p1000")


class ObjectTests(SynchronousTestCase):
    """
    The CRD and the custom resources the rows send.
    """

    def test_schema_size(self) -> None:
        """
        The schema is of realistic size: a few dozen properties, nested.
        """
        self.assertEqual(crd.count_properties(crd.SCHEMA), 60)

    def test_wide_schema(self) -> None:
        """
        The validation rows' schemas have exactly the number of properties they are named by, and
        their objects set every leaf.
        """
        for n in crd.VALIDATION_SIZES:
            schema, obj = crd.wide_schema(n)
            self.assertEqual(crd.count_properties(schema), n)
            self.assertEqual(obj["spec"].keys(), schema["properties"]["spec"]["properties"].keys())

    def test_heavy_crd_valid_and_small_enough(self) -> None:
        """
        The slow CRD is valid, fits etcd's 1.5 MB request limit with room, and its object is deep.
        """
        from kapid.apiextensions.validation import set_crd_defaults, validate_crd

        definition = crd.heavy_crd()
        self.assertLess(len(json.dumps(definition)), 512 * 1024)
        set_crd_defaults(definition)
        self.assertEqual(validate_crd(definition), [])
        spec, depth = crd.heavy_object("h")["spec"], 1
        while "next" in spec:
            spec, depth = spec["next"], depth + 1
        self.assertEqual(depth, crd.HEAVY_DEPTH)

    def test_same_size_as_configmap(self) -> None:
        """
        A custom resource is padded to the byte length asked for: the ConfigMap rows' template's.
        """
        size = len(json.dumps(configmap("@NAME@", "bench-create")))
        obj = crd.custom_resource("@NAME@", crd.NAMESPACE, size)
        self.assertEqual(len(json.dumps(obj, separators=(",", ":"))), size)

    def test_crd_valid(self) -> None:
        """
        kapid's CRD validation accepts the bench CRD.
        """
        from kapid.apiextensions.validation import set_crd_defaults, validate_crd

        definition = crd.crd("r1.embedded." + crd.GROUP)
        set_crd_defaults(definition)
        self.assertEqual(validate_crd(definition), [])


class TinyRunTests(SynchronousTestCase):
    """
    C{bench/run --tiny} of the custom resource rows.
    """

    def test_rows_and_ratios(self) -> None:
        """
        The run exits 0 (every selected row ran) with a positive figure per row and the three
        custom resource ratios.
        """
        out = os.path.abspath(self.mktemp())
        done = subprocess.run(
            [sys.executable, "-m", "bench.run", "--tiny", "--backend", "embedded", "--only",
             "embedded/create,embedded/get,embedded/cr_,embedded/crd_ready,embedded/startup,schema/validate",
             "--out", out],
            capture_output=True, text=True, timeout=240, env=child_env(), cwd=REPO,
        )
        self.assertEqual(done.returncode, 0, (done.stdout + done.stderr)[-3000:])
        with open(os.path.join(out, "results.json")) as f:
            results = json.load(f)
        for name in ROWS:
            entry = results["scenarios"][name]
            self.assertEqual(entry["status"], "ok", f"{name}: {entry.get('reason')}")
            self.assertGreater(entry["summary"]["throughput_median"], 0, name)
        self.assertGreater(results["scenarios"]["embedded/cr_heavy/get_during/c4"]["summary"]["heavy_creates_per_s"], 0)
        ratios = {r["numerator"]: r for r in results["ratios"]}
        for name, target in (("embedded/cr_create/c16", 0.8), ("embedded/cr_get/c16", 0.8),
                             ("embedded/crd_ready", None), ("embedded/cr_heavy/get_during/c4", None)):
            self.assertGreater(ratios[name]["value"], 0, name)
            self.assertEqual(ratios[name]["target"], target)
        growth = {r["denominator"]: r["value"] for r in results["ratios"] if r["numerator"] == "schema/validate/p10"}
        self.assertEqual(sorted(growth), ["schema/validate/p100", "schema/validate/p1000"])
        self.assertTrue(all(v > 0 for v in growth.values()), growth)
