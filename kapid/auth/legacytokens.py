"""
Legacy service account token Secrets (kube-controller-manager's C{tokens} controller): a Secret of
type C{kubernetes.io/service-account-token} annotated C{kubernetes.io/service-account.name} gets a
legacy token (L{kapid.auth.tokens.TokenIssuer.issue_legacy}) in C{data.token}, the cluster CA in
C{data["ca.crt"]}, its namespace in C{data.namespace} and the account's uid in the
C{kubernetes.io/service-account.uid} annotation. A Secret whose account does not exist (or has
another uid) is deleted, as are an account's token Secrets when the account is deleted.

L{post_start_hook} runs it in the daemon: it handles the Secrets that exist, then watches Secrets
and ServiceAccounts (started again after a relist when a watch ends) until shutdown begins.
"""

from __future__ import annotations

import base64
import os
from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from kapid.apimachinery.status import StatusError
from kapid.storage.interfaces import ADDED, DELETED, ERROR, MODIFIED, Event, ListOptions

log = Logger()

SA_TOKEN = "kubernetes.io/service-account-token"
NAME_ANNOTATION = "kubernetes.io/service-account.name"
UID_ANNOTATION = "kubernetes.io/service-account.uid"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class TokensController:
    """
    Fills and cleans up token Secrets.

    @ivar secrets: the secrets' L{kapid.registry.store.RegistryStore}.
    @ivar accounts: the serviceaccounts' store.
    @ivar issuer: a L{kapid.auth.tokens.TokenIssuer}.
    @ivar ca_pem: the cluster CA for C{ca.crt} (empty: left out).
    """

    def __init__(self, secrets: Any, accounts: Any, issuer: Any, ca_pem: bytes, clock: Any,
                 retry_delay: float = 1.0) -> None:
        self.secrets = secrets
        self.accounts = accounts
        self.issuer = issuer
        self.ca_pem = ca_pem
        self.clock = clock
        self.retry_delay = retry_delay
        self.stopped = False
        self._watchers: list[Any] = []
        self._queue: list[tuple[str, Any]] = []
        self._working: Optional[Deferred] = None
        self._restart: Any = None

    @property
    def storage(self) -> Any:
        """
        The L{IStorage} both stores use.
        """
        return self.secrets.storage

    async def sync_secret(self, secret: dict) -> str:
        """
        Handle one Secret: C{"filled"}, C{"deleted"} or C{"ok"} (nothing to do or not a token Secret).
        """
        if secret.get("type") != SA_TOKEN:
            return "ok"
        meta = secret.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return "ok"
        annotations = meta.get("annotations") or {}
        namespace, name = meta.get("namespace") or "", meta.get("name") or ""
        account_name = annotations.get(NAME_ANNOTATION) or ""
        if not account_name:
            return "ok"
        try:
            account = await self.accounts.get(namespace, account_name, "v1")
        except StatusError as e:
            if e.code != 404:
                raise
            account = None
        wanted_uid = annotations.get(UID_ANNOTATION)
        uid = ((account or {}).get("metadata") or {}).get("uid") or ""
        if account is None or (wanted_uid and wanted_uid != uid):
            await self._delete(namespace, name)
            return "deleted"
        data = secret.get("data") or {}
        if data.get("token") and wanted_uid == uid and ("ca.crt" in data or not self.ca_pem) and data.get("namespace"):
            return "ok"
        token = data.get("token") or _b64(self.issuer.issue_legacy(namespace, account_name, uid, name).encode())

        def fill(current: Optional[dict]) -> dict:
            if current is None:
                raise StatusError(404, "NotFound", f'secrets "{name}" not found')
            out = dict(current)
            out_meta = dict(out.get("metadata") or {})
            out_meta["annotations"] = dict(out_meta.get("annotations") or {}, **{UID_ANNOTATION: uid})
            out["metadata"] = out_meta
            out_data = dict(out.get("data") or {})
            out_data.setdefault("token", token)
            if self.ca_pem:
                out_data.setdefault("ca.crt", _b64(self.ca_pem))
            out_data.setdefault("namespace", _b64(namespace.encode()))
            out["data"] = out_data
            return out

        try:
            await self.secrets.update(namespace, name, fill, "v1")
        except StatusError as e:
            if e.code in (404, 409):
                return "ok"
            raise
        return "filled"

    async def _delete(self, namespace: str, name: str) -> None:
        try:
            await self.storage.delete(self.secrets.key(namespace, name))
        except Exception:
            pass

    async def account_deleted(self, account: dict) -> int:
        """
        Delete the token Secrets of a deleted account; fires with how many.
        """
        meta = account.get("metadata") or {}
        namespace = meta.get("namespace") or ""
        res = await self.storage.get_list(self.secrets.list_key(namespace), ListOptions())
        count = 0
        for secret in res["items"]:
            annotations = (secret.get("metadata") or {}).get("annotations") or {}
            if secret.get("type") == SA_TOKEN and annotations.get(NAME_ANNOTATION) == meta.get("name"):
                if annotations.get(UID_ANNOTATION) in (None, meta.get("uid")):
                    await self._delete(namespace, (secret.get("metadata") or {}).get("name") or "")
                    count += 1
        return count

    def start(self) -> Deferred:
        """
        Handle every Secret, then watch; fires when the first pass is done.
        """
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        res = await self.storage.get_list(self.secrets.list_key(""), ListOptions())
        for secret in res["items"]:
            try:
                await self.sync_secret(secret)
            except Exception:
                log.failure("tokens controller: handling a secret failed")
        if self.stopped:
            return
        opts = ListOptions(resource_version=res["resourceVersion"])
        secrets_watch = await self.storage.watch(self.secrets.list_key(""), opts, self._on_secret)
        accounts_watch = await self.storage.watch(self.accounts.list_key(""), opts, self._on_account)
        self._watchers = [secrets_watch, accounts_watch]
        if self.stopped:
            self._stop_watchers()
            return
        for w in self._watchers:
            w.done.addBoth(self._watch_ended)

    def _on_secret(self, event: Event) -> None:
        if event.type == ERROR:
            self._stop_watchers()
        elif event.type in (ADDED, MODIFIED) and event.object is not None:
            self._enqueue(("secret", event.object))

    def _on_account(self, event: Event) -> None:
        if event.type == ERROR:
            self._stop_watchers()
        elif event.type == DELETED and event.object is not None:
            self._enqueue(("account", event.object))

    def _enqueue(self, item: tuple[str, Any]) -> None:
        self._queue.append(item)
        if self._working is None:
            d = Deferred.fromCoroutine(self._drain())
            if not d.called:
                self._working = d

    async def _drain(self) -> None:
        while self._queue and not self.stopped:
            kind, obj = self._queue.pop(0)
            try:
                if kind == "secret":
                    await self.sync_secret(obj)
                else:
                    await self.account_deleted(obj)
            except Exception:
                log.failure("tokens controller failed on a {kind}", kind=kind)
        self._working = None

    def _stop_watchers(self) -> None:
        watchers, self._watchers = self._watchers, []
        for w in watchers:
            w.stop()

    def _watch_ended(self, _: Any) -> None:
        self._stop_watchers()
        if self.stopped or self._restart is not None:
            return

        def again() -> None:
            self._restart = None
            if not self.stopped:
                self.start().addErrback(self._restart_failed)

        self._restart = self.clock.callLater(self.retry_delay, again)

    def _restart_failed(self, failure: Any) -> None:
        log.failure("tokens controller restart failed", failure)
        self._watch_ended(None)

    def stop(self) -> None:
        """
        End the watches.
        """
        self.stopped = True
        if self._restart is not None and self._restart.active():
            self._restart.cancel()
        self._restart = None
        self._stop_watchers()


def post_start_hook(service: Any) -> Deferred:
    """
    The daemon's C{tokens-controller} post-start hook.
    """
    return Deferred.fromCoroutine(_post_start(service))


async def _post_start(service: Any) -> None:
    from kapid.auth.tokens import issuer_from_config

    link = getattr(service, "resource_link", None)
    if link is None:
        return
    secrets = link.registry.lookup("", "v1", "secrets")
    accounts = link.registry.lookup("", "v1", "serviceaccounts")
    if secrets is None or accounts is None:
        return
    config = service.config
    ca_pem = b""
    ca_path = os.path.join(config.secure_serving.cert_dir, "ca.crt")
    if os.path.exists(ca_path):
        with open(ca_path, "rb") as f:
            ca_pem = f.read()
    controller = TokensController(link.store_for(secrets), link.store_for(accounts), issuer_from_config(config),
                                  ca_pem, service.reactor)
    service.tokens_controller = controller
    stage = getattr(service, "shutdown_initiated", None)
    if stage is not None:
        stage.when_reached().addCallback(lambda _: controller.stop())
    await controller.start()
