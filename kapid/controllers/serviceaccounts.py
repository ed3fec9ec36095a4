"""
The C{default} ServiceAccount in every namespace (kube's C{serviceaccount-controller}), on kapid's
controller framework: a namespace that appears (or is there at start) and a C{default} account
that goes queue the namespace; syncing one creates C{default} when the namespace is active and the
account is missing. Terminating namespaces get none.
"""

from __future__ import annotations

from typing import Any

from kapid.apimachinery.status import StatusError
from kapid.controllers.framework import Controller, ControllerContext, FunctionHandler

DEFAULT_NAME = "default"


class ServiceAccountsController(Controller):
    """
    Keeps a C{default} ServiceAccount in every active namespace.
    """

    name = "serviceaccount"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.namespaces = ctx.store("", "namespaces")
        self.service_accounts = ctx.store("", "serviceaccounts")

    def setup(self) -> None:
        self.ns_informer = self.ctx.informer("", "namespaces")
        self.sa_informer = self.ctx.informer("", "serviceaccounts")
        self.watch(self.ns_informer, FunctionHandler(add=self._namespace, update=lambda _old, new: self._namespace(new)))
        self.watch(self.sa_informer, FunctionHandler(delete=self._account_deleted))

    def _namespace(self, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            self.queue.add(meta.get("name", ""))

    def _account_deleted(self, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("name") == DEFAULT_NAME and meta.get("namespace"):
            self.queue.add(meta["namespace"])

    async def sync(self, key: Any) -> None:
        ns = self.ns_informer.get(key) if self.ns_informer is not None else None
        if ns is None or (ns.get("metadata") or {}).get("deletionTimestamp"):
            return
        if self.sa_informer is not None and self.sa_informer.get(f"{key}/{DEFAULT_NAME}") is not None:
            return
        await self.ensure(key)

    async def ensure(self, namespace: str) -> bool:
        """
        Create C{default} in C{namespace} when it is missing; True when this call created it.
        """
        try:
            await self.service_accounts.get(namespace, DEFAULT_NAME, "v1")
            return False
        except StatusError as e:
            if e.code != 404:
                raise
        obj = {"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": DEFAULT_NAME}}
        default = getattr(self.service_accounts.strategy, "default", None)
        if default is not None:
            default("v1", obj)
        try:
            await self.service_accounts.create(namespace, obj, "v1")
        except StatusError as e:
            # 409: made meanwhile; 403/404: the namespace is terminating or gone
            if e.code in (403, 404, 409):
                return False
            raise
        return True
