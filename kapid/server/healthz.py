"""
Health checks and kube-apiserver's C{/healthz}, C{/livez} and C{/readyz} answers.

A L{HealthCheck} has a name and a C{check()} that returns (or fires a Deferred with) None when
healthy and raises (errbacks) otherwise. L{HealthRegistry} holds the checks of every link; the kube
API link renders them with L{render_health} and L{render_single_check} in kube's text format.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import attr
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

log = Logger()

LIVEZ = "livez"
READYZ = "readyz"
HEALTHZ = "healthz"


@attr.s(frozen=True, auto_attribs=True)
class HealthCheck:
    """
    One named check; C{kinds} says which of healthz, livez and readyz include it.
    """

    name: str
    check: Callable[[], Any]
    kinds: tuple[str, ...] = (HEALTHZ, LIVEZ, READYZ)


def ping_check() -> HealthCheck:
    """
    Kube's C{ping}: always healthy.
    """
    return HealthCheck("ping", lambda: None)


def log_check() -> HealthCheck:
    """
    Kube's C{log}: the logging system works (kapid's logs never block, so always healthy).
    """
    return HealthCheck("log", lambda: None)


def storage_check(kv: Any, clock: IReactorTime, timeout: float = 2.0) -> HealthCheck:
    """
    Kube's C{etcd}: the storage answers within C{timeout} (L{IKV.check_health}).
    """

    def timed_out(result: Any, seconds: float) -> None:
        raise TimeoutError(f"the storage did not answer within {seconds:g} s")

    def check() -> Deferred:
        d = maybeDeferred(kv.check_health)
        if timeout > 0:
            d.addTimeout(timeout, clock, onTimeoutCancel=timed_out)
        return d

    return HealthCheck("etcd", check)


def storage_readiness_check(kv: Any, clock: IReactorTime, timeout: float = 2.0) -> HealthCheck:
    """
    Kube's C{etcd-readiness} (readyz only, after C{etcd}): the storage answers within C{timeout}
    (C{--etcd-readycheck-timeout}), so C{/readyz} never hangs on a hung etcd.
    """
    return HealthCheck("etcd-readiness", storage_check(kv, clock, timeout).check, (READYZ,))


class ShuttingDown(Exception):
    """
    The server is shutting down.
    """


class PostStartHookCheck:
    """
    Kube's C{poststarthook/<name>} check: fails with "not finished" until the hook has run.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.done = False

    def check(self) -> None:
        """
        Raise until the hook has finished.
        """
        if not self.done:
            raise RuntimeError("not finished")

    def as_check(self) -> HealthCheck:
        """
        This as a L{HealthCheck} named C{poststarthook/<name>}.
        """
        return HealthCheck(f"poststarthook/{self.name}", self.check)


class HealthRegistry:
    """
    The served health checks, in order, names unique (first wins).
    """

    def __init__(self) -> None:
        self.checks: list[HealthCheck] = []

    def add(self, check: HealthCheck) -> None:
        """
        Add C{check} unless one of that name is there already.
        """
        if all(c.name != check.name for c in self.checks):
            self.checks.append(check)

    def for_kind(self, kind: str) -> list[HealthCheck]:
        """
        The checks of C{kind} (healthz, livez or readyz), in order.
        """
        return [c for c in self.checks if kind in c.kinds]


async def _run(check: HealthCheck) -> Optional[BaseException]:
    try:
        await maybeDeferred(check.check)
    except Exception as e:
        return e
    return None


def _quoted(names: Sequence[str]) -> str:
    return ",".join('"' + n.replace('"', '\\"') + '"' for n in names)


def _text(request: Any, code: int, body: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    request.setHeader(b"X-Content-Type-Options", b"nosniff")
    return body.encode("utf-8")


async def render_health(request: Any, kind: str, checks: Sequence[HealthCheck]) -> bytes:
    """
    Kube's C{handleRootHealth}: run every check not excluded by C{?exclude=}; on failure 500 with
    every check's line (reasons withheld) and C{<kind> check failed}; on success C{ok}, or with
    C{?verbose} every line and C{<kind> check passed}.
    """
    from kapid.server.context import query

    args = query(request)
    excluded = list(args.get("exclude", []))
    remaining = list(dict.fromkeys(excluded))
    lines: list[str] = []
    failed: list[str] = []
    for check in checks:
        if check.name in remaining:
            remaining.remove(check.name)
            lines.append(f"[+]{check.name} excluded: ok\n")
            continue
        error = await _run(check)
        if error is not None:
            lines.append(f"[-]{check.name} failed: reason withheld\n")
            failed.append(check.name)
            log.info("{kind} check {name} failed: {error}", kind=kind, name=check.name, error=error)
        else:
            lines.append(f"[+]{check.name} ok\n")
    if remaining:
        lines.append(
            f"warn: some health checks cannot be excluded: no matches for {_quoted(sorted(remaining))}\n"
        )
    if failed:
        return _text(request, 500, "".join(lines) + f"{kind} check failed\n")
    if "verbose" not in args:
        return _text(request, 200, "ok")
    return _text(request, 200, "".join(lines) + f"{kind} check passed\n")


async def render_single_check(request: Any, check: HealthCheck) -> bytes:
    """
    Kube's per-check path (C{/readyz/etcd}): C{ok}, or 500 C{internal server error: <reason>}.
    """
    error = await _run(check)
    if error is not None:
        return _text(request, 500, f"internal server error: {error}\n")
    return _text(request, 200, "ok")
