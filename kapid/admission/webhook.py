"""
Admission webhooks (kube's C{plugin/webhook/{generic,mutating,validating,request}}): the
C{MutatingAdmissionWebhook} and C{ValidatingAdmissionWebhook} plugins call the webhooks of the
stored C{admissionregistration.k8s.io/v1} Mutating/ValidatingWebhookConfigurations, read afresh
(from the watch cache) on each request so that a change applies at once.

For each request a webhook is called when one of its rules matches (operations, groups, versions,
resources with subresources and wildcards, scope; with C{matchPolicy: Equivalent} another served
version of the resource matches too, and the objects are converted to it), its
C{namespaceSelector} matches the namespace's labels and its C{objectSelector} the object's (or
the old object's), and its C{matchConditions} (CEL, L{kapid.cel.admission}) all hold: a false one
skips the webhook; one that fails to evaluate refuses the request (kube's 403 C{failed calling
webhook}) unless C{failurePolicy: Ignore}.

The call is an C{AdmissionReview} (v1, or v1beta1 when that is all the webhook lists) POSTed
through L{kapid.transport} within C{timeoutSeconds}; the answer is checked as kube checks it. A
denial is kube's C{admission webhook "<name>" denied the request: ...}; a failed call or an
invalid answer is a 500 (C{failed calling webhook ...}) unless C{failurePolicy: Ignore}. Mutating
webhooks run one after another, their JSON patches applied (and the result defaulted); when an
C{reinvocationPolicy: IfNeeded} webhook's object was changed by a later one, the chain's mutating
plugins run once more, with those webhooks;
validating webhooks run concurrently. A dry run reaches only webhooks whose C{sideEffects} are
C{None} or C{NoneOnDryRun}.
"""

from __future__ import annotations

import base64
import copy
from typing import Any, Optional

import attr
import orjson
from twisted.internet.defer import Deferred, DeferredList
from twisted.logger import Logger
from zope.interface import implementer

from kapid.registry.builtin.authentication import user_info_json
from kapid.admission.chain import register
from kapid.admission.context import PluginContext
from kapid.admission.interfaces import DELETE, OPERATIONS, Attributes, IMutatingAdmission, IValidatingAdmission, forbidden
from kapid.apimachinery import meta as metautil
from kapid.apimachinery.selectors import selector_from_label_selector
from kapid.apimachinery.status import StatusError, bad_request, internal_error

log = Logger()

GROUP = "admissionregistration.k8s.io"
#: Requests for these are never sent to webhooks (kube's C{IsExemptAdmissionConfigurationResource}).
EXEMPT = {
    (GROUP, "mutatingwebhookconfigurations"), (GROUP, "validatingwebhookconfigurations"),
    (GROUP, "validatingadmissionpolicies"), (GROUP, "validatingadmissionpolicybindings"),
    (GROUP, "mutatingadmissionpolicies"), (GROUP, "mutatingadmissionpolicybindings"),
}
REVIEW_VERSIONS = ("v1", "v1beta1")
DEFAULT_TIMEOUT = 10


@attr.s(frozen=True, auto_attribs=True)
class Hook:
    """
    One webhook of a configuration, with v1's defaults applied.
    """

    configuration: str
    name: str
    rules: tuple[dict, ...]
    client_config: dict
    match_policy: str = "Equivalent"
    namespace_selector: Optional[dict] = None
    object_selector: Optional[dict] = None
    failure_policy: str = "Fail"
    side_effects: str = ""
    timeout: float = DEFAULT_TIMEOUT
    review_versions: tuple[str, ...] = ("v1",)
    reinvocation: str = "Never"
    match_conditions: tuple[dict, ...] = ()

    @classmethod
    def parse(cls, configuration: str, h: dict) -> "Hook":
        """
        From the API form.
        """
        return cls(
            configuration=configuration,
            name=h.get("name") or "",
            rules=tuple(r for r in h.get("rules") or [] if isinstance(r, dict)),
            client_config=h.get("clientConfig") or {},
            match_policy=h.get("matchPolicy") or "Equivalent",
            namespace_selector=h.get("namespaceSelector") or None,
            object_selector=h.get("objectSelector") or None,
            failure_policy=h.get("failurePolicy") or "Fail",
            side_effects=h.get("sideEffects") or "",
            timeout=float(h.get("timeoutSeconds") or DEFAULT_TIMEOUT),
            review_versions=tuple(h.get("admissionReviewVersions") or ("v1",)),
            reinvocation=h.get("reinvocationPolicy") or "Never",
            match_conditions=tuple(c for c in h.get("matchConditions") or [] if isinstance(c, dict)),
        )


@attr.s(frozen=True, auto_attribs=True)
class Invocation:
    """
    A webhook to call for a request, and the resource and kind it sees.
    """

    hook: Hook
    resource: tuple[str, str, str]
    kind: tuple[str, str, str]


class CallError(Exception):
    """
    kube's C{ErrCallingWebhook}: C{failed calling webhook "<name>": <reason>}.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"failed calling webhook {_go_quote(name)}: {reason}")


def _go_quote(s: str) -> str:
    return orjson.dumps(s).decode()


def rule_matches(rule: dict, a: Attributes, resource: tuple[str, str, str]) -> bool:
    """
    kube's C{rules.Matcher}: scope, operation, group, version and resource/subresource.
    """
    scope = rule.get("scope") or "*"
    is_namespace = resource[0] == "" and resource[2] == "namespaces"
    if scope == "Namespaced" and (is_namespace or not a.namespace):
        return False
    if scope == "Cluster" and not (is_namespace or not a.namespace):
        return False
    ops = rule.get("operations") or []
    if "*" not in ops and a.operation not in ops:
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and resource[0] not in groups:
        return False
    versions = rule.get("apiVersions") or []
    if "*" not in versions and resource[1] not in versions:
        return False
    for r in rule.get("resources") or []:
        res, _, sub = r.partition("/")
        if (res == "*" or res == resource[2]) and (sub == "*" or sub == a.subresource):
            return True
    return False


class WebhookDispatcher:
    """
    What both plugins share: reading the configurations, matching, building and checking reviews.

    @param mutating: which kind of configuration this dispatcher serves.
    @param new_uid: makes each review's uid (tests pass a fixed one).
    """

    plural = ""

    def __init__(self, context: PluginContext, mutating: bool, new_uid: Any = None) -> None:
        self.context = context
        self.mutating = mutating
        self.plural = "mutatingwebhookconfigurations" if mutating else "validatingwebhookconfigurations"
        self.new_uid = new_uid or metautil.new_uid
        self._parsed: tuple[Any, list[Hook]] = (None, [])

    def handles(self, operation: str) -> bool:
        """
        Every operation.
        """
        return operation in OPERATIONS

    async def hooks(self) -> list[Hook]:
        """
        The webhooks of every configuration: configurations by name, webhooks in order.
        """
        from kapid.admission.context import watched

        configs = await watched(self.context, GROUP, self.plural).items()
        key = tuple(((c.get("metadata") or {}).get("name"), (c.get("metadata") or {}).get("resourceVersion")) for c in configs)
        if self._parsed[0] == key:
            return self._parsed[1]
        hooks = []
        for c in sorted(configs, key=lambda c: (c.get("metadata") or {}).get("name") or ""):
            name = (c.get("metadata") or {}).get("name") or ""
            for h in c.get("webhooks") or []:
                if isinstance(h, dict):
                    hooks.append(Hook.parse(name, h))
        self._parsed = (key, hooks)
        return hooks

    def client_factory(self) -> Any:
        """
        The transport's client factory (made over the context's link on first use).
        """
        factory = self.context.extras.get("client_factory")
        if factory is None and self.context.link is not None and self.context.clock is not None:
            from kapid.controllers.kubernetes_service import link_store_for
            from kapid.transport import transport_for

            resolver, factory = transport_for(link_store_for(self.context.link), self.context.clock)
            self.context.extras["service_resolver"] = resolver
            self.context.extras["client_factory"] = factory
        return factory

    # -- matching -----------------------------------------------------------------------------------

    def _equivalents(self, a: Attributes) -> list[tuple[str, str, str]]:
        link = self.context.link
        if link is None:
            return []
        for res in link.registry.all():
            if res.group == a.resource[0] and res.plural == a.resource[2]:
                return [(res.group, v.name, res.plural) for v in res.versions if v.name != a.resource[1]]
        return []

    def _kind_for(self, a: Attributes, resource: tuple[str, str, str]) -> tuple[str, str, str]:
        if a.kind[0] == resource[0] and a.kind[1] == a.resource[1]:
            return (a.kind[0], resource[1], a.kind[2])
        return a.kind

    async def invocation(self, hook: Hook, a: Attributes) -> Optional[Invocation]:
        """
        kube's C{ShouldCallHook}: the invocation when the webhook is to be called, else None.
        """
        found: Optional[Invocation] = None
        for rule in hook.rules:
            if rule_matches(rule, a, a.resource):
                found = Invocation(hook, a.resource, a.kind)
                break
        if found is None and hook.match_policy == "Equivalent":
            for rule in hook.rules:
                for eq in self._equivalents(a):
                    if rule_matches(rule, a, eq):
                        found = Invocation(hook, eq, self._kind_for(a, eq))
                        break
                if found is not None:
                    break
        if found is None:
            return None
        if not await self._namespace_matches(hook, a):
            return None
        if not _object_matches(hook, a):
            return None
        if hook.match_conditions:
            from kapid.cel.admission import admission_variables, compiled_match_conditions

            result = compiled_match_conditions(list(hook.match_conditions), hook.failure_policy).match(
                admission_variables(a))
            if result.error is not None:
                raise forbidden(a, f"failed calling webhook {_go_quote(hook.name)}: {result.error}")
            if not result.matches:
                return None
        return found

    async def _namespace_matches(self, hook: Hook, a: Attributes) -> bool:
        is_namespace = a.resource[0] == "" and a.resource[2] == "namespaces"
        if not a.namespace and not is_namespace:
            return True
        matcher = selector_from_label_selector(hook.namespace_selector)
        if matcher is None:
            return True
        if is_namespace and not a.subresource and a.operation in ("CREATE", "UPDATE"):
            labels = ((a.object or {}).get("metadata") or {}).get("labels") or {}
        else:
            ns = await self.context.get("", "namespaces", "", a.namespace)
            if ns is None:
                ns = await self.context.get("", "namespaces", "", a.namespace, live=True)
            if ns is None:
                raise internal_error(f'namespaces "{a.namespace}" not found')
            labels = (ns.get("metadata") or {}).get("labels") or {}
        return matcher(labels)

    # -- conversion ---------------------------------------------------------------------------------

    async def to_version(self, a: Attributes, obj: Optional[dict], resource: tuple[str, str, str], version: str) -> Optional[dict]:
        """
        C{obj} as the webhook sees it: in C{version} of C{resource} (objects of subresources with
        their own kind are not converted).
        """
        if obj is None:
            return None
        if version == a.resource[1]:
            return copy.deepcopy(obj)
        store = self.context.store(resource[0], resource[2])
        if store is None or obj.get("kind", store.resource.kind) != store.resource.kind:
            return copy.deepcopy(obj)
        if store.async_converter is not None:
            return await store.to_version_async(copy.deepcopy(obj), version)
        return store.to_version(copy.deepcopy(obj), version)

    # -- the call -----------------------------------------------------------------------------------

    def review(self, inv: Invocation, a: Attributes, obj: Any, old: Any, version: str, uid: str) -> dict:
        """
        The C{AdmissionReview} kube sends (its C{CreateV1AdmissionReview}).
        """
        req: dict[str, Any] = {
            "uid": uid,
            "kind": {"group": inv.kind[0], "version": inv.kind[1], "kind": inv.kind[2]},
            "resource": {"group": inv.resource[0], "version": inv.resource[1], "resource": inv.resource[2]},
        }
        if a.subresource:
            req["subResource"] = a.subresource
        req["requestKind"] = {"group": a.kind[0], "version": a.kind[1], "kind": a.kind[2]}
        req["requestResource"] = {"group": a.resource[0], "version": a.resource[1], "resource": a.resource[2]}
        if a.subresource:
            req["requestSubResource"] = a.subresource
        if a.name:
            req["name"] = a.name
        if a.namespace:
            req["namespace"] = a.namespace
        req["operation"] = a.operation
        req["userInfo"] = user_info_json(a.user)
        req["object"] = obj
        req["oldObject"] = old
        req["dryRun"] = bool(a.dry_run)
        req["options"] = a.options
        return {"kind": "AdmissionReview", "apiVersion": f"admission.k8s.io/{version}", "request": req}

    async def call(self, inv: Invocation, a: Attributes, obj: Any, old: Any) -> dict:
        """
        POST the review; fire with the checked C{response}. Raises L{CallError} for a failed call
        or an invalid answer.
        """
        hook = inv.hook
        version = next((v for v in hook.review_versions if v in REVIEW_VERSIONS), None)
        if version is None:
            raise CallError(hook.name, "failed to call webhook: webhook does not accept v1 or v1beta1 AdmissionReview")
        uid = self.new_uid()
        body = orjson.dumps(self.review(inv, a, obj, old, version, uid))
        from kapid.transport.client import ClientConfig, WebhookCallError

        try:
            client = self.client_factory().client_for(ClientConfig.from_api(hook.client_config))
        except (ValueError, AttributeError) as e:
            raise CallError(hook.name, f"failed to call webhook: {e}")
        try:
            resp = await client.post(body, timeout=min(hook.timeout, 30.0))
        except WebhookCallError as e:
            raise CallError(hook.name, f"failed to call webhook: {e.message}")
        if resp.code < 200 or resp.code > 299:
            raise CallError(hook.name, "failed to call webhook: " + _status_text(resp.code, resp.body))
        try:
            review = orjson.loads(resp.body)
        except orjson.JSONDecodeError:
            raise CallError(hook.name, f"failed to call webhook: couldn't get version/kind; json parse error: {_json_error(resp.body)}")
        if not isinstance(review, dict):
            raise CallError(hook.name, "failed to call webhook: couldn't get version/kind; json parse error: "
                                       "json: cannot unmarshal array into Go value of type struct { APIVersion string "
                                       '"json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }')
        return self.verify(hook, review, uid, version)

    def verify(self, hook: Hook, review: dict, uid: str, version: str) -> dict:
        """
        kube's C{VerifyAdmissionResponse}.
        """
        def invalid(why: str) -> CallError:
            return CallError(hook.name, f"received invalid webhook response: {why}")

        response = review.get("response")
        if not isinstance(response, dict):
            raise invalid("webhook response was absent")
        if (response.get("uid") or "") != uid:
            raise invalid(f"expected response.uid={_go_quote(uid)}, got {_go_quote(str(response.get('uid') or ''))}")
        gv = review.get("apiVersion") or ""
        if review.get("kind") != "AdmissionReview" or gv != f"admission.k8s.io/{version}":
            got_group, _, got_version = gv.rpartition("/") if "/" in gv else ("", "", gv)
            got = f"{got_group}/{got_version}, Kind={review.get('kind') or ''}" if got_group else f"{got_version}, Kind={review.get('kind') or ''}"
            raise invalid(f"expected webhook response of admission.k8s.io/{version}, Kind=AdmissionReview, got {got}")
        patch = response.get("patch")
        patch_type = response.get("patchType")
        if self.mutating:
            if patch and not patch_type:
                raise invalid("webhook returned response.patch but not response.patchType")
            if patch_type and not patch:
                raise invalid("webhook returned response.patchType but not response.patch")
        else:
            if patch:
                raise invalid("validating webhook may not return response.patch")
            if patch_type:
                raise invalid("validating webhook may not return response.patchType")
        return response

    def denial(self, hook: Hook, response: dict) -> StatusError:
        """
        kube's C{ToStatusErr}: the webhook's Status, its message prefixed, code at least 400.
        """
        status = response.get("status")
        result: dict = status if isinstance(status, dict) else {}
        denied = f"admission webhook {_go_quote(hook.name)} denied the request"
        code = result.get("code") or 0
        if not isinstance(code, int) or code < 400:
            code = 400
        if result.get("message"):
            message = f"{denied}: {result['message']}"
        elif result.get("reason"):
            message = f"{denied}: {result['reason']}"
        else:
            message = f"{denied} without explanation"
        err = StatusError(code, result.get("reason") or "", message, result.get("details") or None)
        return err

    async def consult(
        self, inv: Invocation, a: Attributes, kind: str, round_: int, index: int
    ) -> Optional[tuple[Optional[dict], dict]]:
        """
        Call C{inv}'s webhook with the objects in its version: C{(object sent, response)}; None
        when the call failed and the webhook's C{failurePolicy} is C{Ignore} (logged and annotated
        C{failed-open.<kind>.webhook.admission.k8s.io/...}, as kube does); kube's denial raised
        when the webhook refused.
        """
        hook = inv.hook
        version = inv.resource[1]
        obj = await self.to_version(a, a.object, inv.resource, version)
        old = await self.to_version(a, a.old_object, inv.resource, version)
        try:
            response = await self.call(inv, a, obj, old)
        except CallError as e:
            if hook.failure_policy == "Ignore":
                log.warn("failed calling webhook, failing open {name}: {err}", name=hook.name, err=str(e))
                a.add_annotation(f"failed-open.{kind}.webhook.admission.k8s.io/round_{round_}_index_{index}", hook.name)
                return None
            raise internal_error(str(e))
        self.take_warnings_and_annotations(hook, response, a)
        if not response.get("allowed"):
            raise self.denial(hook, response)
        return obj, response

    def take_warnings_and_annotations(self, hook: Hook, response: dict, a: Attributes) -> None:
        """
        The response's warnings and audit annotations (keys prefixed with the webhook's name).
        """
        for w in response.get("warnings") or []:
            if isinstance(w, str) and w:
                a.add_warning(w)
        for k, v in (response.get("auditAnnotations") or {}).items():
            a.add_annotation(f"{hook.name}/{k}", str(v))

    def check_dry_run(self, hook: Hook, a: Attributes) -> None:
        """
        A dry run reaches only webhooks without side effects (else kube's 400).
        """
        if a.dry_run and hook.side_effects not in ("None", "NoneOnDryRun"):
            raise bad_request(f"admission webhook {_go_quote(hook.name)} does not support dry run")


def _object_matches(hook: Hook, a: Attributes) -> bool:
    matcher = selector_from_label_selector(hook.object_selector)
    if matcher is None:
        return True
    for o in (a.object, a.old_object):
        if isinstance(o, dict) and matcher(((o.get("metadata") or {}).get("labels")) or {}):
            return True
    return False


def _status_text(code: int, body: bytes) -> str:
    """
    What kube's REST client says about a non-2xx answer.
    """
    try:
        status = orjson.loads(body)
        if isinstance(status, dict) and status.get("kind") == "Status" and status.get("message"):
            return str(status["message"])
    except orjson.JSONDecodeError:
        pass
    text = body.decode("utf-8", "replace").strip()
    if code >= 500:
        return f"an error on the server ({_go_quote(text)}) has prevented the request from succeeding"
    return f"the server rejected our request for an unknown reason (code {code})"


def _json_error(body: bytes) -> str:
    """
    Go's C{encoding/json} error for a body that is not JSON (its first bad character, or the end).
    """
    text = body.decode("utf-8", "replace").lstrip(" \t\r\n")
    if not text:
        return "unexpected end of JSON input"
    return f"invalid character {_go_char(text[0])} looking for beginning of value"


def _go_char(c: str) -> str:
    if c == "'":
        return "'\\''"
    return f"'{c}'"


@implementer(IMutatingAdmission)
class MutatingWebhook(WebhookDispatcher):
    """
    C{MutatingAdmissionWebhook}.
    """

    name = "MutatingAdmissionWebhook"

    def __init__(self, context: PluginContext, new_uid: Any = None) -> None:
        super().__init__(context, True, new_uid)

    async def admit(self, a: Attributes) -> None:
        """
        Call the matching webhooks in order, applying their patches; reinvoke C{IfNeeded} ones
        whose object changed after them.
        """
        if a.group_resource in EXEMPT:
            return
        key = ("webhook-reinvoke", id(self))
        if a.reinvoking:
            # the second pass: only the IfNeeded webhooks whose object changed after them
            for index, inv in a.memo.pop(key, []):
                await self._run(inv, a, 1, index)
            return
        hooks = await self.hooks()
        if not hooks:
            return
        invoked: list[tuple[int, Invocation, Any]] = []
        for index, hook in enumerate(hooks):
            inv = await self.invocation(hook, a)
            if inv is None:
                continue
            await self._run(inv, a, 0, index)
            invoked.append((index, inv, copy.deepcopy(a.object)))
        again = [(i, inv) for i, inv, seen in invoked if inv.hook.reinvocation == "IfNeeded" and seen != a.object]
        if again:
            a.memo[key] = again
            a.reinvoke_requested = True

    async def _run(self, inv: Invocation, a: Attributes, round_: int, index: int) -> None:
        hook = inv.hook
        self.check_dry_run(hook, a)
        version = inv.resource[1]
        reviewed = await self.consult(inv, a, "mutating", round_, index)
        if reviewed is None:
            return
        obj, response = reviewed
        patch = response.get("patch")
        if not patch or obj is None or a.operation == DELETE:
            return
        if response.get("patchType") != "JSONPatch":
            raise internal_error(f"unsupported patch type {_go_quote(str(response.get('patchType')))}")
        from kapid.apimachinery import jsonpatch

        try:
            ops = orjson.loads(base64.b64decode(patch))
            patched = jsonpatch.apply_patch(obj, ops)
        except (ValueError, jsonpatch.JSONPatchError) as e:
            raise internal_error(str(e))
        if not isinstance(patched, dict):
            raise internal_error("patched object is not an object")
        store = self.context.store(inv.resource[0], inv.resource[2])
        own_kind = store is not None and patched.get("kind", store.resource.kind) == store.resource.kind
        default = getattr(getattr(store, "strategy", None), "default", None) if own_kind else None
        if default is not None:
            default(version, patched)
        changed = patched != obj
        a.add_annotation(
            f"mutation.webhook.admission.k8s.io/round_{round_}_index_{index}",
            orjson.dumps({"configuration": hook.configuration, "webhook": hook.name, "mutated": changed}).decode(),
        )
        if version != a.resource[1] and own_kind:
            if store.async_converter is not None:
                patched = await store.to_version_async(patched, a.resource[1])
            else:
                patched = store.to_version(patched, a.resource[1])
        a.object = patched


@implementer(IValidatingAdmission)
class ValidatingWebhook(WebhookDispatcher):
    """
    C{ValidatingAdmissionWebhook}.
    """

    name = "ValidatingAdmissionWebhook"

    def __init__(self, context: PluginContext, new_uid: Any = None) -> None:
        super().__init__(context, False, new_uid)

    async def validate(self, a: Attributes) -> None:
        """
        Call the matching webhooks at once; the first refusal (in webhook order) wins.
        """
        if a.group_resource in EXEMPT:
            return
        hooks = await self.hooks()
        if not hooks:
            return
        calls = []
        for index, hook in enumerate(hooks):
            inv = await self.invocation(hook, a)
            if inv is None:
                continue
            self.check_dry_run(hook, a)
            calls.append(Deferred.fromCoroutine(self._one(inv, a, index)))
        if not calls:
            return
        results = await DeferredList(calls, consumeErrors=True)
        for ok, r in results:
            if not ok and r is not None:
                r.raiseException()

    async def _one(self, inv: Invocation, a: Attributes, index: int) -> None:
        await self.consult(inv, a, "validating", 0, index)


@register("MutatingAdmissionWebhook")
def _mutating(context: PluginContext, config: Any) -> MutatingWebhook:
    return MutatingWebhook(context)


@register("ValidatingAdmissionWebhook")
def _validating(context: PluginContext, config: Any) -> ValidatingWebhook:
    return ValidatingWebhook(context)
