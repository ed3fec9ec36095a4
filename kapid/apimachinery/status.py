"""
Kubernetes ``Status`` errors.

Every failure kapid answers with is a L{StatusError}: an exception carrying the ``Status`` object
kube-apiserver would send (k8s.io/apimachinery/pkg/api/errors). Handlers raise; one error handler per
chain link renders. The constructors below keep kube's reasons, codes and message formats; the
encoding keeps Go's field order (kind, apiVersion, metadata, status, message, reason, details, code),
compact, with a trailing newline.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional, Sequence

import orjson


def qualified(resource: str, group: str = "") -> str:
    """
    Kube's C{GroupResource.String()}: C{"configmaps"} or C{"deployments.apps"}.
    """
    return f"{resource}.{group}" if group else resource


def qualified_kind(kind: str, group: str = "") -> str:
    """
    Kube's C{GroupKind.String()}: C{"ConfigMap"} or C{"Deployment.apps"}.
    """
    return f"{kind}.{group}" if group else kind


def _quote(s: str) -> str:
    """
    Go's C{%q} for the plain strings that appear in names.
    """
    return orjson.dumps(s).decode("utf-8")


class StatusError(Exception):
    """
    An error that is answered with a Kubernetes C{Status} body.

    @ivar code: the HTTP status code.
    @ivar reason: the C{StatusReason} (C{"NotFound"}, C{"Conflict"}, ...), or C{""}.
    @ivar message: the human-readable message.
    @ivar details: the C{StatusDetails} as a dict in Go's field order, or L{None}.
    @ivar headers: extra response headers (for example C{Retry-After}).
    """

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: Optional[dict[str, Any]] = None,
        headers: Optional[dict[str, str]] = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = dict(headers or {})

    def __repr__(self) -> str:
        return f"StatusError({self.code}, {self.reason!r}, {self.message!r})"

    def to_status(self) -> dict[str, Any]:
        """
        The C{Status} object as a dict in Go's field order.
        """
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            status["reason"] = self.reason
        if self.details is not None:
            status["details"] = self.details
        status["code"] = self.code
        return status

    def encode(self) -> bytes:
        """
        The C{Status} as compact JSON with a trailing newline, as kube-apiserver sends it.
        """
        return orjson.dumps(self.to_status()) + b"\n"


def success_status(details: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """
    A C{Success} C{Status} (what a delete answers for kinds that do not return the object).
    """
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
    }
    if details is not None:
        status["details"] = details
    return status


def _details(
    name: str = "",
    group: str = "",
    kind: str = "",
    uid: str = "",
    causes: Optional[Sequence[dict[str, str]]] = None,
    retry_after_seconds: int = 0,
) -> dict[str, Any]:
    """
    C{StatusDetails} in Go's field order, omitting empty fields.
    """
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    if kind:
        d["kind"] = kind
    if uid:
        d["uid"] = uid
    if causes:
        d["causes"] = list(causes)
    if retry_after_seconds:
        d["retryAfterSeconds"] = retry_after_seconds
    return d


def not_found(resource: str, name: str, group: str = "") -> StatusError:
    """
    404 C{NotFound}: C{configmaps "x" not found}.
    """
    return StatusError(
        404,
        "NotFound",
        f"{qualified(resource, group)} {_quote(name)} not found",
        _details(name=name, group=group, kind=resource),
    )


def path_not_found() -> StatusError:
    """
    404 for a path no link serves: C{the server could not find the requested resource}.
    """
    return StatusError(
        404, "NotFound", "the server could not find the requested resource", {}
    )


def already_exists(resource: str, name: str, group: str = "") -> StatusError:
    """
    409 C{AlreadyExists}: C{configmaps "x" already exists}.
    """
    return StatusError(
        409,
        "AlreadyExists",
        f"{qualified(resource, group)} {_quote(name)} already exists",
        _details(name=name, group=group, kind=resource),
    )


#: The message kube attaches to an optimistic-lock conflict.
OPTIMISTIC_LOCK_MESSAGE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def conflict(
    resource: str, name: str, err: str = OPTIMISTIC_LOCK_MESSAGE, group: str = ""
) -> StatusError:
    """
    409 C{Conflict}: C{Operation cannot be fulfilled on configmaps "x": <err>}.
    """
    return StatusError(
        409,
        "Conflict",
        f"Operation cannot be fulfilled on {qualified(resource, group)} {_quote(name)}: {err}",
        _details(name=name, group=group, kind=resource),
    )


def invalid(
    kind: str, name: str, errors: Sequence[Any], group: str = ""
) -> StatusError:
    """
    422 C{Invalid} from field errors (L{kapid.apimachinery.field.FieldError}s):
    C{ConfigMap "x" is invalid: metadata.name: Invalid value: ...}, with C{details.causes}.
    """
    causes = [e.cause() for e in errors]
    if len(errors) == 1:
        text = str(errors[0])
    else:
        text = "[" + ", ".join(str(e) for e in errors) + "]"
    return StatusError(
        422,
        "Invalid",
        f"{qualified_kind(kind, group)} {_quote(name)} is invalid: {text}",
        _details(name=name, group=group, kind=kind, causes=causes),
    )


def bad_request(message: str) -> StatusError:
    """
    400 C{BadRequest} with the given message.
    """
    return StatusError(400, "BadRequest", message)


def method_not_supported(resource: str, action: str, group: str = "") -> StatusError:
    """
    405 C{MethodNotAllowed}: C{<action> is not supported on resources of kind "<resource>"}.
    """
    return StatusError(
        405,
        "MethodNotAllowed",
        f"{action} is not supported on resources of kind {_quote(qualified(resource, group))}",
        _details(group=group, kind=resource),
    )


def not_acceptable(accepted: Iterable[str]) -> StatusError:
    """
    406 C{NotAcceptable}: C{only the following media types are accepted: ...}.
    """
    return StatusError(
        406,
        "NotAcceptable",
        "only the following media types are accepted: " + ", ".join(accepted),
    )


def unsupported_media_type(accepted: Iterable[str]) -> StatusError:
    """
    415 C{UnsupportedMediaType}: C{the body of the request was in an unknown format - ...}.
    """
    return StatusError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


def expired(message: str) -> StatusError:
    """
    410 C{Expired} (kube's C{NewResourceExpired}), e.g. C{too old resource version: 5 (10)}.
    """
    return StatusError(410, "Expired", message)


def gone(message: str) -> StatusError:
    """
    410 C{Gone} (kube's C{NewGone}).
    """
    return StatusError(410, "Gone", message)


def request_entity_too_large(message: str) -> StatusError:
    """
    413 C{RequestEntityTooLarge}: C{Request entity too large: <message>}.
    """
    return StatusError(413, "RequestEntityTooLarge", f"Request entity too large: {message}")


def too_many_requests(message: str, retry_after_seconds: int = 1) -> StatusError:
    """
    429 C{TooManyRequests} with C{Retry-After}.
    """
    return StatusError(
        429,
        "TooManyRequests",
        message,
        _details(retry_after_seconds=retry_after_seconds),
        headers={"Retry-After": str(retry_after_seconds)},
    )


def timeout(message: str, retry_after_seconds: int = 0) -> StatusError:
    """
    504 C{Timeout}: C{Timeout: <message>}.
    """
    details = _details(retry_after_seconds=retry_after_seconds) if retry_after_seconds else None
    return StatusError(504, "Timeout", f"Timeout: {message}", details)


def internal_error(err: str) -> StatusError:
    """
    500 C{InternalError}: C{Internal error occurred: <err>}.
    """
    return StatusError(
        500,
        "InternalError",
        f"Internal error occurred: {err}",
        _details(causes=[{"message": err}]),
    )


def service_unavailable(message: str) -> StatusError:
    """
    503 C{ServiceUnavailable}.
    """
    return StatusError(503, "ServiceUnavailable", message)


def unauthorized(message: str = "Unauthorized") -> StatusError:
    """
    401 C{Unauthorized}.
    """
    return StatusError(401, "Unauthorized", message)


def forbidden(resource: str, name: str, err: str, group: str = "") -> StatusError:
    """
    403 C{Forbidden}: C{<resource> "<name>" is forbidden: <err>} (without a name:
    C{<resource> is forbidden: <err>}).
    """
    qr = qualified(resource, group)
    if name:
        message = f"{qr} {_quote(name)} is forbidden: {err}"
    else:
        message = f"{qr} is forbidden: {err}"
    return StatusError(
        403, "Forbidden", message, _details(name=name, group=group, kind=resource)
    )
