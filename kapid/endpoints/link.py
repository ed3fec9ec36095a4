"""
L{ResourceLink}: the chain link that serves every resource path (C{/api/v1/...},
C{/apis/<group>/<version>/...}: namespaced, all-namespaces and cluster-scoped, with subresources)
for the resources in a L{ResourceRegistry}, over one L{IStorage}; paths of resources it does not
know are declined to the next link.

One handler per verb (get, list, watch, create, update, patch, delete, deletecollection) does what
kube's C{pkg/endpoints/handlers} do: decode, default, validate, call the generic registry Store,
and answer in the negotiated form (JSON, YAML, Table, PartialObjectMetadata).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from klein import Klein
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource

from kapid.storage.codec import deep_copy
from kapid.apimachinery import serialization as ser
from kapid.apimachinery import table as tables
from kapid.apimachinery.omitempty import omit_empty
from kapid.apimachinery.query import Query, delete_options
from kapid.apimachinery.selectors import (
    field_matcher,
    parse_field_selector,
    parse_label_selector,
)
from kapid.apimachinery.status import (
    StatusError,
    bad_request,
    success_status,
)
from kapid.admission.request import connect_admission, create_options
from kapid.admission.request import delete_options as admission_delete_options
from kapid.admission.request import for_request as admission_for
from kapid.admission.request import update_options
from kapid.endpoints import request as req
from kapid.endpoints.request import Target
from kapid.registry.description import Resource, ResourceRegistry
from kapid.registry.store import IMMORTAL_NAMESPACES, RegistryStore
from kapid.server.context import user
from kapid.server.link import Decline, Link, path_info
from kapid.storage.interfaces import ListOptions, SelectionPredicate

log = Logger()

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
_METHOD_BYTES = frozenset(m.encode("ascii") for m in _METHODS)

_NAMESPACE_SUBRESOURCES = ("status", "finalize")

#: Pod subresources a kubelet serves.
_KUBELET_SUBRESOURCES = ("log", "exec", "attach", "portforward")


def method_not_allowed() -> StatusError:
    """
    kube's 405 for a method a path does not serve.
    """
    return StatusError(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        {},
    )


class ResourceLink(Link):
    """
    Serves the resources of C{registry} over C{storage}; declines other paths to C{delegate}.

    @param delegate: the next link's resource.
    @param registry: the live L{ResourceRegistry}.
    @param storage: the L{IStorage} every resource is stored in (keys are absolute).
    @param clock: timestamps, watch timeouts, bookmarks, grace periods.
    @param etcd_prefix: C{--etcd-prefix}.
    @param min_request_timeout: watches without C{timeoutSeconds} last between this and twice this.
    @param namespaces: the namespaces' L{RegistryStore} for namespace checks when C{registry} does
        not describe namespaces itself (a link for custom resources).
    @param serves: C{serves(resource)}: whether this link serves a resource of C{registry} (None:
        all of them); paths of the others go to C{delegate}.
    @param admission: the admission chain (default: NamespaceLifecycle only).
    """

    app = Klein()

    def __init__(
        self,
        delegate: IResource,
        registry: ResourceRegistry,
        storage: Any,
        clock: IReactorTime,
        etcd_prefix: str = "/registry",
        min_request_timeout: float = 1800.0,
        bookmark_interval: float = 60.0,
        namespaces: Optional[RegistryStore] = None,
        serves: Optional[Callable[[Resource], bool]] = None,
        admission: Any = None,
    ) -> None:
        super().__init__(delegate)
        #: the admission chain (a L{kapid.admission.chain.AdmissionChain}) every write goes through;
        #: without one, kapid's long-standing namespace checks (NamespaceLifecycle) alone
        if admission is None:
            from kapid.admission.plugins.namespace import default_chain

            admission = default_chain(self)
        self.admission = admission
        #: which resources of the (shared) registry this link serves; the others are declined to
        #: the next link (the built-in link leaves CRDs and custom resources to apiextensions)
        self.serves = serves
        #: the namespaces' store when this link's registry has none (a link serving custom
        #: resources checks namespaces through the built-in link's store)
        self.namespaces = namespaces
        self.registry = registry
        self.storage = storage
        self.clock = clock
        self.etcd_prefix = etcd_prefix
        self.min_request_timeout = min_request_timeout
        self.bookmark_interval = bookmark_interval
        self._stores: dict[tuple[str, str], RegistryStore] = {}
        self._convertors: dict[int, tables.TableConvertor] = {}
        from kapid.endpoints.watch import WatchSet

        self.watches = WatchSet()

    # ---------------------------------------------------------------------------------------------
    # served set

    def post_start_hooks(self) -> list[Any]:
        """
        C{("kapid-system-namespaces", hook)}: create default, kube-system, kube-public and
        kube-node-lease when absent.
        """
        return [("kapid-system-namespaces", self.ensure_system_namespaces)]

    def close_watches(self) -> Deferred:
        """
        End every running watch stream cleanly (at shutdown).
        """
        return self.watches.close_all()

    def ensure_system_namespaces(self, _service: Any = None) -> Deferred:
        """
        Create the system namespaces that do not exist yet (a post-start hook: the service is
        passed and ignored).
        """
        return Deferred.fromCoroutine(self._ensure_system_namespaces())

    async def _ensure_system_namespaces(self) -> None:
        res = self.registry.lookup("", "v1", "namespaces")
        if res is None:
            return
        store = self.store_for(res)
        for name in IMMORTAL_NAMESPACES:
            existing = await self.storage.get(store.key("", name), "", True)
            if existing is not None:
                continue
            obj = {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name}}
            store.strategy.default("v1", obj) if hasattr(store.strategy, "default") else None
            try:
                await store.create("", obj, "v1")
            except StatusError as e:
                if e.code != 409:
                    raise
        await self._resume_deletions(store)

    async def _resume_deletions(self, namespaces: RegistryStore) -> None:
        """
        Deletions under way when the server last stopped go on: pods in their grace period go
        when it ends (terminating namespaces are the namespace controller's).
        """
        from kapid.apimachinery import meta as metautil
        from kapid.storage.interfaces import ListOptions

        pods = self.registry.lookup("", "v1", "pods")
        if pods is None:
            return
        pstore = self.store_for(pods)
        res = await self.storage.get_list(pstore.list_key(""), ListOptions())
        now = self.clock.seconds()
        for pod in res["items"]:
            meta = pod.get("metadata") or {}
            deadline = metautil.parse_timestamp(meta.get("deletionTimestamp") or "")
            if deadline is None or meta.get("finalizers"):
                continue
            key = pstore.key(meta.get("namespace", ""), meta.get("name", ""))
            self.clock.callLater(max(0.0, deadline - now), pstore._graceful_expired, key, meta.get("name", ""), meta.get("uid"))

    # ---------------------------------------------------------------------------------------------
    # stores

    def store_for(self, resource: Resource) -> RegistryStore:
        """
        The registry store of a resource (rebuilt when its description changes).
        """
        key = (resource.group, resource.plural)
        store = self._stores.get(key)
        if store is None or store.resource is not resource:
            namespaces = None
            if resource.namespaced:
                ns_res = self.registry.lookup("", "v1", "namespaces")
                if ns_res is not None:
                    namespaces = self.store_for(ns_res)
                else:
                    namespaces = self.namespaces
            store = RegistryStore(resource, self.storage, self.clock, self.etcd_prefix, namespaces)
            store.link = self  # type: ignore[attr-defined]
            self._stores[key] = store
        return store

    def convertor(self, resource: Resource) -> tables.TableConvertor:
        """
        The table convertor of a resource.
        """
        c = self._convertors.get(id(resource))
        if c is None or c.resource is not resource:  # type: ignore[attr-defined]
            c = tables.TableConvertor(tables.columns_for_resource(resource))
            c.resource = resource  # type: ignore[attr-defined]
            self._convertors[id(resource)] = c
        return c

    # ---------------------------------------------------------------------------------------------
    # routing

    @app.route("/api/v1/<path:rest>", methods=_METHODS, strict_slashes=False)
    def core(self, request: IRequest, rest: str) -> Any:
        return self._serve(request, "", "v1", rest)

    @app.route("/apis/<group>/<version>/<path:rest>", methods=_METHODS, strict_slashes=False)
    def grouped(self, request: IRequest, group: str, version: str, rest: str) -> Any:
        return self._serve(request, group, version, rest)

    def direct_route(self, request: IRequest) -> Optional[tuple[str, dict[str, Any]]]:
        """
        The two routes above matched from the path without werkzeug, for plain paths (no trailing
        or doubled slash, UTF-8) and the routes' methods; anything else goes through Klein.
        """
        if request.method not in _METHOD_BYTES:
            return None
        path = path_info(request)
        if path is None or path.endswith("/"):
            return None
        if path.startswith("/api/v1/"):
            return "core", {"rest": path[8:]}
        if path.startswith("/apis/"):
            parts = path[6:].split("/", 2)
            if len(parts) == 3 and parts[0] and parts[1]:
                return "grouped", {"group": parts[0], "version": parts[1], "rest": parts[2]}
        return None

    def claims(self, request: IRequest) -> bool:
        """
        The routes' pre-check, and, for a link serving a share of the registry, whether the
        resource a plain path names is one it serves (the others go straight to the delegate).
        """
        if not super().claims(request):
            return False
        if self.serves is None:
            return True
        route = self.direct_route(request)
        if route is None:
            return True
        kw = route[1]
        group, version = ("", "v1") if route[0] == "core" else (kw["group"], kw["version"])
        parts = [p for p in kw["rest"].split("/") if p]
        if parts and parts[0] == "watch":
            parts = parts[1:]
        if len(parts) > 2 and parts[0] == "namespaces" and parts[2] not in _NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
        if not parts:
            return True
        resource = self.registry.lookup(group, version, parts[0])
        return resource is not None and self.serves(resource)

    def resolve(self, group: str, version: str, rest: str) -> Target:
        """
        Parse the path after the group version as kube's RequestInfo does; Decline what is not a
        served resource path.
        """
        parts = [p for p in rest.split("/") if p != ""]
        watch_path = False
        if parts and parts[0] == "watch":
            watch_path = True
            parts = parts[1:]
        if not parts:
            raise Decline()
        namespace = ""
        if parts[0] == "namespaces" and len(parts) > 1:
            namespace = parts[1]
            if len(parts) > 2 and parts[2] not in _NAMESPACE_SUBRESOURCES:
                parts = parts[2:]
            else:
                parts = ["namespaces", parts[1]] + parts[2:]
                namespace = ""
        plural = parts[0]
        name = parts[1] if len(parts) > 1 else ""
        sub = parts[2] if len(parts) > 2 else ""
        if len(parts) > 3 and sub != "proxy":
            raise Decline()
        resource = self.registry.lookup(group, version, plural)
        if resource is None or (self.serves is not None and not self.serves(resource)):
            raise Decline()
        if namespace and not resource.namespaced:
            raise Decline()
        if resource.namespaced and name and not namespace:
            raise Decline()
        if sub and resource.subresource(sub) is None:
            raise Decline()
        return Target(resource, version, namespace, name, sub, watch_path)

    def before_serve(self, request: IRequest, target: Target) -> None:
        """
        Called with every resolved request before its handler (a subclass may add headers or
        refuse it); nothing here.
        """

    def _serve(self, request: IRequest, group: str, version: str, rest: str) -> Any:
        target = self.resolve(group, version, rest)
        self.before_serve(request, target)
        method = request.method.decode("ascii", "replace").upper()
        query = _query_of(request)
        if target.subresource in _KUBELET_SUBRESOURCES:
            return self._coro(self.handle_kubelet(request, target, query, method))
        if target.subresource == "proxy":
            return self._coro(self.handle_proxy(request, target, method))
        if target.watch_path:
            if method != "GET":
                raise method_not_allowed()
            return self._coro(self.handle_watch(request, target, query))
        if method in ("GET", "HEAD"):
            if target.name:
                return self._coro(self.handle_get(request, target, query))
            if query.bool("watch"):
                return self._coro(self.handle_watch(request, target, query))
            return self._coro(self.handle_list(request, target, query))
        if method == "POST":
            if target.subresource and target.subresource in ("binding", "eviction"):
                return self._coro(self.handle_action(request, target, query))
            if target.subresource and hasattr(target.resource.strategy, "compute_subresource_create"):
                return self._coro(self.handle_computed(request, target, query))
            if target.name:
                raise method_not_allowed()
            return self._coro(self.handle_create(request, target, query))
        if method == "PUT":
            if not target.name:
                raise method_not_allowed()
            return self._coro(self.handle_update(request, target, query))
        if method == "PATCH":
            if not target.name:
                raise method_not_allowed()
            return self._coro(self.handle_patch(request, target, query))
        if method == "DELETE":
            if target.subresource:
                raise method_not_allowed()
            if target.name:
                return self._coro(self.handle_delete(request, target, query))
            return self._coro(self.handle_delete_collection(request, target, query))
        raise method_not_allowed()

    @staticmethod
    def _coro(c: Any) -> Deferred:
        return Deferred.fromCoroutine(c)

    def _check_verb(self, target: Target, verb: str) -> None:
        if target.subresource:
            sub = target.resource.subresource(target.subresource)
            if sub is not None and verb not in sub.verbs:
                raise method_not_allowed()
            return
        if verb not in target.resource.verbs:
            raise method_not_allowed()

    # ---------------------------------------------------------------------------------------------
    # output

    def _list_meta(self, res: dict) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": res.get("resourceVersion", "")}
        if res.get("continue"):
            meta["continue"] = res["continue"]
        if res.get("remainingItemCount") is not None:
            meta["remainingItemCount"] = res["remainingItemCount"]
        return meta

    def render_object(
        self,
        request: IRequest,
        query: Query,
        target: Target,
        obj: dict,
        code: int = 200,
        allow_as: bool = False,
    ) -> bytes:
        """
        Write one object in the negotiated form.
        """
        output = ser.negotiate(req.header(request, b"accept"), allow_as=allow_as)
        pretty = req.wants_pretty(request, query)
        if output.as_kind == "Table":
            rv = (obj.get("metadata") or {}).get("resourceVersion", "")
            body = self.convertor(target.resource).table(
                [obj], self.clock.seconds(), output.as_version, _include_object(query),
                {"resourceVersion": rv},
            )
            return req.write(request, code, output, body, pretty)
        if output.as_kind == "PartialObjectMetadata":
            return req.write(request, code, output, tables.partial_object_metadata(obj, output.as_version), pretty)
        if output.as_kind:
            raise ser.not_acceptable(ser.ACCEPTED_OUTPUT_TYPES)
        return req.write(request, code, output, obj, pretty)

    # ---------------------------------------------------------------------------------------------
    # get / list

    async def handle_get(self, request: IRequest, target: Target, query: Query) -> bytes:
        """
        GET one object (or its status / scale).
        """
        self._check_verb(target, "get")
        if hasattr(target.resource.strategy, "compute_list"):
            return await self.handle_computed_read(request, target, query)
        store = self.store_for(target.resource)
        if target.subresource == "scale":
            from kapid.endpoints.scale import get_scale, render_scale

            obj = await get_scale(store, target)
            return render_scale(self, request, query, target, obj)
        obj = await store.get(target.namespace, target.name, target.version, query.get("resourceVersion"))
        # kube's status REST converts to the main resource's Table too
        return self.render_object(request, query, target, obj, allow_as=target.subresource in ("", "status"))

    def list_options(self, target: Target, query: Query) -> ListOptions:
        """
        kube's ListOptions from the query string.
        """
        query.check_list_options()
        label = parse_label_selector(query.get("labelSelector"))
        terms = parse_field_selector(query.get("fieldSelector"))
        fields = field_matcher(terms, target.resource.field_selectors)
        predicate = SelectionPredicate(label, fields) if (label or fields) else SelectionPredicate()
        rv = query.get("resourceVersion")
        match = query.get("resourceVersionMatch")
        limit = query.int("limit")
        cont = query.get("continue")
        if match and not query.bool("watch"):
            from kapid.apimachinery import field

            errs = []
            if not rv:
                errs.append(field.forbidden(
                    "resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided"))
            if cont:
                errs.append(field.forbidden(
                    "resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided"))
            if match not in ("Exact", "NotOlderThan"):
                errs.append(field.not_supported("resourceVersionMatch", match, ("Exact", "NotOlderThan", "")))
            if match == "Exact" and rv == "0":
                errs.append(field.forbidden(
                    "resourceVersionMatch", 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
            if errs:
                from kapid.apimachinery.status import invalid

                raise invalid("ListOptions", "", errs, "meta.k8s.io")
        if limit < 0:
            limit = 0
        return ListOptions(
            resource_version=rv,
            resource_version_match=match,
            predicate=predicate,
            limit=limit,
            continue_token=cont,
            allow_watch_bookmarks=query.bool("allowWatchBookmarks"),
        )

    async def handle_list(self, request: IRequest, target: Target, query: Query) -> bytes:
        """
        GET a collection.
        """
        self._check_verb(target, "list")
        output = ser.negotiate(req.header(request, b"accept"))
        if hasattr(target.resource.strategy, "compute_list"):
            res = {"items": await self.computed_items(request, target), "resourceVersion": ""}
        else:
            opts = self.list_options(target, query)
            store = self.store_for(target.resource)
            if not output.as_kind and output.media == ser.JSON and not req.wants_pretty(request, query):
                # compact JSON: items a watch cache serves come as their (kept) encoded bytes
                untyped = not req.is_custom(target.resource)
                res = await store.list_encoded(target.namespace, opts, target.version, untyped)
                if "encoded" in res:
                    head = {
                        "kind": target.resource.list_kind,
                        "apiVersion": target.resource.api_version(target.version),
                        "metadata": self._list_meta(res),
                    }
                    return req.write(request, 200, output, ser.EncodedList(head, res["encoded"]), False)
            else:
                res = await store.list(target.namespace, opts, target.version)
        meta = self._list_meta(res)
        pretty = req.wants_pretty(request, query)
        if output.as_kind == "Table":
            body = self.convertor(target.resource).table(
                res["items"], self.clock.seconds(), output.as_version, _include_object(query), meta
            )
            return req.write(request, 200, output, body, pretty)
        if output.as_kind == "PartialObjectMetadataList":
            body = tables.partial_object_metadata_list(res["items"], output.as_version, meta)
            return req.write(request, 200, output, body, pretty)
        if output.as_kind:
            raise ser.not_acceptable(ser.ACCEPTED_OUTPUT_TYPES)
        items = res["items"]
        if not req.is_custom(target.resource):
            items = [_untyped(o) for o in items]
        body = {
            "kind": target.resource.list_kind,
            "apiVersion": target.resource.api_version(target.version),
            "metadata": meta,
            "items": items,
        }
        return req.write(request, 200, output, body, pretty)

    async def computed_items(self, request: IRequest, target: Target) -> list[dict]:
        """
        The objects of a resource computed on every read, never stored (the strategy's
        C{compute_list()}, e.g. C{componentstatuses}); the strategy's C{read_warnings} go in
        C{Warning} headers.
        """
        from twisted.internet.defer import maybeDeferred

        strategy = target.resource.strategy
        for warning in getattr(strategy, "read_warnings", ()):
            req.add_warning(request, warning)
        return list(await maybeDeferred(strategy.compute_list))

    async def handle_computed_read(self, request: IRequest, target: Target, query: Query) -> bytes:
        """
        GET one object of a computed resource (see L{computed_items}); 404 for an unknown name.
        """
        from kapid.apimachinery.status import not_found

        for obj in await self.computed_items(request, target):
            if obj["metadata"]["name"] == target.name:
                return self.render_object(request, query, target, obj)
        raise not_found(target.resource.plural, target.name, target.resource.group)

    # ---------------------------------------------------------------------------------------------
    # watch

    async def handle_watch(self, request: IRequest, target: Target, query: Query) -> bytes:
        """
        A watch stream.
        """
        self._check_verb(target, "watch")
        from kapid.endpoints.watch import serve_watch

        return await serve_watch(self, request, target, query)

    # ---------------------------------------------------------------------------------------------
    # writes

    def decode(
        self, request: IRequest, target: Target, query: Query, body: bytes,
        options_kind: str = "CreateOptions",
    ) -> dict:
        """
        Decode, check, validate fields of and default a create/update body.
        """
        obj, media = req.decode_body(request, body, target.resource)
        obj = req.check_type(obj, target.resource, target.version)
        req.apply_field_validation(
            request, target.resource, target.version, obj, body,
            req.field_validation(query, options_kind), media
        )
        store = self.store_for(target.resource)
        default = getattr(store.strategy, "default", None)
        if default is not None:
            default(target.version, obj)
        # what decoding into kube's Go type drops: empty omitempty fields (defaulted ones too)
        omit_empty(obj)
        return obj

    async def handle_create(self, request: IRequest, target: Target, query: Query) -> bytes:
        """
        POST: create.
        """
        self._check_verb(target, "create")
        if target.subresource:
            raise method_not_allowed()
        if hasattr(target.resource.strategy, "compute_create"):
            return await self.handle_computed(request, target, query)
        if target.resource.group == "" and target.resource.plural == "bindings":
            return await self.handle_bindings(request, target, query)
        dry_run = query.dry_run()
        body = req.read_body(request)
        obj = self.decode(request, target, query, body)
        store = self.store_for(target.resource)
        manager = _field_manager(request, query)
        self._managed_fields_create(target, obj, manager)
        adm = admission_for(self, request, target, dry_run, create_options(query, dry_run))
        if adm is not None:
            store.ensure_namespace(obj, target.namespace)
            obj = await adm.mutate(obj, None, "CREATE")
        for w in store.strategy.warnings_on_create(obj):
            req.add_warning(request, w)
        out = await store.create(
            target.namespace, obj, target.version, dry_run=dry_run, user=user(request),
            admit=adm.validate_create if adm is not None else None,
        )
        return self.render_object(request, query, target, out, 201)

    async def handle_kubelet(self, request: IRequest, target: Target, query: Query, method: str) -> bytes:
        """
        Pod subresources served by a kubelet (log, exec, attach, portforward): dialled to the pod's
        node's kubelet (L{kapid.endpoints.actions}), with kube's errors when none answers.
        """
        verb = "get" if method in ("GET", "HEAD") else "create" if method == "POST" else ""
        if not verb:
            raise method_not_allowed()
        self._check_verb(target, verb)
        from kapid.endpoints import actions

        store = self.store_for(target.resource)
        if target.subresource != "log":
            await connect_admission(self, request, target, query)
        if target.subresource == "log":
            return await actions.pod_log(self, store, request, target, query)
        return await actions.pod_stream(self, store, request, target, query)

    async def handle_proxy(self, request: IRequest, target: Target, method: str) -> bytes:
        """
        C{<resource>/<id>/proxy[/<path>]}: proxied to the pod, an endpoint of the Service, or the
        node (L{kapid.endpoints.actions.proxy}), with kube's checks and errors.
        """
        verb = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete"}.get(method, "")
        if not verb:
            raise method_not_allowed()
        self._check_verb(target, verb)
        query = _query_of(request)
        await connect_admission(self, request, target, query)
        from kapid.endpoints import actions

        return await actions.proxy(self, request, target, query)

    async def handle_computed(self, request: IRequest, target: Target, query: Query) -> bytes:
        """
        POST to a resource whose answer is computed, never stored (reviews: the strategy's
        C{compute_create(obj, user)}), or to a computed subresource (the strategy's
        C{compute_subresource_create(subresource, store, target, obj, user)}, e.g. a token).
        """
        from twisted.internet.defer import maybeDeferred

        self._check_verb(target, "create")
        body = req.read_body(request)
        strategy = target.resource.strategy
        if target.subresource:
            obj, _ = req.decode_body(request, body)
            store = self.store_for(target.resource)
            adm = admission_for(self, request, target, query.dry_run(), create_options(query, query.dry_run()))
            if adm is not None:
                obj = await adm.both(obj, None, "CREATE")
            out = await maybeDeferred(
                strategy.compute_subresource_create, target.subresource, store, target, obj, user(request)
            )
        else:
            obj = self.decode(request, target, query, body)
            adm = admission_for(self, request, target, query.dry_run(), create_options(query, query.dry_run()))
            if adm is not None:
                obj = await adm.both(obj, None, "CREATE")
            if target.resource.namespaced:
                # namespaced reviews (localsubjectaccessreviews) judge the URL's namespace
                out = await maybeDeferred(strategy.compute_create, obj, user(request), target.namespace)
            else:
                out = await maybeDeferred(strategy.compute_create, obj, user(request))
        return self.render_object(request, query, target, out, 201)

    async def handle_bindings(self, request: IRequest, target: Target, query: Query) -> bytes:
        """
        POST C{/api/v1/namespaces/<ns>/bindings}: kube's pod binding, addressed by the Binding's name
        (the same as C{pods/<name>/binding}).
        """
        import attr

        pods = self.registry.lookup("", "v1", "pods")
        if pods is None:
            raise method_not_allowed()
        body = req.read_body(request)
        obj: Any = None
        if body.strip():
            obj, _ = req.decode_body(request, body)
        meta = obj.get("metadata") if isinstance(obj, dict) else None
        name = (meta.get("name") if isinstance(meta, dict) else None) or ""
        if not name:
            from kapid.apimachinery.field import required
            from kapid.apimachinery.status import invalid

            raise invalid("Binding", "", [required("metadata.name", "name or generateName is required")])
        pod_target = attr.evolve(target, resource=pods, name=name, subresource="binding")
        return await self.handle_action(request, pod_target, query)

    async def handle_action(self, request: IRequest, target: Target, query: Query) -> bytes:
        """
        POST to a pod's C{binding} or C{eviction} subresource.
        """
        self._check_verb(target, "create")
        from kapid.endpoints import actions

        body = req.read_body(request)
        obj: Any = None
        if body.strip():
            obj, _ = req.decode_body(request, body)
        store = self.store_for(target.resource)
        dry_run = query.dry_run()
        adm = admission_for(self, request, target, dry_run, create_options(query, dry_run))
        if adm is not None:
            obj = await adm.both(obj, None, "CREATE")
        if dry_run:
            await store.get(target.namespace, target.name, target.version)
            out = actions.created_status()
        elif target.subresource == "binding":
            out = await actions.bind(store, target, obj)
        else:
            out = await actions.evict(store, target, obj)
        output = ser.negotiate(req.header(request, b"accept"), allow_as=False)
        return req.write(request, 201, output, out, req.wants_pretty(request, query))

    def _managed_fields_create(self, target: Target, obj: dict, manager: str) -> None:
        from kapid.apimachinery import apply as ssa

        ssa.record_update(
            None, obj, manager, target.resource.api_version(target.version),
            self.clock.seconds(), req.schema_for(target.resource, target.version), target.subresource,
            req.is_custom(target.resource), _has_status(target),
        )

    async def handle_update(self, request: IRequest, target: Target, query: Query) -> bytes:
        """
        PUT: update (the main resource, status or scale).
        """
        self._check_verb(target, "update")
        dry_run = query.dry_run("UpdateOptions")
        body = req.read_body(request)
        store = self.store_for(target.resource)
        if target.subresource == "scale":
            from kapid.endpoints.scale import update_scale

            obj, _ = req.decode_body(request, body)
            out = await update_scale(
                store, target, obj, dry_run, _field_manager(request, query, "UpdateOptions"), self.clock,
                admission_for(self, request, target, dry_run, update_options(query, dry_run)),
            )
            return self.render_object(request, query, target, out)
        obj = self.decode(request, target, query, body, "UpdateOptions")
        manager = _field_manager(request, query, "UpdateOptions")
        schema = req.schema_for(target.resource, target.version)
        api_version = target.resource.api_version(target.version)

        def updater(current: Optional[dict]) -> dict:
            new = deep_copy(obj)
            from kapid.apimachinery import apply as ssa

            ssa.record_update(
                current, new, manager, api_version, self.clock.seconds(), schema, target.subresource,
                req.is_custom(target.resource), _has_status(target),
            )
            return new

        uid = (obj.get("metadata") or {}).get("uid") or None
        adm = admission_for(self, request, target, dry_run, update_options(query, dry_run))
        out, created = await store.update(
            target.namespace, target.name, adm.mutating_updater(updater) if adm is not None else updater,
            target.version, target.subresource, dry_run,
            expect_uid=uid, user=user(request), admit=adm.validate_update if adm is not None else None,
        )
        self.warn_on_update(request, target, out)
        return self.render_object(request, query, target, out, 201 if created else 200)

    def warn_on_update(self, request: IRequest, target: Target, obj: dict) -> None:
        """
        The C{Warning}s of a successful update of the main resource: the strategy's optional
        C{warnings_on_update(obj, old)} (kube's C{WarningsOnUpdate}; C{old} is not passed here).
        """
        if target.subresource:
            return
        warn = getattr(self.store_for(target.resource).strategy, "warnings_on_update", None)
        if warn is not None:
            for w in warn(obj, None):
                req.add_warning(request, w)

    async def handle_patch(self, request: IRequest, target: Target, query: Query) -> bytes:
        """
        PATCH: JSON, merge, strategic merge or server-side apply.
        """
        self._check_verb(target, "patch")
        from kapid.endpoints.patch import serve_patch

        return await serve_patch(self, request, target, query)

    async def handle_delete(self, request: IRequest, target: Target, query: Query) -> bytes:
        """
        DELETE one object.
        """
        self._check_verb(target, "delete")
        body = req.read_body(request)
        options = self._delete_options(request, query, body)
        store = self.store_for(target.resource)
        adm = admission_for(self, request, target, bool(options.get("dryRun")), admission_delete_options(options))
        out, deleted = await store.delete(
            target.namespace, target.name, options, target.version, adm.delete if adm is not None else None
        )
        if deleted and not target.resource.return_deleted_object:
            meta = out.get("metadata") or {}
            details: dict[str, Any] = {"name": meta.get("name", "")}
            if target.resource.group:
                details["group"] = target.resource.group
            details["kind"] = target.resource.plural
            if meta.get("uid"):
                details["uid"] = meta["uid"]
            output = ser.negotiate(req.header(request, b"accept"), allow_as=False)
            return req.write(request, 200, output, success_status(details), req.wants_pretty(request, query))
        code = 200
        if not deleted and options.get("orphanDependents") is False:
            code = 202
        return self.render_object(request, query, target, out, code)

    def _delete_options(self, request: IRequest, query: Query, body: bytes) -> dict:
        parsed: Optional[dict] = None
        if body.strip():
            obj, _ = req.decode_body(request, body)
            if not isinstance(obj, dict):
                raise bad_request("the body of the request was not a DeleteOptions object")
            parsed = obj
        return delete_options(query, parsed)

    async def handle_delete_collection(self, request: IRequest, target: Target, query: Query) -> bytes:
        """
        DELETE a collection.
        """
        self._check_verb(target, "deletecollection")
        body = req.read_body(request)
        options = self._delete_options(request, query, body)
        opts = self.list_options(target, query)
        store = self.store_for(target.resource)
        adm = admission_for(self, request, target, bool(options.get("dryRun")), admission_delete_options(options))
        res = await store.delete_collection(
            target.namespace, opts, options, target.version, adm.delete if adm is not None else None
        )
        items = res["items"]
        if not req.is_custom(target.resource):
            items = [_untyped(o) for o in items]
        out = {
            "kind": target.resource.list_kind,
            "apiVersion": target.resource.api_version(target.version),
            "metadata": {"resourceVersion": res["resourceVersion"]},
            "items": items,
        }
        output = ser.negotiate(req.header(request, b"accept"), allow_as=False)
        return req.write(request, 200, output, out, req.wants_pretty(request, query))


def _query_of(request: IRequest) -> Query:
    """
    The query as Go's C{url.Query()} reads it (C{?watch} with no value is present), from the
    request context when available.
    """
    try:
        from kapid.server.context import query
    except ImportError:  # pragma: no cover
        return Query(request.args)
    return Query.from_text(query(request))


def _has_status(target: Target) -> bool:
    """
    Whether the resource has a status subresource (so its main resource resets status).
    """
    return target.resource.subresource("status") is not None


def _untyped(obj: dict) -> dict:
    """
    A list item as kube encodes typed lists: without kind and apiVersion.
    """
    if "kind" in obj or "apiVersion" in obj:
        return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
    return obj


def _include_object(query: Query) -> str:
    v = query.get("includeObject") or "Metadata"
    if v not in ("None", "Metadata", "Object"):
        raise bad_request(f'includeObject: Unsupported value: "{v}": supported values: "None", "Metadata", "Object"')
    return v


def _field_manager(request: IRequest, query: Query, options_kind: str = "CreateOptions") -> str:
    """
    The C{fieldManager} (kube: from the user agent's first segment when absent; 128 characters max).
    """
    m = query.get("fieldManager")
    if m:
        if len(m) > 128:
            raise _invalid_field_manager(options_kind)
        return m
    ua = req.header(request, b"user-agent")
    return ua.split("/", 1)[0][:128] if ua else ""


def _invalid_field_manager(options_kind: str) -> StatusError:
    from kapid.apimachinery import field
    from kapid.apimachinery.status import invalid

    return invalid(options_kind, "", [field.too_long("fieldManager", 128)], "meta.k8s.io")


def resource_link_factory(
    registry: ResourceRegistry, storage: Any, clock: IReactorTime, etcd_prefix: str = "/registry", **kw: Any
) -> Callable[[IResource], ResourceLink]:
    """
    A factory C{delegate -> ResourceLink} for the daemon's chain builder.
    """

    def make(delegate: IResource) -> ResourceLink:
        return ResourceLink(delegate, registry, storage, clock, etcd_prefix, **kw)

    return make


def api_storage(service: Any, registry: ResourceRegistry) -> Any:
    """
    The L{IStorage} the daemon's resource links serve from, built once per service when the storage
    is open: C{service.kv} wrapped in the L{kapid.storage.store.Store} (and the watch cache, per
    C{--watch-cache}, C{--default-watch-cache-size} and C{--watch-cache-sizes}, told the key prefix
    of every resource of C{registry}, now and as it changes).
    """
    storage = getattr(service, "api_storage", None)
    if storage is not None:
        return storage
    from kapid.storage.cacher import storage_for

    etcd = service.config.etcd
    storage = storage_for(
        service.kv, service.reactor, etcd.etcd_prefix,
        watch_cache=bool(getattr(etcd, "watch_cache", False)),
        cache_size=int(getattr(etcd, "default_watch_cache_size", 0) or 0),
        cache_sizes=cache_sizes_by_prefix(registry, getattr(etcd, "watch_cache_sizes", None) or {}, etcd.etcd_prefix),
    )
    register_cache_prefixes(storage, registry, etcd.etcd_prefix)
    service.api_storage = storage
    return storage


def daemon_resource_link_factory(
    service: Any, registry: Optional[ResourceRegistry] = None, serves: Optional[Callable[[Resource], bool]] = None
) -> Callable[[IResource], ResourceLink]:
    """
    The factory a L{kapid.server.service.KapidService} takes as C{resource_link_factory}: when the
    chain is built (storage open), it serves C{registry} (default: every built-in resource) plus the
    daemon's resources (L{install_daemon_resources}) over L{api_storage}, admitting writes through
    the daemon's admission chain (L{kapid.admission.chain.chain_for_service}); C{serves} as
    L{ResourceLink} takes it. The link is kept as C{service.resource_link}.
    """

    def make(delegate: IResource) -> ResourceLink:
        config = service.config
        clock = service.reactor
        reg = registry
        if reg is None:
            from kapid.registry.builtin import builtin_registry

            reg = builtin_registry()
        storage = api_storage(service, reg)
        install_daemon_resources(service, reg, storage, clock)
        from kapid.admission.chain import bind_chain, chain_for_service

        chain = chain_for_service(service)
        link = ResourceLink(
            delegate, reg, storage, clock, config.etcd.etcd_prefix,
            min_request_timeout=float(config.generic.min_request_timeout or 1800),
            serves=serves, admission=chain,
        )
        bind_chain(chain, link, primary=True)
        service.resource_link = link
        return link

    return make


def install_daemon_resources(service: Any, registry: ResourceRegistry, storage: Any, clock: IReactorTime) -> None:
    """
    Give C{registry} what needs the running server: Service allocation over C{storage} (from
    C{--service-cluster-ip-range} / C{--service-node-port-range}), the C{serviceaccounts/token}
    issuer (C{--service-account-*}, its key in C{--cert-dir}), and the computed reviews
    (C{selfsubjectaccessreviews} asking the authorizer of C{--authorization-mode},
    C{selfsubjectreviews}).
    """
    from kapid.apimachinery import meta as metautil
    from kapid.auth.authorizers import build_authorizer
    from kapid.auth.tokens import issuer_from_config
    from kapid.registry.builtin import authentication, authorization
    from kapid.registry.builtin.core_cluster import service_accounts_with_issuer
    from kapid.registry.services import allocator_from_config, install_service_allocation

    config = service.config
    install_service_allocation(registry, allocator_from_config(config, storage))
    issuer = issuer_from_config(config, now=clock.seconds)
    if registry.lookup("", "v1", "serviceaccounts") is not None:
        registry.add(service_accounts_with_issuer(issuer))
    registry.add(authentication.token_reviews(issuer))
    if registry.lookup("", "v1", "componentstatuses") is not None:
        from kapid.registry.builtin.core import component_statuses
        from kapid.server.healthz import storage_check

        registry.add(component_statuses(storage_check(service.kv, clock).check))
    authorizer = build_authorizer(config.authorization.modes, service=service)
    for make_review in authorization.COMPUTED_RESOURCES:
        registry.add(make_review(authorizer))
    for make_self_review in authentication.COMPUTED_RESOURCES:
        registry.add(make_self_review(lambda: metautil.timestamp(clock.seconds())))


def register_cache_prefixes(storage: Any, registry: ResourceRegistry, etcd_prefix: str) -> None:
    """
    Tell a watch cache (a L{kapid.storage.cacher.CachingStorage}) the key prefix of every stored
    resource of C{registry}, now and whenever the registry changes.
    """
    register = getattr(storage, "register_prefix", None)
    if register is None:
        return

    def all_prefixes() -> None:
        for res in registry.all():
            if hasattr(res.strategy, "compute_create") or hasattr(res.strategy, "compute_list"):
                continue
            register(res.key_prefix(etcd_prefix))

    all_prefixes()
    registry.subscribe(all_prefixes)


def cache_sizes_by_prefix(registry: ResourceRegistry, sizes: dict[str, int], etcd_prefix: str) -> dict[str, int]:
    """
    C{--watch-cache-sizes} (C{resource[.group]} -> size) as key prefixes of C{registry}'s
    resources -> size; names that match no resource are ignored (as kube ignores them).
    """
    out: dict[str, int] = {}
    for name, size in sizes.items():
        plural, _, group = name.partition(".")
        for res in registry.all():
            if res.plural == plural and res.group == group:
                out[res.key_prefix(etcd_prefix)] = size
    return out
