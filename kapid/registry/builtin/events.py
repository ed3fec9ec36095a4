"""
events.k8s.io/v1 events: the same objects as core/v1 events (kube keeps one storage, C{/registry/events},
in the core form; kapid.registry.conversion converts), one hour TTL, and the core events' field
selectors.
"""

from __future__ import annotations

from typing import Any, Callable


from kapid.registry.builtin._helpers import resource, v1


def _either(core: tuple[str, ...], events: tuple[str, ...]) -> Callable[[dict], str]:
    """
    A field getter reading the core form's path, or the events.k8s.io form's.
    """

    def get(obj: dict) -> str:
        for path in (core, events):
            v: Any = obj
            for p in path:
                v = v.get(p) if isinstance(v, dict) else None
            if v is not None:
                return str(v)
        return ""

    return get


_SELECTORS = {
    f"involvedObject.{k}": _either(("involvedObject", k), ("regarding", k))
    for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
}
_SELECTORS.update(
    {
        "reason": _either(("reason",), ("reason",)),
        "reportingComponent": _either(("reportingComponent",), ("reportingController",)),
        "source": _either(("source", "component"), ("deprecatedSource", "component")),
        "type": _either(("type",), ("type",)),
    }
)

EVENTS = resource(
    "events.k8s.io", "Event", "events", v1("io.k8s.api.events.v1.Event"),
    short_names=("ev",),
    field_selectors=_SELECTORS,
    storage_path="events",
    ttl=3600,
)

RESOURCES = [EVENTS]
