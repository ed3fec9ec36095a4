"""
The generic registry Store (kube's C{pkg/registry/generic/registry/store.go}): create, get, list,
update, delete, deletecollection and watch for any resource, over one L{IStorage}, with the
resource's strategy deciding what is special.

Objects come in and go out in the request's version and are stored in the resource's storage version
(converted through L{kapid.registry.conversion} when it is there). Storage errors become kube's
C{Status} errors with the resource's names (kube's C{interpretStorageError}).
"""

from __future__ import annotations

import random
from typing import Any, Callable, Optional

import orjson
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from kapid.storage.codec import deep_copy
from kapid.apimachinery import field as fielderr
from kapid.apimachinery import meta as metautil
from kapid.apimachinery.omitempty import omit_empty
from kapid.apimachinery.status import (
    StatusError,
    qualified,
    already_exists,
    conflict,
    expired,
    forbidden,
    invalid,
    not_found,
    timeout,
)
from kapid.registry.description import Resource
from kapid.storage.interfaces import (
    ConflictError,
    ExpiredError,
    KeyExistsError,
    KeyNotFoundError,
    ListOptions,
    Preconditions,
    StorageError,
    TooLargeResourceVersionError,
    UnavailableError,
)

log = Logger()

try:  # H5's conversion through a hub
    from kapid.registry.conversion import convert as _convert
    from kapid.registry.conversion import hub_version as _hub_version
except ImportError:  # pragma: no cover - until landed
    _convert = None  # type: ignore[assignment]
    _hub_version = None  # type: ignore[assignment]

#: Namespaces that exist from the start and cannot be deleted.
IMMORTAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")

#: How often a generated name is retried on collision (kube's RetryGenerateName).
GENERATE_NAME_ATTEMPTS = 8


def resource_of_status(resource: Resource) -> tuple[str, str]:
    """
    The (plural, group) names Status errors use.
    """
    return resource.plural, resource.group


def interpret_storage_error(err: Exception, resource: Resource, name: str, operation: str = "get") -> Exception:
    """
    kube's C{interpretStorageError}: a storage error as the Status error a client sees.
    """
    plural, group = resource.plural, resource.group
    if isinstance(err, StatusError):
        return err
    if isinstance(err, KeyNotFoundError):
        return not_found(plural, name, group)
    if isinstance(err, KeyExistsError):
        return already_exists(plural, name, group)
    if isinstance(err, ConflictError):
        return conflict(plural, name, err.message, group)
    if isinstance(err, ExpiredError):
        e = expired(err.message)
        token = getattr(err, "continue_token", None)
        if token:
            e.continue_token = token  # type: ignore[attr-defined]
        return e
    if isinstance(err, TooLargeResourceVersionError):
        e = timeout(str(err), 1)
        e.details = {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}
        e.headers["Retry-After"] = "1"
        return e
    if isinstance(err, UnavailableError):
        # kube's Interpret{Get,List,Create,Update,Delete}Error: unreachable storage is
        # NewServerTimeout(resource, operation, 2): 500 ServerTimeout, retry after 2 s
        e = StatusError(
            500, "ServerTimeout",
            f"The {operation} operation against {qualified(plural, group)} could not be completed"
            " at this time, please try again.",
        )
        e.details = {"name": operation, "group": group, "kind": plural, "retryAfterSeconds": 2}
        e.headers["Retry-After"] = "2"
        return e
    if isinstance(err, StorageError):
        return StatusError(500, "", str(err))
    return err


def untyped_item(obj: dict) -> dict:
    """
    A list item as kube encodes typed lists: without C{kind} and C{apiVersion}.
    """
    if "kind" in obj or "apiVersion" in obj:
        return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
    return obj


class RegistryStore:
    """
    Generic CRUD for one resource.

    @param resource: the description.
    @param storage: the L{IStorage} (shared by every resource; keys are absolute).
    @param clock: for timestamps and deletion timers.
    @param etcd_prefix: C{--etcd-prefix}.
    @param namespaces: the namespaces' L{RegistryStore} (for the namespace lifecycle checks), or
        None for cluster-scoped resources and tests without namespaces.
    """

    def __init__(
        self,
        resource: Resource,
        storage: Any,
        clock: IReactorTime,
        etcd_prefix: str = "/registry",
        namespaces: Optional["RegistryStore"] = None,
        rng: Optional[random.Random] = None,
    ) -> None:
        self.resource = resource
        self.storage = storage
        self.clock = clock
        self.etcd_prefix = etcd_prefix
        self.namespaces = namespaces
        self.strategy = resource.strategy
        if self.strategy is None:
            from kapid.registry.strategy import GenericStrategy

            self.strategy = GenericStrategy(resource.group, resource.kind)
        self.rng = rng or random.Random()
        #: a strategy's C{default_on_read(obj)} (a CRD whose schema has defaults: kube defaults
        #: objects read from storage), or None
        self._default_on_read = getattr(self.strategy, "default_on_read", None)
        self._name_fn = metautil.name_validator(getattr(self.strategy, "name_validation", "subdomain"))
        converter = getattr(self.strategy, "converter", None)
        #: the strategy's converter when it must be awaited (a CRD's conversion webhook), else None:
        #: every conversion then goes through L{to_version_async}; built-ins never take that path
        self.async_converter = converter if getattr(converter, "needs_async", False) else None
        #: hooks run after an object is really deleted: f(store, obj)
        self.on_deleted: list[Callable[["RegistryStore", dict], Any]] = []

    # ---------------------------------------------------------------------------------------------
    # keys and versions

    def key(self, namespace: str, name: str) -> str:
        """
        The storage key of one object.
        """
        return self.resource.key(namespace, name, self.etcd_prefix)

    def list_key(self, namespace: str) -> str:
        """
        The storage prefix of a list (all namespaces when C{namespace} is empty).
        """
        prefix = self.resource.key_prefix(self.etcd_prefix)
        if self.resource.namespaced and namespace:
            return f"{prefix}{namespace}/"
        return prefix

    @property
    def storage_version(self) -> str:
        """
        The version objects are stored in.
        """
        return self.resource.storage_version.name

    def to_version(self, obj: dict, version: str) -> dict:
        """
        C{obj} converted to C{version} (kind and apiVersion set).
        """
        if _convert is not None and obj.get("apiVersion") != self.resource.api_version(version):
            obj = _convert(obj, self.resource, version)
        kind = obj.get("kind") or self.resource.kind
        api_version = self.resource.api_version(version)
        if obj.get("kind") != kind or obj.get("apiVersion") != api_version:
            obj = dict(obj)
            obj["kind"] = kind
            obj["apiVersion"] = api_version
        # a new top-level dict (storage and caches keep theirs) with metadata in Go's order
        if self._default_on_read is not None:
            return metautil.order_object(self._default_on_read(obj))
        return metautil.order_object(obj)

    def to_storage(self, obj: dict) -> dict:
        """
        C{obj} in the form it is stored in: the storage version, or, for a kind whose conversion
        hub lives in another group (events.k8s.io Events, stored as core/v1 Events as kube stores
        them), the hub form, so every group sharing the storage writes one form.
        """
        out = self.to_version(obj, self.storage_version)
        hub = _hub_version(self.resource.group, self.resource.kind) if _hub_version is not None else None
        if hub is not None and hub.rpartition("/")[0] != self.resource.group:
            group, _, version = hub.rpartition("/")
            out = metautil.order_object(_convert(out, group, self.resource.kind, version))
        return out

    async def to_version_async(self, obj: dict, version: str, from_version: str = "", stored: bool = True) -> dict:
        """
        L{to_version} through the strategy's asynchronous converter, for stores with an
        C{async_converter} (see L{to_versions_async}).
        """
        return (await self.to_versions_async([obj], version, "", from_version, stored))[0]

    async def to_versions_async(
        self, objs: list, version: str, list_kind: str = "", from_version: str = "", stored: bool = True
    ) -> list:
        """
        L{to_version} of several objects in one conversion (the items of a list of C{list_kind},
        as kube sends a list's items to a conversion webhook in one review). C{stored} objects
        come from storage: a strategy's C{default_on_read} applies to them before conversion, as
        kube defaults while decoding from etcd; C{from_version} is the version of objects that
        name none.
        """
        converter = self.async_converter
        assert converter is not None
        if stored and self._default_on_read is not None:
            objs = [self._default_on_read(o) for o in objs]
        if from_version:
            source = self.resource.api_version(from_version)
            objs = [o if o.get("apiVersion") else dict(o, apiVersion=source) for o in objs]
        kind = self.resource.kind
        objs = [o if o.get("kind") else dict(o, kind=kind) for o in objs]
        api_version = self.resource.api_version(version)
        out = await converter.convert(objs, api_version, list_kind)
        return [
            metautil.order_object(o if o.get("apiVersion") == api_version and o.get("kind") == kind
                                  else dict(o, kind=kind, apiVersion=api_version))
            for o in out
        ]

    async def to_storage_async(self, obj: dict, from_version: str) -> dict:
        """
        L{to_storage} through the asynchronous converter (C{obj} in C{from_version} unless it
        names its version).
        """
        return await self.to_version_async(obj, self.storage_version, from_version, stored=False)

    def _error(self, err: Exception, name: str, operation: str = "get") -> Exception:
        return interpret_storage_error(err, self.resource, name, operation)

    def now(self) -> str:
        """
        The current time as an RFC 3339 timestamp.
        """
        return metautil.timestamp(self.clock.seconds())

    def _invalid(self, name: str, errs: list) -> StatusError:
        return invalid(self.resource.kind, name, errs, self.resource.group)

    # ---------------------------------------------------------------------------------------------
    # reads

    async def get(self, namespace: str, name: str, version: str, resource_version: str = "") -> dict:
        """
        One object in C{version}; 404 when absent.
        """
        try:
            obj = await self.storage.get(self.key(namespace, name), resource_version)
        except Exception as e:
            raise self._error(e, name)
        if self.async_converter is not None:
            return await self.to_version_async(obj, version)
        return self.to_version(obj, version)

    async def list(self, namespace: str, opts: ListOptions, version: str) -> dict:
        """
        A list: C{{"items": [...], "resourceVersion", "continue", "remainingItemCount"}}, items in
        C{version}.
        """
        try:
            res = await self.storage.get_list(self.list_key(namespace), opts)
        except Exception as e:
            raise self._error(e, "", "list")
        if self.async_converter is not None:
            res["items"] = await self.to_versions_async(res["items"], version, self.resource.list_kind)
            return res
        res["items"] = [self.to_version(o, version) for o in res["items"]]
        return res

    async def list_encoded(self, namespace: str, opts: ListOptions, version: str, untyped: bool) -> dict:
        """
        L{list}, but when the storage serves the list from its watch cache
        (C{get_list_encoded}), the items come as C{"encoded"}: each one's JSON bytes in
        C{version} (without C{kind} and C{apiVersion} when C{untyped}, as typed lists carry
        them), kept by the cache while the object is unchanged. Otherwise as L{list}.
        """
        get_encoded = getattr(self.storage, "get_list_encoded", None)
        if get_encoded is None or self.async_converter is not None:
            return await self.list(namespace, opts, version)
        form = ("registry-list-item", self.resource.group, self.resource.kind, version, untyped)

        def encode(obj: dict) -> bytes:
            out = self.to_version(obj, version)
            return orjson.dumps(untyped_item(out) if untyped else out)

        try:
            res = await get_encoded(self.list_key(namespace), opts, form, encode)
        except Exception as e:
            raise self._error(e, "", "list")
        if "encoded" not in res:
            res["items"] = [self.to_version(o, version) for o in res["items"]]
        return res

    async def watch(self, namespace: str, name: str, opts: ListOptions, on_event: Callable) -> Any:
        """
        Start a storage watch (one object when C{name} is given); fires with the watcher.
        """
        if name:
            import attr

            opts = attr.evolve(opts, recursive=False)
            key = self.key(namespace, name)
        else:
            key = self.list_key(namespace)
        try:
            return await self.storage.watch(key, opts, on_event)
        except Exception as e:
            raise self._error(e, name)

    # ---------------------------------------------------------------------------------------------
    # create

    async def check_namespace_for_create(self, namespace: str, name: str) -> None:
        """
        NamespaceLifecycle: 404 for a missing namespace, 403 for a terminating one.
        """
        if self.namespaces is None or not self.resource.namespaced:
            return
        # kube's NamespaceLifecycle reads its informer cache first and GETs live only on a miss
        key = self.namespaces.key("", namespace)
        ns = await self.namespaces.storage.get(key, "0", True)
        if ns is None:
            ns = await self.namespaces.storage.get(key, "", True)
        if ns is None:
            raise not_found("namespaces", namespace)
        meta = ns.get("metadata") or {}
        if meta.get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            err = forbidden(
                self.resource.plural,
                name,
                f"unable to create new content in namespace {namespace} because it is being terminated",
                self.resource.group,
            )
            err.details = dict(err.details or {})
            err.details["causes"] = [
                {
                    "reason": "NamespaceTerminating",
                    "message": f"namespace {namespace} is being terminated",
                    "field": "metadata.namespace",
                }
            ]
            raise err

    def ensure_namespace(self, obj: dict, namespace: str) -> dict:
        """
        kube's C{EnsureObjectNamespaceMatchesRequestNamespace}.
        """
        meta = metautil.meta_of(obj)
        obj_ns = meta.get("namespace") or ""
        expected = namespace if self.resource.namespaced else ""
        if obj_ns == expected:
            return meta
        if not obj_ns:
            meta["namespace"] = expected
        elif not expected:
            meta.pop("namespace", None)
        else:
            raise StatusError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            )
        return meta

    def prepare_create(self, obj: dict, namespace: str, version: str, user: Optional[Any] = None) -> dict:
        """
        kube's C{BeforeCreate}: system fields, strategy preparation, name generation, validation.
        Returns the object ready to store (in C{version}). C{user} (the requester's
        L{kapid.auth.interfaces.UserInfo}, or None) reaches a strategy's optional
        C{prepare_for_create_by(obj, user)}, for kinds that record who created them (kube's
        C{PrepareForCreate} reading the request context, e.g. CertificateSigningRequests).
        """
        omit_empty(obj)  # decoded as kube decodes: an empty omitempty field is no field
        meta = self.ensure_namespace(obj, namespace)
        if _nonzero_resource_version(meta.get("resourceVersion")):
            raise StatusError(500, "", "resourceVersion should not be set on objects to be created")
        meta.pop("resourceVersion", None)
        meta["uid"] = metautil.new_uid()
        meta["creationTimestamp"] = self.now()
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            meta.pop(k, None)
        meta.pop("generation", None)
        self.strategy.prepare_for_create(obj)
        by_user = getattr(self.strategy, "prepare_for_create_by", None)
        if by_user is not None:
            by_user(obj, user)
        if meta.get("generateName") and not meta.get("name"):
            meta["name"] = metautil.generate_name(meta["generateName"], self.rng)
        errs = metautil.validate_object_meta(meta, self.resource.namespaced, self._name_fn)
        errs += self.strategy.validate(obj)
        if errs:
            raise self._invalid(meta.get("name") or meta.get("generateName") or "", errs)
        self.strategy.canonicalize(obj)
        omit_empty(obj)  # and what defaulting and preparation left empty (issue 18)
        obj["metadata"] = metautil.order_meta(meta)
        return metautil.order_object(obj)

    async def create(
        self,
        namespace: str,
        obj: dict,
        version: str,
        dry_run: bool = False,
        admit: Optional[Callable[[dict], Any]] = None,
        user: Optional[Any] = None,
    ) -> dict:
        """
        Create C{obj} (already decoded and defaulted) in C{namespace}; the result in C{version}.
        C{user} is the requester (see L{prepare_create}). C{admit(obj)} is the validating
        admission (kube's C{createValidation}), called with the prepared, validated object; without
        it the namespace checks (L{check_namespace_for_create}) run here instead.
        """
        obj = self.prepare_create(obj, namespace, version, user)
        name = obj["metadata"]["name"]
        admitted = None
        if admit is None:
            # a write with no admission (kapid's own): the namespace checks still hold
            await self.check_namespace_for_create(namespace, name)
        else:
            # what admission took (e.g. quota) comes back as a transaction, settled like the strategy's
            try:
                admitted = await _maybe_await(admit(obj))
            except StorageError as e:  # a plugin's read of storage: the storage's answer
                raise self._error(e, name, "create")
        generated = bool(obj["metadata"].get("generateName")) and name.startswith(
            obj["metadata"]["generateName"][: metautil.MAX_GENERATED_NAME_PREFIX]
        )
        attempts = GENERATE_NAME_ATTEMPTS if generated else 1
        txn = None
        try:
            txn = await self._begin_create(obj, dry_run)
            out = await self._create_attempts(namespace, obj, version, dry_run, attempts)
        except BaseException:
            await _finish(txn, False)
            await _finish(admitted, False)
            raise
        await _finish(txn, not dry_run)
        await _finish(admitted, not dry_run)
        return out

    async def _create_attempts(
        self, namespace: str, obj: dict, version: str, dry_run: bool, attempts: int
    ) -> dict:
        name = obj["metadata"]["name"]
        for attempt in range(attempts):
            if self.async_converter is not None:
                stored = await self.to_storage_async(obj, version)
            else:
                stored = self.to_storage(obj)
            key = self.key(namespace, name)
            if dry_run:
                existing = await self.storage.get(key, "", True)
                if existing is not None:
                    if attempt + 1 < attempts:
                        name = self._regenerate(obj)
                        continue
                    raise already_exists(self.resource.plural, name, self.resource.group)
                return self.to_version(obj, version)
            try:
                out = await self.storage.create(key, stored, self.resource.ttl)
            except KeyExistsError as e:
                if attempt + 1 < attempts:
                    name = self._regenerate(obj)
                    continue
                raise self._error(e, name, "create")
            except Exception as e:
                raise self._error(e, name, "create")
            if self.async_converter is not None:
                return await self.to_version_async(out, version)
            return self.to_version(out, version)
        raise AssertionError("unreachable")

    async def _begin_create(self, obj: dict, dry_run: bool) -> Any:
        hook = getattr(self.strategy, "before_create", None)
        if hook is None:
            return None
        return await _maybe_await(hook(self, obj, dry_run))

    async def _begin_update(self, obj: dict, old: dict, dry_run: bool) -> Any:
        hook = getattr(self.strategy, "before_update", None)
        if hook is None:
            return None
        return await _maybe_await(hook(self, obj, old, dry_run))

    def _regenerate(self, obj: dict) -> str:
        meta = obj["metadata"]
        meta["name"] = metautil.generate_name(meta["generateName"], self.rng)
        return meta["name"]

    # ---------------------------------------------------------------------------------------------
    # update

    async def update(
        self,
        namespace: str,
        name: str,
        updater: Callable[[Optional[dict]], Any],
        version: str,
        subresource: str = "",
        dry_run: bool = False,
        force_allow_create: bool = False,
        admit: Optional[Callable[[dict, Optional[dict]], Any]] = None,
        expect_uid: Optional[str] = None,
        user: Optional[Any] = None,
    ) -> tuple[dict, bool]:
        """
        kube's C{Store.Update}: C{updater(current_in_version or None)} returns the new object (in
        C{version}); fires with C{(object in version, created)}. C{user} is the requester, for a
        create (see L{prepare_create}) and for a strategy's optional
        C{prepare_for_update_by(new, old, user)} (which may refuse, e.g. RBAC escalation checks).
        """
        key = self.key(namespace, name)
        created = [False]
        allow_create = force_allow_create or (
            self.strategy.allow_create_on_update and not subresource
        )

        txns: list[Any] = []

        async def try_update(current: Optional[dict]) -> dict:
            created[0] = False
            while txns:  # a retry: give back what the previous attempt took
                await _finish(txns.pop(), False)
            if current is None:
                if not allow_create:
                    raise not_found(self.resource.plural, name, self.resource.group)
                new = await _maybe_await(updater(None))
                new = deep_copy(new)
                meta = metautil.meta_of(new)
                if (meta.get("name") or "") != name:
                    raise _name_mismatch(meta.get("name") or "", name)
                new = self.prepare_create(new, namespace, version, user)
                if admit is None:
                    await self.check_namespace_for_create(namespace, name)
                else:
                    txns.append(await _maybe_await(admit(new, None)))
                created[0] = True
                txns.append(await self._begin_create(new, dry_run))
                if self.async_converter is not None:
                    return await self.to_storage_async(new, version)
                return self.to_storage(new)
            if self.async_converter is not None:
                old = await self.to_version_async(current, version)
            else:
                old = self.to_version(current, version)
            new = await _maybe_await(updater(deep_copy(old)))
            new = deep_copy(new)

            async def admitted(n: dict, o: Optional[dict]) -> None:
                # what admission took comes back as a transaction, settled with the update's
                assert admit is not None
                txns.append(await _maybe_await(admit(n, o)))

            new = await self.prepare_update(
                new, old, namespace, name, version, subresource, admitted if admit is not None else None
            )
            by_user = getattr(self.strategy, "prepare_for_update_by", None)
            if by_user is not None and not subresource:
                by_user(new, old, user)
            if not subresource:
                txns.append(await self._begin_update(new, old, dry_run))
            if self.async_converter is not None:
                return await self.to_storage_async(new, version)
            return self.to_storage(new)

        try:
            out = await self._run_update(key, try_update, allow_create, dry_run, expect_uid)
        except BaseException as e:
            while txns:
                await _finish(txns.pop(), False)
            raise self._error(e, name, "update") if isinstance(e, Exception) else e
        while txns:
            await _finish(txns.pop(), not dry_run)
        return await self._after_update(key, name, out, version, created[0], dry_run)

    async def _run_update(
        self, key: str, try_update: Callable, allow_create: bool, dry_run: bool, expect_uid: Optional[str]
    ) -> dict:
        """
        The read-modify-write (or, for a dry run, the read and the modification only).
        """
        if dry_run:
            current = await self.storage.get(key, "", True)
            if current is not None and expect_uid:
                from kapid.storage.store import check_preconditions

                check_preconditions(key, Preconditions(uid=expect_uid), current)
            out = await try_update(current)
            if current is not None:
                out["metadata"]["resourceVersion"] = (current.get("metadata") or {}).get("resourceVersion")
            return out
        # kube's DefaultUpdatedObjectInfo: a uid in the new object is a precondition
        pre = Preconditions(uid=expect_uid) if expect_uid else None
        return await self.storage.guaranteed_update(key, try_update, pre, allow_create)

    async def _after_update(
        self, key: str, name: str, out: dict, version: str, created: bool, dry_run: bool
    ) -> tuple[dict, bool]:
        """
        Delete an object whose last finalizer went while it was being deleted.
        """
        if dry_run:
            return (
                self.to_version(out, version) if self.async_converter is None
                else await self.to_version_async(out, version)
            ), created
        out_meta = out.get("metadata") or {}
        if (
            out_meta.get("deletionTimestamp")
            and not out_meta.get("finalizers")
            and not out_meta.get("deletionGracePeriodSeconds")
        ):
            # the last finalizer went: the object goes now (kube's deleteWithoutFinalizers)
            try:
                deleted = await self.storage.delete(key, Preconditions(uid=out_meta.get("uid")))
            except KeyNotFoundError:
                return (
                    self.to_version(out, version) if self.async_converter is None
                    else await self.to_version_async(out, version)
                ), False
            except Exception as e:
                raise self._error(e, name, "update")
            await self._deleted(deleted)
            return (
                self.to_version(deleted, version) if self.async_converter is None
                else await self.to_version_async(deleted, version)
            ), False
        return (
            self.to_version(out, version) if self.async_converter is None
            else await self.to_version_async(out, version)
        ), created

    async def prepare_update(
        self,
        new: dict,
        old: dict,
        namespace: str,
        name: str,
        version: str,
        subresource: str,
        admit: Optional[Callable] = None,
    ) -> dict:
        """
        kube's C{BeforeUpdate} and the Store's resourceVersion checks: fires with the object to store.
        """
        omit_empty(new)  # decoded as kube decodes: an empty omitempty field is no field
        meta = metautil.meta_of(new)
        if (meta.get("name") or "") != name:
            raise _name_mismatch(meta.get("name") or "", name)
        self.ensure_namespace(new, namespace)
        old_meta = old.get("metadata") or {}
        rv = meta.get("resourceVersion") or ""
        if not rv:
            if not self.strategy.allow_unconditional_update:
                raise invalid(
                    self.resource.plural,
                    name,
                    [fielderr.invalid("metadata.resourceVersion", "", "must be specified for an update")],
                    self.resource.group,
                )
            meta["resourceVersion"] = old_meta.get("resourceVersion")
        elif rv != old_meta.get("resourceVersion"):
            raise conflict(self.resource.plural, name, group=self.resource.group)
        if not meta.get("uid"):
            meta["uid"] = old_meta.get("uid")
        if subresource == "status":
            self.strategy.prepare_for_status_update(new, old)
            meta = new["metadata"]
        elif subresource and hasattr(self.strategy, f"prepare_for_{subresource}"):
            getattr(self.strategy, f"prepare_for_{subresource}")(new, old)
            meta = new["metadata"]
        else:
            self.strategy.prepare_for_update(new, old)
        if old_meta.get("creationTimestamp"):
            meta["creationTimestamp"] = old_meta["creationTimestamp"]
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            if old_meta.get(k) is not None:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        meta.pop("selfLink", None)
        errs = metautil.validate_object_meta(meta, self.resource.namespaced, self._name_fn)
        errs += metautil.validate_object_meta_update(meta, old_meta)
        if not subresource:
            errs += self.strategy.validate_update(new, old)
        elif subresource == "status" and hasattr(self.strategy, "validate_status_update"):
            errs += self.strategy.validate_status_update(new, old)
        if errs:
            raise self._invalid(name, errs)
        self.strategy.canonicalize(new)
        omit_empty(new)  # and what preparation left empty, so only real changes are written
        new["metadata"] = metautil.order_meta(meta)
        new = metautil.order_object(new)
        if admit is not None:
            # kube's updateValidation: validating admission sees the validated object
            await _maybe_await(admit(new, old))
        return new

    # ---------------------------------------------------------------------------------------------
    # delete

    async def delete(
        self,
        namespace: str,
        name: str,
        options: dict,
        version: str,
        admit: Optional[Callable[[dict], Any]] = None,
    ) -> tuple[dict, bool]:
        """
        kube's C{Store.Delete}: fires with C{(object in version, deleted now)}. Objects with
        finalizers (or a propagation policy that adds one) get a deletionTimestamp and stay; graceful
        deletion sets a deletionTimestamp in the future; otherwise the object goes.
        """
        key = self.key(namespace, name)
        dry_run = bool(options.get("dryRun"))
        try:
            current = await self.storage.get(key)
        except Exception as e:
            raise self._error(e, name, "delete")
        pre = options.get("preconditions") or {}
        preconditions = None
        if pre.get("uid") is not None or pre.get("resourceVersion") is not None:
            preconditions = Preconditions(uid=pre.get("uid"), resource_version=pre.get("resourceVersion"))
            from kapid.storage.store import check_preconditions

            try:
                check_preconditions(key, preconditions, current)
            except Exception as e:
                raise self._error(e, name, "delete")
        if admit is not None:
            try:
                await _maybe_await(admit((
                    self.to_version(current, version) if self.async_converter is None
                    else await self.to_version_async(current, version)
                )))
            except StorageError as e:  # a plugin's read of storage: the storage's answer
                raise self._error(e, name, "delete")
        special = getattr(self.strategy, "delete", None)
        if special is not None:
            result = await _maybe_await(special(self, current, options, version, dry_run))
            if result is not None:
                return result
        grace = self.strategy.check_graceful_delete(current, options)
        meta = current.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or [])
        new_finalizers = _finalizers_for_policy(finalizers, options)
        pending_graceful = grace is not None and grace > 0
        if meta.get("deletionTimestamp") and not pending_graceful:
            # deletion already under way: only finalizer changes from the policy apply
            if finalizers or new_finalizers != finalizers:
                if new_finalizers != finalizers and not dry_run:
                    out, _ = await self._mark_deleting(key, name, new_finalizers, None, preconditions)
                    return (
                        self.to_version(out, version) if self.async_converter is None
                        else await self.to_version_async(out, version)
                    ), False
                return (
                    self.to_version(current, version) if self.async_converter is None
                    else await self.to_version_async(current, version)
                ), False
        if new_finalizers or pending_graceful:
            if dry_run:
                out = deep_copy(current)
                out["metadata"]["deletionTimestamp"] = meta.get("deletionTimestamp") or self.now()
                out["metadata"]["deletionGracePeriodSeconds"] = grace or 0
                if new_finalizers:
                    out["metadata"]["finalizers"] = new_finalizers
                return (
                    self.to_version(out, version) if self.async_converter is None
                    else await self.to_version_async(out, version)
                ), False
            out, deleted = await self._mark_deleting(key, name, new_finalizers, grace, preconditions)
            return (
                self.to_version(out, version) if self.async_converter is None
                else await self.to_version_async(out, version)
            ), deleted
        if dry_run:
            return (
                self.to_version(current, version) if self.async_converter is None
                else await self.to_version_async(current, version)
            ), True
        try:
            deleted = await self.storage.delete(
                key, preconditions or Preconditions(uid=meta.get("uid")), None, None
            )
        except Exception as e:
            raise self._error(e, name, "delete")
        await self._deleted(deleted)
        return (
            self.to_version(deleted, version) if self.async_converter is None
            else await self.to_version_async(deleted, version)
        ), True

    async def _mark_deleting(
        self,
        key: str,
        name: str,
        finalizers: list[str],
        grace: Optional[int],
        preconditions: Optional[Preconditions],
    ) -> tuple[dict, bool]:
        now = self.clock.seconds()

        def mark(current: Optional[dict]) -> dict:
            assert current is not None
            meta = current["metadata"]
            if grace is not None and grace > 0:
                deadline = now + grace
                existing = metautil.parse_timestamp(meta.get("deletionTimestamp") or "")
                if existing is None or deadline < existing:
                    meta["deletionTimestamp"] = metautil.timestamp(deadline)
                    meta["deletionGracePeriodSeconds"] = grace
            elif not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = metautil.timestamp(now)
                meta["deletionGracePeriodSeconds"] = 0
            if finalizers:
                meta["finalizers"] = finalizers
            else:
                meta.pop("finalizers", None)
            current["metadata"] = metautil.order_meta(meta)
            return current

        try:
            out = await self.storage.guaranteed_update(key, mark, preconditions)
        except Exception as e:
            raise self._error(e, name, "delete")
        if grace is not None and grace > 0 and not finalizers:
            self.clock.callLater(grace, self._graceful_expired, key, name, out["metadata"].get("uid"))
        return out, False

    def _graceful_expired(self, key: str, name: str, uid: Optional[str]) -> None:
        """
        The grace period ended with no kubelet to confirm: the object goes (kube's
        kubelet would delete it with grace 0).
        """

        async def go() -> None:
            try:
                current = await self.storage.get(key, "", True)
                if current is None or (current.get("metadata") or {}).get("finalizers"):
                    return
                deleted = await self.storage.delete(key, Preconditions(uid=uid))
                await self._deleted(deleted)
            except Exception:
                log.failure("graceful deletion of {name} failed", name=name)

        Deferred.fromCoroutine(go())

    async def _deleted(self, obj: dict) -> None:
        after = getattr(self.strategy, "after_delete", None)
        if after is not None:
            try:
                await _maybe_await(after(self, obj))
            except Exception:
                log.failure("after-delete hook failed")
        for hook in self.on_deleted:
            await _maybe_await(hook(self, obj))

    async def delete_collection(
        self,
        namespace: str,
        list_opts: ListOptions,
        options: dict,
        version: str,
        admit: Optional[Callable[[dict], Any]] = None,
    ) -> dict:
        """
        kube's C{DeleteCollection}: delete every listed object; fires with the list of what was
        deleted (or marked deleting).
        """
        res = await self.list(namespace, list_opts, self.storage_version)
        items = []
        for obj in res["items"]:
            meta = obj.get("metadata") or {}
            try:
                out, _ = await self.delete(meta.get("namespace") or "", meta["name"], options, version, admit)
            except StatusError as e:
                if e.code == 404:
                    continue
                raise
            items.append(out)
        return {"items": items, "resourceVersion": res["resourceVersion"]}


def _finalizers_for_policy(finalizers: list[str], options: dict) -> list[str]:
    """
    kube's C{deletionFinalizersForGarbageCollection}: add C{orphan}/C{foregroundDeletion} for the
    propagation policy (or C{orphanDependents}), drop them for C{Background}.
    """
    policy = options.get("propagationPolicy")
    orphan = options.get("orphanDependents")
    out = list(finalizers)
    if policy is None and orphan is None:
        return out
    want_orphan = policy == "Orphan" or (policy is None and orphan is True)
    want_fg = policy == "Foreground"
    if want_orphan:
        out = [f for f in out if f != "foregroundDeletion"]
        if "orphan" not in out:
            out.append("orphan")
    elif want_fg:
        out = [f for f in out if f != "orphan"]
        if "foregroundDeletion" not in out:
            out.append("foregroundDeletion")
    else:
        out = [f for f in out if f not in ("orphan", "foregroundDeletion")]
    return out


def _nonzero_resource_version(rv: Any) -> bool:
    """
    Whether a resourceVersion parses (as kube's versioner does: an unsigned integer) to non-zero;
    unparseable values are ignored on create, as kube ignores them.
    """
    if not rv:
        return False
    try:
        return int(str(rv)) > 0
    except ValueError:
        return False


def _name_mismatch(in_body: str, in_url: str) -> StatusError:
    return StatusError(
        400,
        "BadRequest",
        f"the name of the object ({in_body}) does not match the name on the URL ({in_url})",
    )


async def _finish(txn: Any, ok: bool) -> None:
    """
    Commit (C{ok}) or revert a strategy's write transaction (an object with C{commit}/C{revert}, or
    a plain callable, or None).
    """
    if txn is None:
        return
    fn = getattr(txn, "commit" if ok else "revert", None) or txn
    await _maybe_await(fn())


async def _maybe_await(value: Any) -> Any:
    import inspect

    if inspect.iscoroutine(value):
        value = Deferred.fromCoroutine(value)
    if isinstance(value, Deferred):
        value = await value
    return value
