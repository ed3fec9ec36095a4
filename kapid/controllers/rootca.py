"""
kube's root CA publisher (C{root-ca-certificate-publisher-controller}): a C{kube-root-ca.crt}
ConfigMap with the cluster CA (C{data["ca.crt"]}) in every active namespace, made again when it is
deleted and put back when it is changed.
"""

from __future__ import annotations

import os
from typing import Any, Optional

from kapid.apimachinery.status import StatusError
from kapid.controllers.framework import Controller, ControllerContext, FunctionHandler

NAME = "kube-root-ca.crt"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)


def cluster_ca_pem(config: Any) -> bytes:
    """
    The cluster CA kapid publishes: C{ca.crt} in C{--cert-dir} (kapid's CA), or nothing.
    """
    if config is None:
        return b""
    path = os.path.join(config.secure_serving.cert_dir, "ca.crt")
    if not os.path.exists(path):
        return b""
    with open(path, "rb") as f:
        return f.read()


class RootCAPublisher(Controller):
    """
    Publishes C{ca_pem} as C{kube-root-ca.crt} in every active namespace.
    """

    name = "root_ca_cert_publisher"

    def __init__(self, ctx: ControllerContext, ca_pem: Optional[bytes] = None) -> None:
        super().__init__(ctx)
        self.ca = (ca_pem if ca_pem is not None else cluster_ca_pem(ctx.config)).decode("ascii")
        self.configmaps = ctx.store("", "configmaps")

    def setup(self) -> None:
        self.namespaces = self.ctx.informer("", "namespaces")
        self.cms = self.ctx.informer("", "configmaps")
        self.watch(self.namespaces, FunctionHandler(add=self._namespace, update=lambda _o, n: self._namespace(n)))
        self.watch(self.cms, FunctionHandler(update=lambda _o, n: self._configmap(n), delete=self._configmap))

    def _namespace(self, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        if not meta.get("deletionTimestamp"):
            self.queue.add(meta.get("name", ""))

    def _configmap(self, obj: dict) -> None:
        meta = obj.get("metadata") or {}
        if meta.get("name") == NAME and meta.get("namespace"):
            self.queue.add(meta["namespace"])

    async def sync(self, key: Any) -> None:
        if not self.ca:
            return
        ns = self.namespaces.get(key) if self.namespaces is not None else None
        if ns is None or (ns.get("metadata") or {}).get("deletionTimestamp"):
            return
        current = self.cms.get(f"{key}/{NAME}") if self.cms is not None else None
        if current is None:
            body = {
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": NAME, "annotations": {"kubernetes.io/description": DESCRIPTION}},
                "data": {"ca.crt": self.ca},
            }
            try:
                await self.configmaps.create(key, body, "v1")
            except StatusError as e:
                if e.code not in (403, 404, 409):
                    raise
            return
        annotations = (current.get("metadata") or {}).get("annotations") or {}
        if current.get("data") == {"ca.crt": self.ca} and annotations.get("kubernetes.io/description") == DESCRIPTION:
            return

        def fix(cur: Optional[dict]) -> dict:
            assert cur is not None
            cur = dict(cur)
            cur["data"] = {"ca.crt": self.ca}
            cur.pop("binaryData", None)
            meta = dict(cur.get("metadata") or {})
            meta["annotations"] = {**(meta.get("annotations") or {}), "kubernetes.io/description": DESCRIPTION}
            cur["metadata"] = meta
            return cur

        try:
            await self.configmaps.update(key, NAME, fix, "v1")
        except StatusError as e:
            if e.code not in (404, 409):
                raise
            if e.code == 409:
                self.queue.add_after(key, 1)
