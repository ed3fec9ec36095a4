"""
The Widget operator against a real API server (kapid), including the faults a real cluster
throws at it: a conflict on update, a watch closed mid-stream, a 410 that forces a re-list.
"""

from __future__ import annotations

from typing import Any

import pytest
from conftest import GROUP, PLURAL, VERSION, wait_for

pytestmark = pytest.mark.usefixtures("operator")


def create_widget(widgets: Any, namespace: str, name: str, data: dict[str, str]) -> dict:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget",
            "metadata": {"name": name}, "spec": {"data": data}}
    return widgets.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)


def wait_ready(widgets: Any, namespace: str, name: str, generation: int = 1) -> dict:
    """
    Wait until the operator has reported the Widget's C{generation} in its status.
    """
    return wait_for(
        lambda: widgets.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name),
        lambda w: w.get("status", {}).get("observedGeneration") == generation,
        f"widget {namespace}/{name} to be reconciled at generation {generation}",
    )


def wait_config_map(core: Any, namespace: str, name: str, data: dict[str, str]) -> Any:
    return wait_for(lambda: core.read_namespaced_config_map(name, namespace),
                    lambda cm: (cm.data or {}) == data, f"ConfigMap {namespace}/{name} to hold {data}")


def armed(kapid: Any, fault: dict) -> bool:
    return any(f["id"] == fault["id"] for f in kapid.faults.list())


def test_happy_path(kapid_namespace: str, widgets: Any, core: Any) -> None:
    """
    A new Widget gets its ConfigMap (owned by it) and a Ready status; a spec change reaches both.
    """
    widget = create_widget(widgets, kapid_namespace, "happy", {"color": "blue"})
    cm = wait_config_map(core, kapid_namespace, "happy-config", {"color": "blue"})
    assert [(o.kind, o.name, o.uid, o.controller) for o in cm.metadata.owner_references] == [
        ("Widget", "happy", widget["metadata"]["uid"], True)]
    status = wait_ready(widgets, kapid_namespace, "happy")["status"]
    assert {k: status[k] for k in ("phase", "configMap", "attempts")} == {
        "phase": "Ready", "configMap": "happy-config", "attempts": 1}

    widgets.patch_namespaced_custom_object(GROUP, VERSION, kapid_namespace, PLURAL, "happy",
                                           {"spec": {"data": {"color": "red", "size": "3"}}})
    wait_config_map(core, kapid_namespace, "happy-config", {"color": "red", "size": "3"})
    wait_ready(widgets, kapid_namespace, "happy", generation=2)


def test_conflict_on_update_retried(kapid: Any, kapid_namespace: str, widgets: Any, core: Any) -> None:
    """
    The ConfigMap update meets a 409 Conflict (as when another writer got there first); the
    handler is retried and the next attempt succeeds.
    """
    create_widget(widgets, kapid_namespace, "busy", {"a": "1"})
    wait_ready(widgets, kapid_namespace, "busy")
    fault = kapid.faults.inject(verb="update", resource="configmaps", namespace=kapid_namespace,
                                name="busy-config", code=409)
    widgets.patch_namespaced_custom_object(GROUP, VERSION, kapid_namespace, PLURAL, "busy",
                                           {"spec": {"data": {"a": "2"}}})
    wait_config_map(core, kapid_namespace, "busy-config", {"a": "2"})
    status = wait_ready(widgets, kapid_namespace, "busy", generation=2)["status"]
    assert not armed(kapid, fault), "the conflict was never met"
    assert status["attempts"] == 2


def test_watch_closed_and_resumed(kapid: Any, kapid_namespace: str, widgets: Any, core: Any) -> None:
    """
    kapid closes the operator's Widget watch mid-stream (as an API server does on restart or
    timeout): the operator watches again from the last resourceVersion it saw, without a re-list,
    and keeps reconciling.
    """
    create_widget(widgets, kapid_namespace, "first", {"k": "v"})
    wait_ready(widgets, kapid_namespace, "first")
    relist = kapid.faults.inject(verb="list", resource="widgets.example.com", delay=0.001)  # marks a list
    rewatch = kapid.faults.inject(verb="watch", resource="widgets.example.com", delay=0.001)  # marks a watch
    assert kapid.faults.close_watches(resource="widgets") >= 1
    wait_for(lambda: armed(kapid, rewatch), lambda a: not a, "the operator to watch Widgets again")
    create_widget(widgets, kapid_namespace, "second", {"k": "w"})
    wait_config_map(core, kapid_namespace, "second-config", {"k": "w"})
    wait_ready(widgets, kapid_namespace, "second")
    assert armed(kapid, relist), "the operator listed Widgets again instead of resuming its watch"
    kapid.faults.clear()
    first = widgets.get_namespaced_custom_object(GROUP, VERSION, kapid_namespace, PLURAL, "first")
    assert first["status"]["attempts"] == 1


def test_expired_watch_relists(kapid: Any, kapid_namespace: str, widgets: Any, core: Any) -> None:
    """
    kapid ends the operator's Widget watch with a 410 Expired ERROR event (as kube-apiserver does
    when a watcher's resourceVersion has left its watch cache's window): the operator cannot resume
    and lists Widgets again, and keeps reconciling.
    """
    create_widget(widgets, kapid_namespace, "old", {"x": "1"})
    wait_ready(widgets, kapid_namespace, "old")
    relist = kapid.faults.inject(verb="list", resource="widgets.example.com", delay=0.001)  # marks a list
    assert kapid.faults.close_watches(expired=True, resource="widgets") >= 1
    wait_for(lambda: armed(kapid, relist), lambda a: not a, "the operator to list Widgets again")
    widgets.patch_namespaced_custom_object(GROUP, VERSION, kapid_namespace, PLURAL, "old",
                                           {"spec": {"data": {"x": "2"}}})
    wait_config_map(core, kapid_namespace, "old-config", {"x": "2"})
    status = wait_ready(widgets, kapid_namespace, "old", generation=2)["status"]
    assert status["attempts"] == 1
    create_widget(widgets, kapid_namespace, "new", {"y": "1"})
    wait_config_map(core, kapid_namespace, "new-config", {"y": "1"})
