"""
L{IRESTStrategy}: what the generic registry L{kapid.registry.store.RegistryStore} asks of a resource
(kube's RESTCreateStrategy, RESTUpdateStrategy, RESTDeleteStrategy, RESTGracefulDeleteStrategy and the
status/scale strategies, folded into one interface).
"""

from __future__ import annotations

from zope.interface import Attribute, Interface


class IRESTStrategy(Interface):
    """
    Per-resource behaviour around the generic Store. Objects are JSON dicts in the request's version
    (built-ins have one version; custom resources are converted by the Store).
    """

    name_validation = Attribute(
        "How names are validated: 'subdomain' (default), 'label', 'dns1035' or 'path'."
    )
    allow_create_on_update = Attribute("Whether PUT creates an absent object.")
    allow_unconditional_update = Attribute("Whether PUT without a resourceVersion is allowed.")
    tracks_generation = Attribute("Whether metadata.generation starts at 1 and follows spec changes.")

    def prepare_for_create(obj):
        """
        Clear or set fields before a create (status reset, generation, defaults of the kind).
        """

    def prepare_for_update(obj, old):
        """
        Carry fields over before an update of the main resource (status kept from C{old} when the
        resource has a status subresource; generation bumped when the spec changed).
        """

    def prepare_for_status_update(obj, old):
        """
        Keep everything but C{status} from C{old} (the status subresource).
        """

    def validate(obj):
        """
        Field errors (L{kapid.apimachinery.field.FieldError}) of a new object, beyond ObjectMeta.
        """

    def validate_update(obj, old):
        """
        Field errors of an update, beyond ObjectMeta.
        """

    def canonicalize(obj):
        """
        Normalise an object before it is stored.
        """

    def warnings_on_create(obj):
        """
        Warning texts for a create (C{Warning: 299 - "..."} headers).
        """

    def check_graceful_delete(obj, options):
        """
        For graceful deletion: the grace period in seconds to wait before the object goes (0: delete
        now), or None when the resource has no graceful deletion. C{options} is the DeleteOptions dict.
        """
