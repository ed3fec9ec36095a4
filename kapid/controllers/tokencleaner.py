"""
kube's bootstrap token cleaner (C{token-cleaner-controller}, off by default as in kube): a
bootstrap token Secret (type C{bootstrap.kubernetes.io/token} in kube-system) whose C{expiration}
has passed is deleted; one that expires later is looked at again then (a timer, not a poll).
"""

from __future__ import annotations

import base64
from typing import Any

from kapid.apimachinery import meta as metautil
from kapid.apimachinery.status import StatusError
from kapid.controllers.framework import Controller, ControllerContext, FunctionHandler

NAMESPACE = "kube-system"
TOKEN_TYPE = "bootstrap.kubernetes.io/token"


class TokenCleaner(Controller):
    """
    Deletes expired bootstrap token Secrets.
    """

    name = "token_cleaner"

    def __init__(self, ctx: ControllerContext) -> None:
        super().__init__(ctx)
        self.secrets = ctx.store("", "secrets")

    def setup(self) -> None:
        self.informer = self.ctx.informer("", "secrets")
        self.watch(self.informer, FunctionHandler(add=self._changed, update=lambda _o, n: self._changed(n)))

    def _changed(self, secret: dict) -> None:
        meta = secret.get("metadata") or {}
        if meta.get("namespace") == NAMESPACE and secret.get("type") == TOKEN_TYPE:
            self.queue.add(meta.get("name", ""))

    async def sync(self, key: Any) -> None:
        secret = self.informer.get(f"{NAMESPACE}/{key}") if self.informer is not None else None
        if secret is None or secret.get("type") != TOKEN_TYPE:
            return
        raw = (secret.get("data") or {}).get("expiration")
        if not raw:
            return
        try:
            expires = metautil.parse_timestamp(base64.b64decode(raw).decode("utf-8"))
        except ValueError:
            expires = None
        if expires is None:
            return
        left = expires - self.clock.seconds()
        if left > 0:
            self.queue.add_after(key, left)
            return
        uid = (secret.get("metadata") or {}).get("uid")
        try:
            await self.secrets.delete(NAMESPACE, key, {"preconditions": {"uid": uid}}, "v1")
        except StatusError as e:
            if e.code not in (404, 409):
                raise
