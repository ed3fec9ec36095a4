"""
API extensions flags: C{--crd-dir} installs the CustomResourceDefinitions of YAML/JSON files before
kapid reports ready (what envtest calls C{CRDDirectoryPaths}), so a test or a dev loop starts with its
kinds served. Every file is read and every CRD checked here, before anything listens: a bad file stops
start-up with one error naming each file and problem.
"""

from __future__ import annotations

import os
from typing import Any

import attr

from kapid.options import Checker, Flag, Section, split_list

SECTION = Section(
    "API extensions flags",
    (
        Flag("crd-dir", "", "Comma-separated directories (or files) of CustomResourceDefinition "
             "manifests (.yaml, .yml, .json; several documents per file) to create or update before "
             "the server reports ready; they are served once established (kapid only)."),
    ),
)

_SUFFIXES = (".yaml", ".yml", ".json")


@attr.s(frozen=True, auto_attribs=True)
class APIExtensionsConfig:
    """
    The CRDs to install at start: C{((file, CRD object), ...)} in file order.
    """

    crd_files: tuple[tuple[str, dict], ...] = ()


def complete(values: dict[str, Any]) -> None:
    """
    No derived defaults.
    """


def _files(path: str) -> list[str]:
    if os.path.isdir(path):
        return [
            os.path.join(path, f) for f in sorted(os.listdir(path))
            if f.endswith(_SUFFIXES) and os.path.isfile(os.path.join(path, f))
        ]
    return [path]


def read_crds(path: str) -> tuple[list[dict], list[str]]:
    """
    The CRDs of one manifest file and the problems found in it (each naming the file). Documents of
    other kinds are skipped, as envtest skips them.
    """
    import yaml

    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as e:
        return [], [f"--crd-dir: {path}: {e.strerror or e}"]
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        return [], [f"--crd-dir: {path}: not valid YAML or JSON: {str(e).splitlines()[0]}"]
    crds: list[dict] = []
    errors: list[str] = []
    for i, doc in enumerate(docs):
        if doc is None:
            continue
        items = doc.get("items") if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") else [doc]
        for obj in items or []:
            if not isinstance(obj, dict):
                errors.append(f"--crd-dir: {path}: document {i + 1} is not an object")
                continue
            if obj.get("kind") != "CustomResourceDefinition":
                continue
            if obj.get("apiVersion") != "apiextensions.k8s.io/v1":
                errors.append(
                    f"--crd-dir: {path}: document {i + 1}: apiVersion {obj.get('apiVersion')!r} is not "
                    "served (kapid serves apiextensions.k8s.io/v1)"
                )
                continue
            crds.append(obj)
    return crds, errors


def check_crd(path: str, crd: dict) -> list[str]:
    """
    kube's validation of one CRD from a manifest, as one message per problem naming the file.
    """
    from kapid.apiextensions.validation import set_crd_defaults, validate_crd

    name = (crd.get("metadata") or {}).get("name") or "<no name>"
    set_crd_defaults(crd)
    return [f"--crd-dir: {path}: CustomResourceDefinition {name!r}: {e}" for e in validate_crd(crd)]


def validate(values: dict[str, Any]) -> tuple[APIExtensionsConfig, list[str]]:
    """
    Read and check every CRD of C{--crd-dir}; return the config and every problem found.
    """
    c = Checker(values)
    out: list[tuple[str, dict]] = []
    seen: dict[str, str] = {}
    for entry in split_list(c.text("crd-dir")):
        if not os.path.exists(entry):
            c.error(f"--crd-dir: {entry!r} does not exist")
            continue
        for path in _files(entry):
            crds, errors = read_crds(path)
            for e in errors:
                c.error(e)
            for crd in crds:
                for e in check_crd(path, crd):
                    c.error(e)
                name = (crd.get("metadata") or {}).get("name") or ""
                if name in seen:
                    c.error(f"--crd-dir: {path}: CustomResourceDefinition {name!r} is also in {seen[name]}")
                    continue
                seen[name] = path
                out.append((path, crd))
    return APIExtensionsConfig(tuple(out)), c.errors
