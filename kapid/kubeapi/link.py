"""
The kube API link's non-resource part: C{/version}, C{/healthz}, C{/livez}, C{/readyz} (and their
per-check paths), C{/} (the path listing), C{/metrics} and C{/debug/pprof}. Its delegate is the
next stage: the resource API (C{/api}, C{/apis}, C{/openapi}) when wired in, else apiextensions.
"""

from __future__ import annotations

import io
import platform
import sys
from typing import Any, Callable

import orjson
from klein import Klein
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.resource import IResource

from kapid import _version
from kapid.server.healthz import HEALTHZ, LIVEZ, READYZ, HealthRegistry, render_health, render_single_check
from kapid.server.link import Decline, Link


def version_info() -> dict[str, str]:
    """
    Kube's C{version.Info} for kapid (plus C{kapidVersion}).
    """
    return {
        "major": _version.KUBE_MAJOR,
        "minor": _version.KUBE_MINOR,
        "emulationMajor": _version.KUBE_MAJOR,
        "emulationMinor": _version.KUBE_MINOR,
        "minCompatibilityMajor": _version.KUBE_MAJOR,
        "minCompatibilityMinor": str(int(_version.KUBE_MINOR) - 1),
        "gitVersion": _version.KUBE_GIT_VERSION,
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "1970-01-01T00:00:00Z",
        "goVersion": f"python{platform.python_version()}",
        "compiler": platform.python_implementation(),
        "platform": f"{sys.platform}/{platform.machine().replace('x86_64', 'amd64').replace('aarch64', 'arm64')}",
        "kapidVersion": _version.__version__,
    }


def write_json(request: Any, obj: Any, code: int = 200) -> bytes:
    """
    Kube's C{WriteRawJSON}: indented JSON.
    """
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"application/json")
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2)


log = Logger()

_profiling = [False]


class KubeAPILink(Link):
    """
    The non-resource endpoints of kube-apiserver.

    @param health: the served health checks (all links').
    @param paths: returns the paths listed at C{/} (all links').
    @param metrics: a L{kapid.server.metrics.ServerMetrics}, or None.
    """

    app = Klein()

    def __init__(
        self,
        delegate: IResource,
        health: HealthRegistry,
        paths: Callable[[], list[str]],
        clock: IReactorTime,
        metrics: Any = None,
        profiling: bool = True,
    ) -> None:
        super().__init__(delegate)
        self.health = health
        self.paths = paths
        self.clock = clock
        self.metrics = metrics
        self.profiling = profiling

    def listed_paths(self) -> list[str]:
        """
        C{/version}, C{/metrics}, the health paths and C{/debug/pprof} when profiling.
        """
        paths = ["/version", "/metrics"]
        for kind in (HEALTHZ, LIVEZ, READYZ):
            paths.append(f"/{kind}")
            paths += [f"/{kind}/{c.name}" for c in self.health.for_kind(kind)]
        if self.profiling:
            paths.append("/debug/pprof")
        return paths

    @app.route("/version", methods=["GET", "HEAD"], strict_slashes=False)
    def version(self, request: Any) -> bytes:
        """
        Kube's C{version.Info}.
        """
        return write_json(request, version_info())

    @app.route("/", methods=["GET", "HEAD"])
    def index(self, request: Any) -> bytes:
        """
        Kube's C{RootPaths}: every served path, sorted.
        """
        return write_json(request, {"paths": sorted(set(self.paths()))})

    @app.route("/healthz", branch=True)
    def healthz(self, request: Any) -> Deferred:
        """
        C{/healthz} and C{/healthz/<check>}.
        """
        return self._health(request, HEALTHZ)

    @app.route("/livez", branch=True)
    def livez(self, request: Any) -> Deferred:
        """
        C{/livez} and C{/livez/<check>}.
        """
        return self._health(request, LIVEZ)

    @app.route("/readyz", branch=True)
    def readyz(self, request: Any) -> Deferred:
        """
        C{/readyz} and C{/readyz/<check>}.
        """
        return self._health(request, READYZ)

    def _health(self, request: Any, kind: str) -> Deferred:
        checks = self.health.for_kind(kind)
        rest = request.path.decode("utf-8", "replace")[len(kind) + 1:].strip("/")
        if not rest:
            return Deferred.fromCoroutine(render_health(request, kind, checks))
        for check in checks:
            if check.name == rest:
                return Deferred.fromCoroutine(render_single_check(request, check))
        raise Decline()

    @app.route("/metrics", methods=["GET", "HEAD"])
    def metrics_(self, request: Any) -> bytes:
        """
        Prometheus metrics.
        """
        if self.metrics is None:
            raise Decline()
        request.setHeader(b"Content-Type", self.metrics.content_type.encode("ascii"))
        return self.metrics.render()

    @app.route("/debug/pprof/", methods=["GET"])
    def pprof_index(self, request: Any) -> bytes:
        """
        The profiling index.
        """
        if not self.profiling:
            raise Decline()
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"/debug/pprof/profile?seconds=N: profile of the reactor thread for N seconds (pstats text)\n"

    @app.route("/debug/pprof/profile", methods=["GET"])
    def pprof_profile(self, request: Any) -> Any:
        """
        Profile the reactor thread for C{?seconds=} (default 30) and answer the statistics as text,
        sorted by C{?sort=} (a pstats key: C{cumulative}, the default, C{tottime}, C{calls}, ...), the
        first C{?lines=} (default 40) rows.
        """
        if not self.profiling:
            raise Decline()
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        try:
            seconds = float((request.args.get(b"seconds") or [b"30"])[0])
            if seconds <= 0:
                raise ValueError(seconds)
        except ValueError:
            request.setResponseCode(400)
            return b"Bad Request: invalid value for \"seconds\"\n"
        sort = (request.args.get(b"sort") or [b"cumulative"])[0].decode("ascii", "replace")
        if sort not in ("cumulative", "tottime", "calls", "ncalls", "time", "cumtime", "pcalls", "filename", "name"):
            request.setResponseCode(400)
            return b"Bad Request: invalid value for \"sort\"\n"
        try:
            lines = int((request.args.get(b"lines") or [b"40"])[0])
            if lines <= 0:
                raise ValueError(lines)
        except ValueError:
            request.setResponseCode(400)
            return b"Bad Request: invalid value for \"lines\"\n"
        if _profiling[0]:
            request.setResponseCode(500)
            return b"Could not enable CPU profiling: cpu profiling already in use\n"
        import cProfile  # here, not at start-up: profiling is rare
        import pstats

        profile = cProfile.Profile()
        _profiling[0] = True
        log.info("Profiling the reactor thread for {seconds}s", seconds=seconds)
        profile.enable()
        d: Deferred = Deferred()

        def finish() -> None:
            profile.disable()
            _profiling[0] = False
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(sort).print_stats(lines)
            d.callback(out.getvalue().encode("utf-8"))

        call = self.clock.callLater(seconds, finish)

        def gone(_: Any) -> None:
            if call.active():
                call.cancel()
                profile.disable()
                _profiling[0] = False

        request.notifyFinish().addErrback(gone)
        return d
