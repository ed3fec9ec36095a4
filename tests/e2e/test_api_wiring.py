"""
Support for the API end-to-end tests (no tests here): a L{KapidProcess} whose daemon serves the
resource API even before the lead wires it into C{kapid.tap}. The child process wraps
C{kapid.tap.makeService} so that a service without a C{resource_link_factory} gets
L{kapid.endpoints.link.daemon_resource_link_factory} (with the discovery link in front when it is
there); when C{kapid.tap} wires the stages itself (discovery among C{stage_factories}), it changes
nothing.
"""

from __future__ import annotations

import sys
from typing import Any

from tests.e2e.helpers import TWISTD, KapidProcess

_SCRIPT = r"""
import sys
import kapid.tap as tap

_orig = tap.makeService


class _Stage:
    def __init__(self, front, link):
        self.front, self.link = front, link

    def resource(self):
        return self.front.resource()

    def post_start_hooks(self):
        return self.link.post_start_hooks() + self.front.post_start_hooks()

    def pre_shutdown_hooks(self):
        return self.link.pre_shutdown_hooks() + self.front.pre_shutdown_hooks()

    def health_checks(self):
        return self.link.health_checks() + self.front.health_checks()

    def listed_paths(self):
        return self.front.listed_paths() + self.link.listed_paths()


def makeService(options):
    s = _orig(options)
    inner = getattr(s, "resource_link_factory", None)
    if inner is None:
        from kapid.endpoints.link import daemon_resource_link_factory

        inner = daemon_resource_link_factory(s)

    def make(delegate):
        from kapid.endpoints.link import ResourceLink

        stage = inner(delegate)
        if not isinstance(stage, ResourceLink) or getattr(s, "stage_factories", None):
            return stage
        try:
            from kapid.kubeapi.discovery import DiscoveryLink
        except ImportError:
            return stage
        return _Stage(DiscoveryLink(stage.resource(), stage.registry), stage)

    s.resource_link_factory = make
    return s


tap.makeService = makeService
from twisted.scripts.twistd import run
sys.argv[0] = "twistd"
run()
"""


class APIKapidProcess(KapidProcess):
    """
    A kapid daemon that serves the resource API (see the module docstring).
    """

    def command(self) -> list[str]:
        cmd = super().command()
        assert cmd[: len(TWISTD)] == TWISTD
        return [sys.executable, "-c", _SCRIPT] + cmd[len(TWISTD):]


async def start_api_kapid(testcase: Any, *args: str, **kwargs: Any) -> APIKapidProcess:
    """
    Start an L{APIKapidProcess} in a temp dir of C{testcase}; killed at cleanup.
    """
    process = APIKapidProcess(testcase.mktemp(), args, **kwargs)
    testcase.addCleanup(process.kill)
    await process.start()
    return process
