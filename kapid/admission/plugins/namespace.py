"""
C{NamespaceLifecycle} (kube's C{plugin/namespace/lifecycle}): kube's immortal namespaces cannot be
deleted, nothing is written into a namespace that does not exist, and nothing is created in one
that is being terminated.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from kapid.admission.chain import register
from kapid.admission.context import PluginContext
from kapid.admission.interfaces import CREATE, DELETE, Attributes, IMutatingAdmission, forbidden
from kapid.apimachinery.status import StatusError
from kapid.apimachinery.status import forbidden as forbidden_error
from kapid.apimachinery.status import not_found

#: The namespaces kube's plugin refuses to delete.
IMMORTAL = ("default", "kube-system", "kube-public")

#: Resources that answer about permissions in a namespace: never told whether it exists.
ACCESS_REVIEWS = (("authorization.k8s.io", "localsubjectaccessreviews"),)


def terminating(namespace: dict) -> bool:
    """
    Whether a namespace is being terminated (its phase, or a deletionTimestamp already set).
    """
    meta = namespace.get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) or (namespace.get("status") or {}).get("phase") == "Terminating"


def terminating_error(a: Attributes) -> StatusError:
    """
    kube's 403 for a create in a terminating namespace, with its C{NamespaceTerminating} cause.
    """
    err = forbidden(a, f"unable to create new content in namespace {a.namespace} because it is being terminated")
    err.details = dict(err.details or {})
    err.details["causes"] = [
        {
            "reason": "NamespaceTerminating",
            "message": f"namespace {a.namespace} is being terminated",
            "field": "metadata.namespace",
        }
    ]
    return err


@implementer(IMutatingAdmission)
class NamespaceLifecycle:
    """
    The plugin (kube's C{Lifecycle}; it is a mutating plugin there too, so its answers come
    before the strategy's validation).
    """

    name = "NamespaceLifecycle"

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    def handles(self, operation: str) -> bool:
        """
        C{CREATE}, C{UPDATE} and C{DELETE}.
        """
        return operation in ("CREATE", "UPDATE", "DELETE")

    async def admit(self, a: Attributes) -> None:
        """
        Refuse as kube's plugin refuses.
        """
        is_namespace = a.kind[0] == "" and a.kind[2] == "Namespace"
        if a.operation == DELETE and is_namespace and a.name in IMMORTAL:
            raise forbidden_error(a.resource[2], a.name, "this namespace may not be deleted", a.resource[0])
        if not a.namespace and not is_namespace:
            return
        if is_namespace or a.operation == DELETE:
            return
        if a.group_resource in ACCESS_REVIEWS:
            return
        ns = await self.context.get("", "namespaces", "", a.namespace, memo=a.memo)
        if ns is None:
            ns = await self.context.get("", "namespaces", "", a.namespace, live=True)
        if ns is None:
            raise not_found("namespaces", a.namespace)
        if a.operation == CREATE and terminating(ns):
            raise terminating_error(a)


@register("NamespaceLifecycle")
def _factory(context: PluginContext, config: Any) -> NamespaceLifecycle:
    return NamespaceLifecycle(context)


def default_chain(link: Any) -> Any:
    """
    The chain of a link built without one: NamespaceLifecycle alone over C{link} (kapid's
    namespace checks before the admission chain was configurable).
    """
    from kapid.admission.chain import AdmissionChain

    return AdmissionChain([NamespaceLifecycle(PluginContext(link))])
