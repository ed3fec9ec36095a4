"""
Discovery and OpenAPI of remote group/versions (kube-aggregator's discovery and OpenAPI v3
merging): the C{APIResourceList}
an available extension API server answers for its group/version (fetched by the availability
check), kept in aggregated form with the APIService's priorities, so that C{/apis} (aggregated and
legacy) and C{/apis/<group>} list remote groups next to the local ones
(L{kapid.kubeapi.discovery.DiscoveryDocuments} reads this table). Entries go when their APIService
is unavailable or gone; every change is announced (discovery caches and ETags follow). The
backends' OpenAPI v3 documents are kept the same way (L{RemoteDiscovery.set_openapi}), for
C{/openapi/v3} (L{kapid.kubeapi.openapi.OpenAPIDocuments} reads them), so C{kubectl explain}
works for aggregated kinds.
"""

from __future__ import annotations

from typing import Any, Callable, Collection, Optional

import hashlib

import orjson


def _gv(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def aggregated_resources(resource_list: dict, group: str, version: str) -> list[dict]:
    """
    A legacy C{APIResourceList}'s resources in aggregated form (C{APIResourceDiscovery}, with
    their subresources), sorted by name as kube lists them.
    """
    main: dict[str, dict] = {}
    subs: list[tuple[str, str, dict]] = []
    for r in resource_list.get("resources") or []:
        if not isinstance(r, dict):
            continue
        name = r.get("name") or ""
        if "/" in name:
            parent, _, sub = name.partition("/")
            subs.append((parent, sub, r))
            continue
        e: dict[str, Any] = {
            "resource": name,
            "responseKind": {"group": r.get("group", group), "version": r.get("version", version), "kind": r.get("kind") or ""},
            "scope": "Namespaced" if r.get("namespaced") else "Cluster",
            "singularResource": r.get("singularName") or "",
            "verbs": list(r.get("verbs") or []),
        }
        if r.get("shortNames"):
            e["shortNames"] = list(r["shortNames"])
        if r.get("categories"):
            e["categories"] = list(r["categories"])
        main[name] = e
    for parent, sub, r in sorted(subs, key=lambda s: (s[0], s[1])):
        owner = main.get(parent)
        if owner is None:
            continue
        owner.setdefault("subresources", []).append({
            "subresource": sub,
            "responseKind": {"group": r.get("group", group), "version": r.get("version", version), "kind": r.get("kind") or ""},
            "verbs": list(r.get("verbs") or []),
        })
    return [main[k] for k in sorted(main)]


_REF = "#/definitions/"


def _refs(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            out.add(ref[len(_REF):])
        for v in node.values():
            _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)


def v2_portion(doc: dict, group: str, version: str) -> dict:
    """
    What a backend's Swagger 2.0 document adds for C{group/version}: its paths under the
    group/version's prefix and the closure of the definitions they refer to.
    """
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    paths = {p: v for p, v in (doc.get("paths") or {}).items() if p == prefix or p.startswith(prefix + "/")}
    definitions = doc.get("definitions") or {}
    wanted: set[str] = set()
    _refs(paths, wanted)
    seen: set[str] = set()
    todo = sorted(wanted)
    while todo:
        name = todo.pop()
        if name in seen or name not in definitions:
            continue
        seen.add(name)
        more: set[str] = set()
        _refs(definitions[name], more)
        todo.extend(sorted(more - seen))
    return {"paths": paths, "definitions": {n: definitions[n] for n in sorted(seen)}}


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(_REF) and v[len(_REF):] in renames:
                out[k] = _REF + renames[v[len(_REF):]]
            else:
                out[k] = _rename_refs(v, renames)
        return out
    if isinstance(node, list):
        return [_rename_refs(v, renames) for v in node]
    return node


def merge_v2(local: dict, portions: list[tuple[str, str, dict]]) -> dict:
    """
    kube-aggregator's merge of the backends' Swagger documents into the local one
    (C{MergeSpecsIgnorePathConflictRenamingDefinitionsAndParameters}): a path already served is
    kept as it is; a definition of the same name and content is shared, one of the same name and
    other content is renamed C{<name>_v2} (C{_v3}, ...) with the references to it.
    """
    paths = dict(local.get("paths") or {})
    definitions = dict(local.get("definitions") or {})
    for _g, _v, portion in portions:
        new_paths = {p: v for p, v in portion["paths"].items() if p not in paths}
        if not new_paths:
            continue
        renames: dict[str, str] = {}
        for name, schema in portion["definitions"].items():
            if name in definitions and definitions[name] != schema:
                i = 2
                while f"{name}_v{i}" in definitions and definitions[f"{name}_v{i}"] != schema:
                    i += 1
                renames[name] = f"{name}_v{i}"
        add_defs = portion["definitions"]
        if renames:
            new_paths = _rename_refs(new_paths, renames)
            add_defs = {renames.get(n, n): _rename_refs(d, renames) for n, d in add_defs.items()}
        paths.update(new_paths)
        for name, schema in add_defs.items():
            definitions.setdefault(name, schema)
    out = dict(local)
    out["paths"] = dict(sorted(paths.items()))
    out["definitions"] = dict(sorted(definitions.items()))
    return out


class RemoteDiscovery:
    """
    The discovery of the available remote group/versions.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[int, int, list[dict], dict]] = {}
        self._openapi: dict[tuple[str, str], tuple[bytes, str]] = {}
        self._openapi_v2: dict[tuple[str, str], tuple[dict, str]] = {}
        self._subscribers: list[Callable[[], None]] = []

    def subscribe(self, callback: Callable[[], None]) -> None:
        """
        Call C{callback()} after every change.
        """
        self._subscribers.append(callback)

    def _changed(self) -> None:
        for cb in list(self._subscribers):
            cb()

    def set(self, group: str, version: str, group_priority: int, version_priority: int, body: bytes) -> bool:
        """
        Take the backend's C{APIResourceList} (C{body}, JSON) for C{group/version}; False (and no
        change) when it is not one.
        """
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(doc, dict) or doc.get("kind") != "APIResourceList":
            return False
        entry = (group_priority, version_priority, aggregated_resources(doc, group, version), doc)
        if self._entries.get((group, version)) == entry:
            return True
        self._entries[(group, version)] = entry
        self._changed()
        return True

    def remove(self, group: str, version: str) -> None:
        """
        Forget C{group/version}.
        """
        had = self._entries.pop((group, version), None) is not None
        had = self._openapi.pop((group, version), None) is not None or had
        had = self._openapi_v2.pop((group, version), None) is not None or had
        if had:
            self._changed()

    def keep_only(self, group_versions: Collection[tuple[str, str]]) -> None:
        """
        Forget every group/version not in C{group_versions} (their APIServices are gone).
        """
        gone = [k for k in set(self._entries) | set(self._openapi) | set(self._openapi_v2) if k not in group_versions]
        for k in gone:
            self._entries.pop(k, None)
            self._openapi.pop(k, None)
            self._openapi_v2.pop(k, None)
        if gone:
            self._changed()

    def set_openapi(self, group: str, version: str, body: bytes) -> bool:
        """
        Take the backend's OpenAPI v3 document of C{group/version}; False (and no change) when
        it is not one.
        """
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(doc, dict) or "openapi" not in doc:
            return False
        entry = (body, hashlib.sha512(body).hexdigest().upper())
        if self._openapi.get((group, version)) == entry:
            return True
        self._openapi[(group, version)] = entry
        self._changed()
        return True

    def set_openapi_v2(self, group: str, version: str, body: bytes, etag: str = "") -> bool:
        """
        Take the backend's Swagger 2.0 document (C{body}, JSON; its C{etag}) for C{group/version}:
        kept are its paths under C{/apis/<group>/<version>} (C{/api/<version>} for the core group)
        and the definitions they reach. False (and no change) when it is not one.
        """
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
            return False
        portion = v2_portion(doc, group, version)
        before = self._openapi_v2.get((group, version))
        if before is not None and before[0] == portion:
            self._openapi_v2[(group, version)] = (portion, etag)
            return True
        self._openapi_v2[(group, version)] = (portion, etag)
        self._changed()
        return True

    def openapi_v2_etag(self, group: str, version: str) -> str:
        """
        The ETag of the backend's Swagger document last taken for C{group/version} (C{""}: none).
        """
        entry = self._openapi_v2.get((group, version))
        return entry[1] if entry is not None else ""

    def openapi_v2_portions(self) -> list[tuple[str, str, dict]]:
        """
        C{(group, version, {"paths", "definitions"})} of every remote Swagger document, sorted.
        """
        return [(g, v, self._openapi_v2[(g, v)][0]) for g, v in sorted(self._openapi_v2)]

    def openapi_v3(self, group: str, version: str) -> Optional[tuple[bytes, str]]:
        """
        C{(body, hash)} of the backend's OpenAPI v3 document of C{group/version}, or None.
        """
        return self._openapi.get((group, version))

    def openapi_group_versions(self) -> list[tuple[str, str]]:
        """
        The group/versions whose OpenAPI v3 document is known.
        """
        return sorted(self._openapi)

    def priorities(self) -> dict[tuple[str, str], tuple[int, int]]:
        """
        C{{(group, version): (groupPriorityMinimum, versionPriority)}} of what is known.
        """
        return {k: (v[0], v[1]) for k, v in self._entries.items()}

    def resources(self, group: str, version: str) -> Optional[list[dict]]:
        """
        The aggregated resources of C{group/version}, or None when not remote.
        """
        entry = self._entries.get((group, version))
        return None if entry is None else entry[2]

    def resource_list(self, group: str, version: str) -> Optional[dict]:
        """
        The backend's C{APIResourceList} of C{group/version}, or None.
        """
        entry = self._entries.get((group, version))
        return None if entry is None else entry[3]
