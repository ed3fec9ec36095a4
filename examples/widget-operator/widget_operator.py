"""
A small kopf operator for the C{Widget} kind (C{crds/widgets.yaml}): for each Widget it keeps a
ConfigMap C{<name>-config} whose data is the Widget's C{spec.data} (owned by the Widget, so the
garbage collector deletes it with it) and writes C{status} (C{phase}, C{configMap},
C{observedGeneration}, C{attempts}).

Run it against any cluster (kubeconfig or in-cluster credentials)::

    kopf run --standalone --all-namespaces widget_operator.py

The ConfigMap is written with a read-modify-write C{replace} (the object's resourceVersion is sent),
so a concurrent writer makes the API server answer 409 Conflict; the handler then asks kopf to retry
it (C{kopf.TemporaryError}) and the next attempt reads the ConfigMap again.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import kopf
import kubernetes
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "example.com", "v1", "widgets"

#: How long kopf waits before retrying a handler that met a conflict.
CONFLICT_RETRY_DELAY = 0.2


@functools.lru_cache(maxsize=1)
def core_api() -> Any:
    """
    A C{CoreV1Api} with in-cluster credentials, else the kubeconfig's (C{KUBECONFIG}).
    """
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    return kubernetes.client.CoreV1Api()


@kopf.on.login()
def login(**kwargs: Any) -> Any:
    """
    kopf's own in-cluster, else kubeconfig (C{KUBECONFIG} as it is when the operator starts), login.
    """
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """
    Short client timeouts: a broken connection is noticed in seconds, not minutes.
    """
    settings.watching.connect_timeout = 5
    settings.watching.server_timeout = 60
    settings.networking.request_timeout = 10


def config_map_name(widget_name: str) -> str:
    """
    The name of the ConfigMap a Widget owns.
    """
    return f"{widget_name}-config"


def write_config_map(namespace: str, name: str, data: dict[str, str], owner: Any) -> None:
    """
    Create the ConfigMap, or replace its data (read-modify-write: a concurrent change is a 409).
    """
    api = core_api()
    try:
        current = api.read_namespaced_config_map(name, namespace)
    except ApiException as e:
        if e.status != 404:
            raise
        body = {"metadata": {"name": name, "labels": {"example.com/widget": owner["metadata"]["name"]}},
                "data": data}
        kopf.adopt(body, owner=owner)
        api.create_namespaced_config_map(namespace, body)
        return
    if (current.data or {}) == data:
        return
    current.data = data
    api.replace_namespaced_config_map(name, namespace, current)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL, field="spec")
def reconcile(
    spec: Any, name: str, namespace: str, body: Any, patch: Any, retry: int, logger: Any, **_: Any
) -> None:
    """
    Make the Widget's ConfigMap match its C{spec.data}; then report it in C{status}.
    """
    cm_name = config_map_name(name)
    data = {str(k): str(v) for k, v in (spec.get("data") or {}).items()}
    try:
        write_config_map(namespace, cm_name, data, body)
    except ApiException as e:
        if e.status == 409:
            raise kopf.TemporaryError(f"conflict writing ConfigMap {cm_name}; retrying",
                                      delay=CONFLICT_RETRY_DELAY)
        raise
    logger.info(f"ConfigMap {cm_name} has {len(data)} keys")
    patch.status["phase"] = "Ready"
    patch.status["configMap"] = cm_name
    patch.status["observedGeneration"] = body["metadata"].get("generation")
    patch.status["attempts"] = retry + 1
