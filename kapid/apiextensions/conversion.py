"""
Custom resource version conversion (kube's C{pkg/apiserver/conversion}): C{strategy: None} rewrites
C{apiVersion}; C{strategy: Webhook} sends the objects to the CRD's conversion webhook in an
C{apiextensions.k8s.io} C{ConversionReview} and checks the answer as kube does (uid, result, number
of objects, each one's apiVersion, kind, name, namespace and uid; only labels and annotations of
the metadata may change). Failures are 500 C{Status} errors with kube's texts
(C{conversion webhook for <group>/<version>, Kind=<kind> failed: ...}), as kube answers them.

A converter's C{needs_async} tells L{kapid.registry.store.RegistryStore} whether it must take the
asynchronous path; for C{None} conversion it is false, and the store's synchronous path stays.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

import orjson

from kapid.apimachinery import meta as metautil
from kapid.apimachinery.status import StatusError

REVIEW_GROUP = "apiextensions.k8s.io"
#: The C{ConversionReview} versions kapid speaks, as kube does.
SUPPORTED_REVIEW_VERSIONS = ("v1", "v1beta1")


class ConversionError(StatusError):
    """
    A failed conversion: kube answers these with code 500 and no reason (the converter's error is
    not a Status, so kube's C{ErrorToAPIStatus} makes it one with the error's text).
    """

    def __init__(self, message: str) -> None:
        super().__init__(500, "", message)


def _gvk(api_version: str, kind: str) -> str:
    """
    Go's C{GroupVersionKind.String()}.
    """
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind}"


def _gv(api_version: str) -> str:
    """
    Go's C{GroupVersion.String()} (C{v1} for the core group).
    """
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}" if group else version


def _go_type(v: Any) -> str:
    """
    Go's C{%T} of a decoded JSON value.
    """
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int64"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    return type(v).__name__


def _quote(s: str) -> str:
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _meta(obj: dict) -> dict:
    m = obj.get("metadata")
    return m if isinstance(m, dict) else {}


def _is_empty(obj: dict) -> bool:
    """
    kube's C{isEmptyUnstructuredObject}: nothing but apiVersion and kind.
    """
    return len(obj) == 2 and "kind" in obj and "apiVersion" in obj


class NoneConverter:
    """
    C{strategy: None}: only C{apiVersion} changes; no I/O.
    """

    needs_async = False

    def convert_sync(self, objs: list[dict], to_api_version: str) -> list[dict]:
        """
        C{objs} with C{apiVersion} set to C{to_api_version} (new top-level dicts).
        """
        return [o if o.get("apiVersion") == to_api_version else dict(o, apiVersion=to_api_version) for o in objs]

    async def convert(self, objs: list[dict], to_api_version: str, list_kind: str = "") -> list[dict]:
        """
        As L{convert_sync}.
        """
        return self.convert_sync(objs, to_api_version)


class WebhookConverter:
    """
    C{strategy: Webhook}: the CRD's conversion webhook converts.

    @param crd: the CRD (v1 form).
    @param client_factory: a L{kapid.transport.client.ClientFactory}.
    @param timeout: seconds a call may take (kube's conversion client: 30 s).
    @param new_uid: makes each review's request uid.
    """

    needs_async = True

    def __init__(
        self,
        crd: dict,
        client_factory: Any,
        timeout: float = 30.0,
        new_uid: Callable[[], str] = metautil.new_uid,
    ) -> None:
        from kapid.transport.client import ClientConfig

        spec = crd.get("spec") or {}
        webhook = ((spec.get("conversion") or {}).get("webhook")) or {}
        self.name = (crd.get("metadata") or {}).get("name") or ""
        self.group = spec.get("group") or ""
        self.valid_versions = {f"{self.group}/{v.get('name')}" for v in spec.get("versions") or []}
        self.review_versions = list(webhook.get("conversionReviewVersions") or [])
        self.client_config = ClientConfig.from_api(webhook.get("clientConfig") or {})
        self.client_factory = client_factory
        self.timeout = timeout
        self.new_uid = new_uid

    def _review_version(self) -> str:
        for v in self.review_versions:
            if v in SUPPORTED_REVIEW_VERSIONS:
                return v
        raise ConversionError("no supported conversion review versions")

    async def convert(self, objs: list[dict], to_api_version: str, list_kind: str = "") -> list[dict]:
        """
        C{objs} converted to C{to_api_version} (objects already there are not sent). With
        C{list_kind}, the objects are the items of a list of that kind, converted in one review and
        reported as kube reports a list's conversion; without, each error names the object's own
        version and kind (C{objs} then normally holds one object).
        """
        if to_api_version not in self.valid_versions:
            raise ConversionError(f"request to convert CR to an invalid group/version: {_gv(to_api_version)}")
        for i, o in enumerate(objs):
            if o.get("apiVersion") not in self.valid_versions:
                if list_kind:
                    raise ConversionError(
                        f"request to convert CR list failed, list index {i} has invalid group/version: "
                        f"{_gv(str(o.get('apiVersion') or ''))}"
                    )
                raise ConversionError(f"request to convert CR from an invalid group/version: {_gv(str(o.get('apiVersion') or ''))}")
        todo = [i for i, o in enumerate(objs) if o.get("apiVersion") != to_api_version and not _is_empty(o)]
        out = list(objs)
        for i, o in enumerate(objs):
            if _is_empty(o) and o.get("apiVersion") != to_api_version:
                out[i] = dict(o, apiVersion=to_api_version)
        if not todo:
            return out
        if list_kind:
            what = _gvk(to_api_version, list_kind)
        else:
            first = objs[todo[0]]
            what = _gvk(str(first.get("apiVersion") or ""), str(first.get("kind") or ""))
        converted = await self._call([objs[i] for i in todo], to_api_version, what)
        if len(converted) != len(todo):
            raise ConversionError(f"conversion webhook for {what} returned {len(converted)} objects, expected {len(todo)}")
        if list_kind:
            for n, i in enumerate(todo):
                out[i] = self._check(objs[i], converted[n], to_api_version, what, n)
        else:
            for n, i in enumerate(todo):
                out[i] = self._check(objs[i], converted[n], to_api_version, what, None)
        return out

    def _check(self, original: dict, converted: Any, to_api_version: str, what: str, index: Optional[int]) -> dict:
        """
        kube's checks of one converted object, and its metadata restored from C{original} but for
        labels and annotations.
        """
        if index is None:
            prefix = f"conversion webhook for {what} returned invalid object at index 0"
        else:
            if not isinstance(converted, dict):
                raise ConversionError(
                    f"conversion webhook for {what} returned invalid converted object at index {index}: "
                    "Object 'Kind' is missing in object"
                )
            # kube counts the object before these checks: their messages give the next index
            prefix = f"conversion webhook for {what} returned invalid converted object at index {index + 1}"
        if not isinstance(converted, dict):
            raise ConversionError(f"{prefix}: Object 'Kind' is missing in object")
        got_gv = _gv(str(converted.get("apiVersion") or ""))
        if got_gv != _gv(to_api_version):
            raise ConversionError(f"{prefix}: invalid groupVersion (expected {_gv(to_api_version)}, received {got_gv})")
        if converted.get("kind") != original.get("kind"):
            raise ConversionError(
                f"{prefix}: invalid kind (expected {original.get('kind') or ''}, received {converted.get('kind') or ''})"
            )
        err = _validate_converted(original, converted)
        if err:
            if index is None:
                raise ConversionError(f"conversion webhook for {what} returned invalid object: {err}")
            raise ConversionError(f"{prefix}: {err}")
        out, err = _restore_object_meta(original, converted)
        if err:
            if index is None:
                raise ConversionError(f"conversion webhook for {what} returned invalid metadata: {err}")
            raise ConversionError(
                f"conversion webhook for {what} returned invalid metadata in object at index {index + 1}: {err}"
            )
        return out

    def _client(self) -> Any:
        factory = self.client_factory
        if factory is None:
            raise ConversionError("no conversion webhook client configured")
        return factory.client_for(self.client_config)

    async def _call(self, objects: list[dict], to_api_version: str, what: str) -> list[Any]:
        """
        Send one review; the converted objects of a successful answer.
        """
        from kapid.transport.client import WebhookCallError

        version = self._review_version()
        uid = self.new_uid()
        review: dict[str, Any] = {
            "kind": "ConversionReview",
            "apiVersion": f"{REVIEW_GROUP}/{version}",
            "request": {"uid": uid, "desiredAPIVersion": to_api_version, "objects": objects},
            "response": {"uid": "", "convertedObjects": None, "result": {"metadata": {}}},
        }
        try:
            client = self._client()
            response = await client.post(orjson.dumps(review), self.timeout)
        except WebhookCallError as e:
            raise ConversionError(f"conversion webhook for {what} failed: {e.message}")
        except ValueError as e:
            raise ConversionError(f"conversion webhook for {what} failed: {e}")
        err = _response_error(response)
        if err:
            raise ConversionError(f"conversion webhook for {what} failed: {err}")
        try:
            answer = orjson.loads(response.body)
        except orjson.JSONDecodeError as e:
            raise ConversionError(f"conversion webhook for {what} failed: couldn't get version/kind; json parse error: {e}")
        if not isinstance(answer, dict):
            raise ConversionError(
                f"conversion webhook for {what} failed: couldn't get version/kind; json parse error: "
                "json: cannot unmarshal into Go value of type struct"
            )
        err = _review_error(answer, version, uid)
        if err:
            raise ConversionError(f"conversion webhook for {what} failed: {err}")
        got = (answer.get("response") or {}).get("convertedObjects")
        return list(got) if isinstance(got, list) else []


def _content_type(response: Any) -> str:
    values = response.headers.getRawHeaders(b"content-type") or [b""]
    return values[0].decode("latin-1")


def _response_error(response: Any) -> str:
    """
    client-go's error for an HTTP answer that is not a 2xx with a body (C{""} when fine).
    """
    body = response.body
    code = response.code
    if 200 <= code <= 206:
        if not body:
            return f"0-length response with status code: {code} and content type: {_content_type(response)}"
        return ""
    try:
        status = orjson.loads(body)
    except orjson.JSONDecodeError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status" and status.get("status") != "Success":
        return str(status.get("message") or "")
    message = "unknown"
    if _content_type(response).lower().startswith("text/"):
        message = body[:1024 * 10].decode("utf-8", "replace").strip()
    return _generic_server_response(code, message)


def _generic_server_response(code: int, server_message: str) -> str:
    """
    apimachinery's C{NewGenericServerResponse} message for C{code} (a POST, no resource).
    """
    fixed = {
        409: "the server reported a conflict",
        404: "the server could not find the requested resource",
        400: "the server rejected our request for an unknown reason",
        401: "the server has asked for the client to provide credentials",
        405: "the server does not allow this method on the requested resource",
        422: "the server rejected our request due to an error in our request",
        503: "the server is currently unable to handle the request",
        504: "the server was unable to return a response in the time allotted, but may still be processing the request",
        429: "the server has received too many requests and has asked us to try again later",
    }
    if code in fixed:
        return fixed[code]
    if code in (403, 415):
        return server_message
    if code == 406:
        if not server_message or server_message == "unknown":
            return "the server was unable to respond with a content type that the client supports"
        return server_message
    if code >= 500:
        return f"an error on the server ({_quote(server_message)}) has prevented the request from succeeding"
    return f"the server responded with the status code {code} but did not return more information"


def _review_error(answer: dict, version: str, uid: str) -> str:
    """
    kube's C{getConvertedObjectsFromResponse} checks (C{""} when the review succeeded).
    """
    if version == "v1":
        got = _gvk(str(answer.get("apiVersion") or ""), str(answer.get("kind") or ""))
        want = _gvk(f"{REVIEW_GROUP}/v1", "ConversionReview")
        if got != want:
            return f"expected webhook response of {want}, got {got}"
    response = answer.get("response")
    if not isinstance(response, dict):
        return "no response provided"
    if version == "v1" and (response.get("uid") or "") != uid:
        return f"expected response.uid={_quote(uid)}, got {_quote(response.get('uid') or '')}"
    result = response.get("result") or {}
    if result.get("status") != "Success":
        if result.get("message"):
            return str(result["message"])
        return f"response.result.status was '{result.get('status') or ''}', not 'Success'"
    return ""


def _validate_converted(original: dict, converted: dict) -> str:
    """
    kube's C{validateConvertedObject}: kind, name, namespace and uid unchanged.
    """
    om, cm = _meta(original), _meta(converted)
    checks = (
        ("kind", original.get("kind") or "", converted.get("kind") or ""),
        ("name", om.get("name") or "", cm.get("name") or ""),
        ("namespace", om.get("namespace") or "", cm.get("namespace") or ""),
        ("UID", om.get("uid") or "", cm.get("uid") or ""),
    )
    for what, want, got in checks:
        if want != got:
            return f"must have the same {what}: {want} != {got}"
    return ""


def _restore_object_meta(original: dict, converted: dict) -> tuple[dict, str]:
    """
    kube's C{restoreObjectMeta}: the original's metadata with the converted object's labels and
    annotations (validated when they changed); C{(object, error text)}.
    """
    if "metadata" not in converted:
        return converted, "missing metadata in converted object"
    response_meta = converted["metadata"]
    if not isinstance(response_meta, dict):
        return converted, f"invalid metadata of type {_go_type(response_meta)} in converted object"
    out = dict(converted)
    original_meta = original.get("metadata")
    meta: dict[str, Any] = copy.deepcopy(original_meta) if isinstance(original_meta, dict) else {}
    out["metadata"] = meta
    for name in ("labels", "annotations"):
        value = response_meta.get(name)
        if value is None:
            meta.pop(name, None)
            continue
        if not isinstance(value, dict):
            return converted, f"invalid metadata.{name} of type {_go_type(value)} in converted object"
        original_value = meta.get(name)
        if original_value is not None and not isinstance(original_value, dict):
            return converted, f"invalid metadata.{name} of type {_go_type(original_value)} in original object"
        original_value = original_value or {}
        changed = len(original_value) != len(value)
        for k, v in value.items():
            if not isinstance(v, str):
                return converted, f"metadata.{name}[{k}] must be a string, but is {_go_type(v)} in converted object"
            if original_value.get(k) != v:
                changed = True
        if changed:
            if name == "labels":
                errs = metautil.validate_labels(value, "metadata.labels")
            else:
                # kube's path here is "metadata.annotation"
                errs = metautil.validate_annotations(value, "metadata.annotation")
            if errs:
                texts = [str(e) for e in errs]
                return converted, texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
        meta[name] = value
    out["metadata"] = metautil.order_meta(meta)
    return out, ""


def converter_for(crd: dict, resolver: Any = None, client_factory: Any = None) -> Any:
    """
    The converter of C{crd}'s C{spec.conversion}: a L{WebhookConverter} (C{needs_async}) for
    C{Webhook}, a L{NoneConverter} otherwise. Without a C{client_factory}, one is made over
    C{resolver} and the global reactor.
    """
    strategy = ((crd.get("spec") or {}).get("conversion") or {}).get("strategy") or "None"
    if strategy != "Webhook":
        return NoneConverter()
    if client_factory is None:
        from twisted.internet import reactor

        from kapid.transport.client import ClientFactory

        client_factory = ClientFactory(reactor, resolver)
    return WebhookConverter(crd, client_factory)
