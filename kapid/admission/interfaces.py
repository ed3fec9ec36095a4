"""
The admission seam: L{IMutatingAdmission} and L{IValidatingAdmission} plugins judge one
L{Attributes} per request (kube's C{admission.Attributes}), and L{forbidden} is kube's
C{admission.NewForbidden}.
"""

from __future__ import annotations

from typing import Any, Optional

import attr
from zope.interface import Attribute, Interface

from kapid.apimachinery.status import StatusError
from kapid.apimachinery.status import forbidden as _forbidden

CREATE = "CREATE"
UPDATE = "UPDATE"
DELETE = "DELETE"
CONNECT = "CONNECT"

OPERATIONS = (CREATE, UPDATE, DELETE, CONNECT)


@attr.s(auto_attribs=True, eq=False)
class Attributes:
    """
    One admission request (kube's C{admission.AttributesRecord}).

    @ivar kind: the request's kind as C{(group, version, kind)} (a subresource's own kind, e.g.
        C{("autoscaling", "v1", "Scale")}).
    @ivar resource: C{(group, version, plural)} of the request.
    @ivar object: the new object (a dict in the request's version; mutating plugins change it in
        place or replace it), None for a delete.
    @ivar old_object: the current object for an update or delete.
    @ivar options: the request's C{CreateOptions}/C{UpdateOptions}/C{DeleteOptions} as a dict.
    @ivar user: the requester (a L{kapid.auth.interfaces.UserInfo}) or None.
    @ivar warnings: C{Warning} texts the plugins returned, in order, without duplicates.
    @ivar annotations: audit annotations the plugins added.
    """

    kind: tuple[str, str, str]
    resource: tuple[str, str, str]
    operation: str
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    object: Optional[dict] = None
    old_object: Optional[dict] = None
    options: Optional[dict] = None
    dry_run: bool = False
    user: Any = None
    warnings: list[str] = attr.ib(factory=list)
    annotations: dict[str, str] = attr.ib(factory=dict)
    #: set by the request glue: C{on_warning(text)} as each warning arrives
    on_warning: Any = None
    #: what to undo if the write does not happen after all (callables, possibly async): a plugin
    #: that took something (a quota charge) adds its undo here
    rollbacks: list[Any] = attr.ib(factory=list)
    #: lookups already made for this request (shared by its phases; see L{PluginContext})
    memo: dict = attr.ib(factory=dict)
    #: kube's reinvocation context: a plugin asks for a second mutating pass (a webhook with
    #: C{reinvocationPolicy: IfNeeded} whose object changed after it), run with C{reinvoking} set
    reinvoke_requested: bool = False
    reinvoking: bool = False

    def add_warning(self, text: str) -> None:
        """
        Record a C{Warning} for the response (identical texts once, as kube's recorder does).
        """
        if text in self.warnings:
            return
        self.warnings.append(text)
        if self.on_warning is not None:
            self.on_warning(text)

    def add_annotation(self, key: str, value: str) -> None:
        """
        Record an audit annotation (the first value of a key wins, as in kube).
        """
        self.annotations.setdefault(key, value)

    @property
    def group_resource(self) -> tuple[str, str]:
        """
        C{(group, plural)}.
        """
        return self.resource[0], self.resource[2]

    def is_kind(self, group: str, kind: str) -> bool:
        """
        Whether the request's kind is C{group}/C{kind} (any version).
        """
        return self.kind[0] == group and self.kind[2] == kind

    def is_resource(self, group: str, plural: str, subresource: str = "") -> bool:
        """
        Whether the request is for C{group}/C{plural} (and exactly C{subresource}).
        """
        return self.resource[0] == group and self.resource[2] == plural and self.subresource == subresource


class IMutatingAdmission(Interface):
    """
    An admission plugin that may change the object (kube's C{MutationInterface}).
    """

    name = Attribute("the plugin's name, e.g. C{ServiceAccount}")

    def handles(operation: str) -> bool:
        """
        Whether the plugin looks at requests of C{operation}.
        """

    def admit(attributes: Attributes) -> Any:
        """
        Change C{attributes.object} as the plugin must, or raise a L{StatusError}; may return a
        Deferred or coroutine.
        """


class IValidatingAdmission(Interface):
    """
    An admission plugin that only judges (kube's C{ValidationInterface}).
    """

    name = Attribute("the plugin's name")

    def handles(operation: str) -> bool:
        """
        Whether the plugin looks at requests of C{operation}.
        """

    def validate(attributes: Attributes) -> Any:
        """
        Raise a L{StatusError} to refuse the request; may return a Deferred or coroutine.
        """


def resource_name(attributes: Attributes) -> str:
    """
    kube's C{extractResourceName}: the request's name, else the object's name or generateName,
    else C{Unknown}.
    """
    if attributes.name:
        return attributes.name
    obj = attributes.object
    if isinstance(obj, dict):
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            return "Unknown/errorGettingMetadata"
        return meta.get("name") or meta.get("generateName") or "Unknown"
    return "Unknown"


def forbidden(attributes: Attributes, message: str) -> StatusError:
    """
    kube's C{admission.NewForbidden}: 403 for the request's resource and name.
    """
    group, plural = attributes.group_resource
    return _forbidden(plural, resource_name(attributes), message, group)
