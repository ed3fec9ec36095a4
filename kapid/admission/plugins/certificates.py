"""
C{CertificateApproval} and C{CertificateSigning} (kube's C{plugin/pkg/admission/certificates}):
approving (or denying) a CertificateSigningRequest needs the C{approve} verb on its signer, and
issuing its certificate (C{status.certificate}) the C{sign} verb, on C{certificates.k8s.io}
C{signers} named after the signer or C{<domain>/*}.
"""

from __future__ import annotations

from typing import Any, Optional

from zope.interface import implementer

from kapid.admission.chain import register
from kapid.admission.context import PluginContext
from kapid.admission.interfaces import UPDATE, Attributes, IValidatingAdmission, forbidden
from kapid.registry.store import _maybe_await


async def authorized_for_signer(authorizer: Any, user: Any, verb: str, signer: str) -> bool:
    """
    kube's C{IsAuthorizedForSignerName}: the signer's own name, then its C{<domain>/*} wildcard.
    """
    from kapid.auth.interfaces import ALLOW, Attributes as AuthzAttributes, UserInfo

    if user is None:
        user = UserInfo("")
    names = [signer]
    if "/" in signer:
        names.append(signer.split("/", 1)[0] + "/*")
    for name in names:
        decision = await _maybe_await(authorizer.authorize(AuthzAttributes(
            user=user, verb=verb, is_resource_request=True, api_group="certificates.k8s.io", api_version="*",
            resource="signers", name=name,
        )))
        if getattr(decision, "decision", None) == ALLOW:
            return True
    return False


class _SignerPlugin:
    name = ""
    verb = ""
    subresource = ""

    def __init__(self, context: PluginContext, authorizer: Any = None) -> None:
        self.context = context
        self._authorizer = authorizer

    def handles(self, operation: str) -> bool:
        return operation == UPDATE

    def authorizer(self) -> Optional[Any]:
        """
        The server's authorizer (made from C{--authorization-mode} on first use).
        """
        if self._authorizer is None:
            config = self.context.config
            service = self.context.extras.get("service")
            modes = getattr(getattr(config, "authorization", None), "modes", None)
            if modes is None:
                return None
            from kapid.auth.authorizers import build_authorizer

            self._authorizer = build_authorizer(modes, service=service)
        return self._authorizer

    def applies(self, a: Attributes) -> bool:
        return a.is_resource("certificates.k8s.io", "certificatesigningrequests", self.subresource)

    async def validate(self, a: Attributes) -> None:
        """
        Refuse a requester who may not act for the signer.
        """
        if not self.applies(a) or not isinstance(a.old_object, dict):
            return
        authorizer = self.authorizer()
        if authorizer is None:
            return
        signer = ((a.old_object.get("spec") or {}).get("signerName")) or ""
        if not await authorized_for_signer(authorizer, a.user, self.verb, signer):
            verb = "approve" if self.verb == "approve" else "sign"
            raise forbidden(a, f'user not permitted to {verb} requests with signerName "{signer}"')


@implementer(IValidatingAdmission)
class CertificateApproval(_SignerPlugin):
    """
    Writes to C{/approval} need C{approve} on the signer.
    """

    name = "CertificateApproval"
    verb = "approve"
    subresource = "approval"


@implementer(IValidatingAdmission)
class CertificateSigning(_SignerPlugin):
    """
    Writes to C{/status} that change the certificate need C{sign} on the signer.
    """

    name = "CertificateSigning"
    verb = "sign"
    subresource = "status"

    def applies(self, a: Attributes) -> bool:
        if not super().applies(a):
            return False
        new = ((a.object or {}).get("status") or {}).get("certificate")
        old = ((a.old_object or {}).get("status") or {}).get("certificate")
        return new != old


@register("CertificateApproval")
def _approval(context: PluginContext, config: Any) -> CertificateApproval:
    return CertificateApproval(context)


@register("CertificateSigning")
def _signing(context: PluginContext, config: Any) -> CertificateSigning:
    return CertificateSigning(context)
