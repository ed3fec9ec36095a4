"""
Every distribution C{setup.cfg} installs with kapid is used by kapid's own code (issue 18, item 9):
imported, or found by name as C{kapid.apimachinery.schema} finds kubernetes-validate's definitions.
"""

from __future__ import annotations

import ast
import configparser
import importlib.metadata
import os
import re

from twisted.trial.unittest import SynchronousTestCase

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def install_requires() -> list[str]:
    """
    The distribution names of C{install_requires}, without extras or versions.
    """
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "setup.cfg"))
    lines = cfg["options"]["install_requires"].splitlines()
    return [re.split(r"[\s\[<>=!~;]", line.strip(), maxsplit=1)[0] for line in lines if line.strip()]


def used_names() -> set[str]:
    """
    The top-level modules kapid's code imports, and the module names it looks up as strings.
    """
    names: set[str] = set()
    for base, _, files in os.walk(os.path.join(ROOT, "kapid")):
        for f in files:
            if not f.endswith(".py"):
                continue
            with open(os.path.join(base, f), encoding="utf-8") as fh:
                tree = ast.parse(fh.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    names.add(node.module.split(".")[0])
                elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "find_spec":
                    names.update(a.value for a in node.args if isinstance(a, ast.Constant))
    return names


class DependencyTests(SynchronousTestCase):
    """
    No declared dependency goes unused.
    """

    def test_every_install_requirement_is_used(self) -> None:
        provides: dict[str, set[str]] = {}
        for module, dists in importlib.metadata.packages_distributions().items():
            for d in dists:
                provides.setdefault(d.lower().replace("_", "-"), set()).add(module)
        used = used_names()
        unused = [
            d for d in install_requires()
            if not provides.get(d.lower().replace("_", "-"), set()) & used
        ]
        self.assertEqual(unused, [])
