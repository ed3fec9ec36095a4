"""
PATCH: JSON patch (RFC 6902), merge patch (RFC 7386), strategic merge patch and server-side apply
(C{application/apply-patch+yaml}), applied to the current object inside the Store's
read-modify-write, as kube's C{patchResource} does.
"""

from __future__ import annotations

from typing import Any, Optional

from twisted.web.iweb import IRequest

from kapid.storage.codec import deep_copy
from kapid.apimachinery import apply as ssa
from kapid.apimachinery import jsonpatch as json_patch
from kapid.apimachinery.omitempty import omit_empty
from kapid.apimachinery import field
from kapid.apimachinery import serialization as ser
from kapid.apimachinery.query import Query
from kapid.apimachinery.status import StatusError, bad_request, invalid, unsupported_media_type
from kapid.apimachinery.strategicpatch import apply_strategic_patch, merge_patch
from kapid.endpoints import request as req
from kapid.endpoints.request import Target
from kapid.server.context import user

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

_BUILTIN_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH, APPLY_PATCH)
_CUSTOM_TYPES = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)


def _rejected(message: str) -> StatusError:
    """
    kube's C{NewGenericServerResponse(422, ...)} for a patch that cannot be applied.
    """
    return StatusError(
        422,
        "Invalid",
        "the server rejected our request due to an error in our request",
        {"causes": [{"reason": "UnexpectedServerResponse", "message": message}]},
    )


def patch_object(current: dict, ptype: str, patch: Any, schema: Any) -> dict:
    """
    Apply a non-apply patch to a copy of C{current}.
    """
    if ptype == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request(
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
            )
        try:
            out = json_patch.apply_patch(current, patch)
        except json_patch.JSONPatchError as e:
            raise _rejected(str(e))
        if not isinstance(out, dict):
            raise _rejected("patched object is not an object")
        return out
    if not isinstance(patch, dict):
        raise bad_request(
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        )
    if ptype == MERGE_PATCH:
        return merge_patch(current, patch)
    return apply_strategic_patch(current, patch, schema)


async def serve_patch(link: Any, request: IRequest, target: Target, query: Query) -> bytes:
    """
    Serve a PATCH request.
    """
    from kapid.endpoints.link import _field_manager

    ptype = req.media_type(request)
    custom = req.is_custom(target.resource)
    allowed = _CUSTOM_TYPES if custom else _BUILTIN_TYPES
    if ptype not in allowed:
        raise unsupported_media_type(allowed)
    body = req.read_body(request)
    dry_run = query.dry_run("PatchOptions")
    if ptype != APPLY_PATCH and query.has("force"):
        raise invalid(
            "PatchOptions", "", [field.forbidden("force", "may not be specified for non-apply patch")], "meta.k8s.io"
        )
    manager = _field_manager(request, query, "PatchOptions")
    directive = req.field_validation(query, "PatchOptions")
    store = link.store_for(target.resource)
    version = target.version
    api_version = target.resource.api_version(version)
    now = link.clock.seconds()

    if target.subresource == "scale":
        from kapid.endpoints.scale import get_scale, update_scale

        if ptype == APPLY_PATCH:
            raise unsupported_media_type(_CUSTOM_TYPES[:2] + (STRATEGIC_PATCH,))
        patch, _ = ser.decode_json(body)
        scale = await get_scale(store, target)
        from kapid.endpoints.request import _schema_by_name

        new_scale = patch_object(scale, ptype, patch, _schema_by_name("io.k8s.api.autoscaling.v1.Scale"))
        if ptype != JSON_PATCH:
            # a patch that does not name the resourceVersion is unconditional
            if "resourceVersion" not in ((patch.get("metadata") or {}) if isinstance(patch, dict) else {}):
                new_scale.get("metadata", {}).pop("resourceVersion", None)
        else:
            new_scale.get("metadata", {}).pop("resourceVersion", None)
        out = await update_scale(store, target, new_scale, dry_run, manager, link.clock, _admission(link, request, target, query, dry_run))
        return link.render_object(request, query, target, out)

    schema = req.schema_for(target.resource, version)

    if ptype == APPLY_PATCH:
        return await _serve_apply(link, request, target, query, body, dry_run, manager, directive, schema, custom)

    if not body.strip():
        raise bad_request("the body of the request was empty")
    patch, _ = ser.decode_json(body)
    subresource = target.subresource
    has_status = target.resource.subresource("status") is not None

    def updater(current: Optional[dict]) -> dict:
        assert current is not None
        new = patch_object(current, ptype, patch, schema)
        new = _after_decode(link, request, target, new, directive)
        ssa.record_update(current, new, manager, api_version, now, schema, subresource, custom, has_status)
        return new

    adm = _admission(link, request, target, query, dry_run)
    out, _ = await store.update(
        target.namespace, target.name, adm.mutating_updater(updater) if adm is not None else updater,
        version, subresource, dry_run, user=user(request), admit=adm.validate_update if adm is not None else None,
    )
    link.warn_on_update(request, target, out)
    return link.render_object(request, query, target, out)


def _admission(link: Any, request: IRequest, target: Target, query: Query, dry_run: bool) -> Any:
    """
    The request's admission (kube admits a patch with the C{UpdateOptions} it implies).
    """
    from kapid.admission.request import for_request, update_options

    return for_request(link, request, target, dry_run, update_options(query, dry_run))


def _after_decode(link: Any, request: IRequest, target: Target, obj: dict, directive: str) -> dict:
    """
    What decoding does to a patched object: type check, unknown fields, defaults.
    """
    obj = req.check_type(obj, target.resource, target.version)
    req.apply_field_validation(request, target.resource, target.version, obj, None, directive)
    store = link.store_for(target.resource)
    default = getattr(store.strategy, "default", None)
    if default is not None:
        default(target.version, obj)
    # what decoding into kube's Go type drops: empty omitempty fields (defaulted ones too)
    omit_empty(obj)
    return obj


async def _serve_apply(
    link: Any,
    request: IRequest,
    target: Target,
    query: Query,
    body: bytes,
    dry_run: bool,
    manager: str,
    directive: str,
    schema: Any,
    custom: bool,
) -> bytes:
    if not query.get("fieldManager"):
        raise invalid(
            "PatchOptions", "", [field.required("fieldManager", "is required for apply patch")], "meta.k8s.io"
        )
    force = query.bool("force")
    applied = ser.decode_yaml(body)
    if not isinstance(applied, dict):
        raise bad_request("error decoding YAML: the applied configuration is not an object")
    if not applied.get("apiVersion") or not applied.get("kind"):
        missing = "apiVersion" if not applied.get("apiVersion") else "kind"
        raise bad_request(f"{missing} must be set")
    expected = target.resource.api_version(target.version)
    if applied.get("apiVersion") != expected:
        raise bad_request(
            f"Incorrect version specified in apply patch. Specified patch version: {applied.get('apiVersion')}, "
            f"expected: {expected}"
        )
    if applied.get("metadata") is not None and not isinstance(applied["metadata"], dict):
        raise bad_request(req.metadata_type_error(applied["metadata"]))
    if (applied.get("metadata") or {}).get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")
    applied = req.check_type(applied, target.resource, target.version)
    meta = applied.get("metadata") or {}
    if (meta.get("name") or "") != target.name:
        raise bad_request(
            f"the name of the object ({meta.get('name') or ''}) does not match the name on the URL "
            f"({target.name})"
        )
    if schema is not None and not custom:
        # kube types the configuration before anything else: a field the schema does not declare
        # fails the apply whatever the fieldValidation
        undeclared = ssa.undeclared_fields(applied, schema)
        if undeclared:
            raise ssa.typed_patch_error(applied, undeclared)
    if directive == "Strict" and schema is not None and req._structural is not None and not custom:
        unknown = req._structural.unknown_fields(schema, applied)
        if unknown:
            raise bad_request(
                req._structural.cannot_handle_message(
                    target.resource.kind, target.version,
                    req._structural.strict_decoding_message(unknown),
                )
            )
    # a custom resource's unknown fields are its CRD schema's (the strategy's), which does not
    # declare apiVersion, kind and metadata: checked (and pruned) there
    req.apply_field_validation(
        request, target.resource, target.version, applied, None, directive if custom else "Ignore"
    )
    store = link.store_for(target.resource)
    version = target.version
    api_version = target.resource.api_version(version)
    now = link.clock.seconds()
    subresource = target.subresource

    def updater(current: Optional[dict]) -> dict:
        new = ssa.apply(
            current, deep_copy(applied), manager, force, api_version, now, schema, subresource, custom,
            target.resource.subresource("status") is not None,
        )
        default = getattr(store.strategy, "default", None)
        if default is not None:
            default(version, new)
        return new

    adm = _admission(link, request, target, query, dry_run)
    out, created = await store.update(
        target.namespace, target.name, adm.mutating_updater(updater) if adm is not None else updater,
        version, subresource, dry_run, force_allow_create=not subresource, user=user(request),
        admit=adm.validate_update if adm is not None else None,
    )
    link.warn_on_update(request, target, out)
    return link.render_object(request, query, target, out, 201 if created else 200)
