"""
End-to-end tests of the C{twistd kapid} daemon: a real process driven by real kubectl.
"""

from __future__ import annotations

from twisted.trial.unittest import TestCase

from tests.e2e.helpers import run_kubectl, start_kapid


class DaemonTests(TestCase):
    """
    A real kapid process.
    """

    timeout = 120

    async def test_kubectl_readyz_with_admin_kubeconfig(self) -> None:
        """
        kubectl with the generated admin kubeconfig reads /readyz with verification on.
        """
        kapid = await start_kapid(self, "--storage-backend=memory")
        result = run_kubectl("1.32", ["get", "--raw", "/readyz"], kubeconfig=kapid.kubeconfig, home=self.mktemp())
        self.assertEqual((result.returncode, result.stdout), (0, "ok"), result.stderr)
        self.assertEqual(await kapid.stop(), 0)
