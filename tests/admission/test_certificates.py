"""
Tests for L{kapid.admission.plugins.certificates}: approving and signing CertificateSigningRequests
needs the verb on the signer (or its domain wildcard).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from kapid.admission.chain import AdmissionChain
from kapid.admission.plugins.certificates import CertificateApproval, CertificateSigning
from kapid.auth.interfaces import ALLOW, NO_OPINION, Decision, UserInfo
from tests.admission.helpers import api_with
from tests.admission.test_defaults import csr_pem

CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests"


class Authorizer:
    """
    Allows C{alice} to approve for C{example.com/*} and C{bob} to sign for C{example.com/x}.
    """

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str]] = []

    def authorize(self, a: object) -> Decision:
        self.asked.append((a.user.name, a.verb, a.name))  # type: ignore[attr-defined]
        if (a.user.name, a.verb, a.name) in (("alice", "approve", "example.com/*"), ("bob", "sign", "example.com/x")):  # type: ignore[attr-defined]
            return Decision(ALLOW)
        return Decision(NO_OPINION)


class SignerTests(SynchronousTestCase):
    """
    Approval and signing.
    """

    def setUp(self) -> None:
        self.authz = Authorizer()
        self.api = api_with(self)
        self.api.link.admission = AdmissionChain([
            CertificateApproval(self.api.context, self.authz), CertificateSigning(self.api.context, self.authz)])
        code, body, _ = self.api.post(CSRS, {
            "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": "c"},
            "spec": {"request": csr_pem("devs"), "signerName": "example.com/x", "usages": ["client auth"]}})
        assert code == 201, body
        self.csr = body

    def approve(self, user: str) -> tuple[int, dict]:
        csr = self.api.get(CSRS + "/c")[1]
        csr["status"] = {"conditions": [{"type": "Approved", "status": "True", "reason": "R", "message": "m"}]}
        code, body, _ = self.api.as_user(UserInfo(user)).put(CSRS + "/c/approval", csr)
        return code, body

    def test_approval(self) -> None:
        """
        Without approve on the signer it is kube's 403; with the domain wildcard it passes.
        """
        code, body = self.approve("mallory")
        self.assertEqual(code, 403)
        self.assertEqual(
            body["message"],
            'certificatesigningrequests.certificates.k8s.io "c" is forbidden: user not permitted to approve requests '
            'with signerName "example.com/x"',
        )
        self.assertEqual(self.authz.asked[-2:], [("mallory", "approve", "example.com/x"), ("mallory", "approve", "example.com/*")])
        code, body = self.approve("alice")
        self.assertEqual(code, 200, body)

    def test_signing(self) -> None:
        """
        Setting status.certificate needs sign on the signer.
        """
        csr = self.api.get(CSRS + "/c")[1]
        csr["status"] = {"certificate": "Zm9v"}
        code, body, _ = self.api.as_user(UserInfo("alice")).put(CSRS + "/c/status", csr)
        self.assertEqual(code, 403)
        self.assertEqual(
            body["message"],
            'certificatesigningrequests.certificates.k8s.io "c" is forbidden: user not permitted to sign requests '
            'with signerName "example.com/x"',
        )
        code, body, _ = self.api.as_user(UserInfo("bob")).put(CSRS + "/c/status", csr)
        self.assertNotEqual(code, 403, body)
