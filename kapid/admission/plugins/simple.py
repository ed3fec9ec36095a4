"""
kube's small optional plugins: C{AlwaysAdmit}, C{AlwaysDeny}, C{NamespaceExists},
C{NamespaceAutoProvision} and C{AlwaysPullImages}.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from kapid.admission.chain import register
from kapid.admission.context import PluginContext
from kapid.admission.interfaces import CREATE, UPDATE, Attributes, IMutatingAdmission, IValidatingAdmission, forbidden
from kapid.apimachinery.status import StatusError, not_found


class _Plugin:
    name = ""
    operations: tuple[str, ...] = (CREATE, UPDATE, "DELETE", "CONNECT")

    def __init__(self, context: PluginContext, config: Any = None) -> None:
        self.context = context

    def handles(self, operation: str) -> bool:
        return operation in self.operations


@implementer(IMutatingAdmission, IValidatingAdmission)
class AlwaysAdmit(_Plugin):
    """
    Admits everything (deprecated in kube).
    """

    name = "AlwaysAdmit"

    def admit(self, a: Attributes) -> None:
        """
        Nothing to do.
        """

    def validate(self, a: Attributes) -> None:
        """
        Nothing to do.
        """


@implementer(IMutatingAdmission, IValidatingAdmission)
class AlwaysDeny(_Plugin):
    """
    Refuses every write (deprecated in kube).
    """

    name = "AlwaysDeny"

    def admit(self, a: Attributes) -> None:
        """
        Refuse.
        """
        raise forbidden(a, "admission control is denying all modifications")

    def validate(self, a: Attributes) -> None:
        """
        Refuse.
        """
        raise forbidden(a, "admission control is denying all modifications")


def _namespaced_content(a: Attributes) -> bool:
    return bool(a.namespace) and not (a.kind[0] == "" and a.kind[2] == "Namespace")


@implementer(IValidatingAdmission)
class NamespaceExists(_Plugin):
    """
    Writes into a namespace that does not exist are its 404.
    """

    name = "NamespaceExists"
    operations = (CREATE, UPDATE, "DELETE")

    async def validate(self, a: Attributes) -> None:
        """
        Refuse when the namespace is missing.
        """
        if not _namespaced_content(a):
            return
        ns = await self.context.get("", "namespaces", "", a.namespace, memo=a.memo)
        if ns is None:
            ns = await self.context.get("", "namespaces", "", a.namespace, live=True)
        if ns is None:
            raise not_found("namespaces", a.namespace)


@implementer(IMutatingAdmission)
class NamespaceAutoProvision(_Plugin):
    """
    A create into a namespace that does not exist creates the namespace first.
    """

    name = "NamespaceAutoProvision"
    operations = (CREATE,)

    async def admit(self, a: Attributes) -> None:
        """
        Create the namespace when it is missing.
        """
        if not _namespaced_content(a) or a.dry_run:
            return
        if await self.context.get("", "namespaces", "", a.namespace, memo=a.memo) is not None:
            return
        store = self.context.store("", "namespaces")
        if store is None or await self.context.get("", "namespaces", "", a.namespace, live=True) is not None:
            return
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": a.namespace}}
        default = getattr(store.strategy, "default", None)
        if default is not None:
            default("v1", ns)
        try:
            await store.create("", ns, "v1")
        except StatusError as e:
            if e.code != 409:
                raise


@implementer(IMutatingAdmission, IValidatingAdmission)
class AlwaysPullImages(_Plugin):
    """
    Every container of a pod pulls its image always.
    """

    name = "AlwaysPullImages"
    operations = (CREATE, UPDATE)

    @staticmethod
    def _containers(pod: dict) -> list[tuple[str, dict]]:
        spec = pod.get("spec") or {}
        out = []
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for i, c in enumerate(spec.get(key) or []):
                if isinstance(c, dict):
                    out.append((f"spec.{key}[{i}].imagePullPolicy", c))
        return out

    def _applies(self, a: Attributes) -> bool:
        return a.is_resource("", "pods", a.subresource) and a.subresource in ("", "ephemeralcontainers") and isinstance(a.object, dict)

    def admit(self, a: Attributes) -> None:
        """
        Set C{imagePullPolicy: Always}.
        """
        if self._applies(a):
            assert a.object is not None
            for _, c in self._containers(a.object):
                c["imagePullPolicy"] = "Always"

    def validate(self, a: Attributes) -> None:
        """
        Refuse another pull policy.
        """
        if not self._applies(a):
            return
        assert a.object is not None
        from kapid.apimachinery import field

        for path, c in self._containers(a.object):
            if c.get("imagePullPolicy") != "Always":
                err = field.not_supported(path, c.get("imagePullPolicy") or "", ("Always",))
                raise forbidden(a, str(err))


for _cls in (AlwaysAdmit, AlwaysDeny, NamespaceExists, NamespaceAutoProvision, AlwaysPullImages):
    register(_cls.name)(_cls)
