"""
Admission for one REST request: L{RequestAdmission} builds the L{Attributes} as kube's handlers
do and hands the Store the callbacks it calls at its admit points.

Where each phase runs (kube's C{pkg/endpoints/handlers}):
  - create: mutating admission on the decoded, defaulted object (namespace set) before the
    Store's C{BeforeCreate}; validating admission after the strategy's validation;
  - update, patch, apply: mutating admission inside the read-modify-write, on the updated object
    (a C{CREATE} when there is no current object), before C{BeforeUpdate}; validating after the
    strategy's validation;
  - delete, deletecollection: both phases with the current object as C{oldObject}, before the
    deletion;
  - subresources with their own kind (C{scale}, C{binding}, C{eviction}, C{token}) and
    C{CONNECT} requests: both phases on the subresource's object.
C{Warning}s go to the response as they arrive (kept on failures too, as kube's recorder does);
audit annotations go to the request's audit event.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from kapid.storage.codec import deep_copy
from kapid.admission.interfaces import CONNECT, CREATE, DELETE, UPDATE, Attributes


class Rollback:
    """
    What validating plugins took for a write, as the store's transaction: C{commit} keeps it,
    C{revert} runs each plugin's undo (errors logged, never raised).
    """

    def __init__(self, undo: list[Any]) -> None:
        self.undo = list(undo)

    def commit(self) -> None:
        """
        The write happened: keep everything.
        """
        self.undo = []

    async def revert(self) -> None:
        """
        The write did not happen: give everything back.
        """
        from twisted.logger import Logger

        from kapid.registry.store import _maybe_await

        undo, self.undo = self.undo, []
        for fn in reversed(undo):
            try:
                await _maybe_await(fn())
            except Exception:
                Logger().failure("undoing an admission plugin's charge failed")


def request_kind(target: Any) -> tuple[str, str, str]:
    """
    The C{(group, version, kind)} of a request (a subresource's own kind when it has one).
    """
    res = target.resource
    if target.subresource:
        sub = res.subresource(target.subresource)
        if sub is not None and sub.kind and sub.kind != res.kind:
            return sub.group, sub.version or "v1", sub.kind
    return res.group, target.version, res.kind


def _options(kind: str, values: Optional[dict], group_version: str = "meta.k8s.io/v1") -> dict:
    out: dict[str, Any] = {"kind": kind, "apiVersion": group_version}
    if values:
        out.update({k: v for k, v in values.items() if k not in ("kind", "apiVersion")})
    return out


def create_options(query: Any, dry_run: bool) -> dict:
    """
    The C{CreateOptions} of a request (as a webhook sees them).
    """
    vals: dict[str, Any] = {}
    if dry_run:
        vals["dryRun"] = ["All"]
    manager = query.get("fieldManager") if query is not None else ""
    if manager:
        vals["fieldManager"] = manager
    fv = query.get("fieldValidation") if query is not None else ""
    if fv:
        vals["fieldValidation"] = fv
    return _options("CreateOptions", vals)


def update_options(query: Any, dry_run: bool) -> dict:
    """
    The C{UpdateOptions} of a request.
    """
    out = create_options(query, dry_run)
    out["kind"] = "UpdateOptions"
    return out


def delete_options(options: dict) -> dict:
    """
    The C{DeleteOptions} of a request.
    """
    return _options("DeleteOptions", options)


class RequestAdmission:
    """
    The admission of one request.

    @param chain: the server's L{kapid.admission.chain.AdmissionChain}.
    @param target: the request's L{kapid.endpoints.request.Target}.
    @param user: the requester.
    @param dry_run: whether the request is a dry run.
    @param options: the request's options object (C{CreateOptions}, ...).
    @param on_warning: called with each warning text.
    @param on_annotations: called with the audit annotations once a phase ran.
    """

    def __init__(
        self,
        chain: Any,
        target: Any,
        user: Any = None,
        dry_run: bool = False,
        options: Optional[dict] = None,
        on_warning: Optional[Callable[[str], None]] = None,
        on_annotations: Optional[Callable[[dict], None]] = None,
    ) -> None:
        self.chain = chain
        self.target = target
        self.user = user
        self.dry_run = dry_run
        self.options = options
        self.on_warning = on_warning
        self.on_annotations = on_annotations
        self.kind = request_kind(target)
        self.resource_tuple = (target.resource.group, target.version, target.resource.plural)
        #: every L{Attributes} built for this request (a retried update builds more than one)
        self.seen: list[Attributes] = []
        #: lookups plugins made for this request, shared by its phases
        self.memo: dict = {}

    def attributes(
        self,
        operation: str,
        obj: Optional[dict],
        old: Optional[dict],
        name: Optional[str] = None,
        options: Optional[dict] = None,
    ) -> Attributes:
        """
        The L{Attributes} of one admission call.
        """
        if name is None:
            name = self.target.name
            if not name and isinstance(obj, dict):
                name = (obj.get("metadata") or {}).get("name") or ""
        if options is None:
            options = self.options
            if operation == CREATE and options and options.get("kind") == "UpdateOptions":
                # an update or apply that creates is admitted with CreateOptions (kube's updateToCreateOptions)
                options = dict(options, kind="CreateOptions")
        namespace = self.target.namespace
        if self.resource_tuple[0] == "" and self.resource_tuple[2] == "namespaces" and self.target.name:
            # kube's request info names a request on /namespaces/<name> after the namespace (a
            # create, on /namespaces, has none)
            namespace = self.target.name
        a = Attributes(
            kind=self.kind,
            resource=self.resource_tuple,
            operation=operation,
            namespace=namespace,
            name=name,
            subresource=self.target.subresource,
            object=obj,
            old_object=old,
            options=options,
            dry_run=self.dry_run,
            user=self.user,
            on_warning=self.on_warning,
            memo=self.memo,
        )
        self.seen.append(a)
        return a

    def _annotate(self, a: Attributes) -> None:
        if a.annotations and self.on_annotations is not None:
            self.on_annotations(dict(a.annotations))

    async def mutate(self, obj: Optional[dict], old: Optional[dict], operation: str, name: Optional[str] = None) -> Any:
        """
        The mutating phase; returns the (possibly changed or replaced) object.
        """
        a = self.attributes(operation, obj, old, name)
        try:
            await self.chain.admit(a)
        finally:
            self._annotate(a)
        return a.object

    async def check(self, obj: Optional[dict], old: Optional[dict], operation: str, name: Optional[str] = None) -> Any:
        """
        The validating phase (on a copy: validating plugins never change what is stored). Fires
        with a L{Rollback} when a plugin took something the write must settle (else None); on a
        refusal what was taken is given back at once.
        """
        a = self.attributes(operation, deep_copy(obj), deep_copy(old), name)
        try:
            await self.chain.validate(a)
        except BaseException:
            await Rollback(a.rollbacks).revert()
            raise
        finally:
            self._annotate(a)
        return Rollback(a.rollbacks) if a.rollbacks else None

    async def both(self, obj: Optional[dict], old: Optional[dict], operation: str, name: Optional[str] = None) -> Any:
        """
        Both phases on an object that has no strategy validation between them (delete, connect,
        subresource actions); returns the mutated object.
        """
        obj = await self.mutate(obj, old, operation, name)
        await self.check(obj, old, operation, name)
        return obj

    # -- the Store's callbacks --------------------------------------------------------------------

    async def validate_create(self, obj: dict) -> Any:
        """
        C{RegistryStore.create}'s C{admit}: validating admission of the prepared object; fires
        with the transaction the store settles (see L{check}).
        """
        return await self.check(obj, None, CREATE, (obj.get("metadata") or {}).get("name") or "")

    async def validate_update(self, new: dict, old: Optional[dict]) -> Any:
        """
        C{RegistryStore.update}'s C{admit}: validating admission (a C{CREATE} without C{old}).
        """
        if old is None:
            return await self.check(new, None, CREATE)
        return await self.check(new, old, UPDATE)

    def mutating_updater(self, updater: Callable[[Optional[dict]], Any]) -> Callable[[Optional[dict]], Any]:
        """
        C{updater} followed by mutating admission of what it returns (kube's admission
        transformer of C{DefaultUpdatedObjectInfo}).
        """
        from kapid.registry.store import _maybe_await

        async def run(current: Optional[dict]) -> Any:
            new = await _maybe_await(updater(current))
            op = CREATE if current is None else UPDATE
            return await self.mutate(new, current, op)

        return run

    async def delete(self, old: dict) -> None:
        """
        C{RegistryStore.delete}'s C{admit}: both phases with the current object as C{oldObject}.
        """
        name = self.target.name
        await self.both(None, old, DELETE, name)

    async def connect(self, obj: dict) -> None:
        """
        Both phases of a C{CONNECT} (exec, attach, port-forward, proxy).
        """
        await self.both(obj, None, CONNECT)


def for_request(link: Any, request: Any, target: Any, dry_run: bool = False, options: Optional[dict] = None) -> Optional[RequestAdmission]:
    """
    The L{RequestAdmission} of a request served by C{link} (None when the link runs no admission).
    """
    chain = getattr(link, "admission", None)
    if chain is None:
        return None
    from kapid.endpoints import request as req
    from kapid.server.context import user

    def warn(text: str) -> None:
        req.add_warning(request, text)

    def annotate(values: dict) -> None:
        try:
            from kapid.server.audit import add_annotations
        except ImportError:  # pragma: no cover - older audit module
            return
        add_annotations(request, values)

    return RequestAdmission(chain, target, user(request), dry_run, options, warn, annotate)


_CONNECT_KINDS = {
    ("pods", "exec"): "PodExecOptions",
    ("pods", "attach"): "PodAttachOptions",
    ("pods", "portforward"): "PodPortForwardOptions",
    ("pods", "proxy"): "PodProxyOptions",
    ("services", "proxy"): "ServiceProxyOptions",
    ("nodes", "proxy"): "NodeProxyOptions",
}


def connect_object(target: Any, query: Any) -> dict:
    """
    The options object a C{CONNECT} is admitted with (kube decodes it from the query).
    """
    kind = _CONNECT_KINDS.get((target.resource.plural, target.subresource), "")
    obj: dict[str, Any] = {"kind": kind, "apiVersion": "v1"}
    if target.subresource in ("exec", "attach"):
        for flag in ("stdin", "stdout", "stderr", "tty"):
            if query.bool(flag):
                obj[flag] = True
        if query.get("container"):
            obj["container"] = query.get("container")
        if target.subresource == "exec":
            obj["command"] = list(query.get_all("command"))
    elif target.subresource == "portforward":
        ports = [int(p) for p in query.get_all("ports") if p.isdigit()]
        if ports:
            obj["ports"] = ports
    elif target.subresource == "proxy" and query.get("path"):
        obj["path"] = query.get("path")
    return obj


async def connect_admission(link: Any, request: Any, target: Any, query: Any) -> None:
    """
    Admission of a C{CONNECT} request (exec, attach, port-forward, proxy) served by C{link}.
    """
    adm = for_request(link, request, target)
    if adm is None:
        return
    kind = _CONNECT_KINDS.get((target.resource.plural, target.subresource))
    if kind:
        adm.kind = ("", "v1", kind)
    await adm.connect(connect_object(target, query))
