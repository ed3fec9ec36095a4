"""
L{Compactor}: kapid-driven compaction every C{--etcd-compaction-interval}, as kube-apiserver's
C{pkg/storage/etcd3/compact.go} does it.

Every interval each apiserver runs one transaction on the key C{compact_rev_key} (at the root of the
keyspace, not under C{--etcd-prefix}, so kube-apiservers and kapids on one etcd coordinate): if the
key is unchanged since this process last saw it, write the revision seen one interval earlier into
it and compact at that revision; otherwise another apiserver won this round, so only remember the
key's new state and the current revision. So several apiservers on one etcd compact once per
interval, and history of at least one interval is always kept. The first round only records (kube
does not compact on bootstrap).

kube compares the key's C{version}; L{IKV} compares mod revisions, which change on exactly the same
writes, so the coordination is the same and interoperates with kube-apiservers on the same etcd.
"""

from __future__ import annotations

from typing import Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from kapid.storage.interfaces import IKV, CompactedError

log = Logger()

COMPACT_REV_KEY = b"compact_rev_key"


class Compactor:
    """
    Compact C{kv} every C{interval} seconds on C{clock}, coordinated through L{COMPACT_REV_KEY}.

    @ivar compactions: how many compactions this process has done.
    @ivar last_compacted: the revision of the last compaction done here (0: none).
    """

    def __init__(self, kv: IKV, clock: IReactorTime, interval: float = 300.0) -> None:
        self.kv = kv
        self.clock = clock
        self.interval = interval
        self.compactions = 0
        self.last_compacted = 0
        self._seen_mod_revision = 0  # kube's "compactTime": the key's state last seen
        self._revision = 0  # the store revision seen at the previous round
        self._loop: Optional[LoopingCall] = None
        self._running: Optional[Deferred[None]] = None

    def start(self) -> None:
        """
        Run a round every C{interval} seconds, the first one interval from now. A non-positive
        interval disables compaction (as kube's C{--etcd-compaction-interval=0}).
        """
        if self.interval <= 0 or self._loop is not None:
            return
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self.clock
        self._loop.start(self.interval, now=False).addErrback(
            lambda f: log.failure("compactor loop", f)
        )

    def stop(self) -> Deferred[None]:
        """
        Stop; the Deferred fires once a round in progress is over.
        """
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        d: Deferred[None] = Deferred()
        if self._running is not None and not self._running.called:
            self._running.addBoth(lambda _: d.callback(None))
        else:
            d.callback(None)
        return d

    def _tick(self) -> None:
        if self._running is not None and not self._running.called:
            return  # the previous round is still going
        self._running = Deferred.fromCoroutine(self.compact_once())
        self._running.addErrback(lambda f: log.warn("compaction round failed: {e}", e=f.value))

    async def compact_once(self) -> bool:
        """
        One round; whether this process compacted.
        """
        result = await self.kv.optimistic_put(
            COMPACT_REV_KEY, str(self._revision).encode("ascii"), self._seen_mod_revision
        )
        previous = self._revision
        self._revision = result.revision
        if not result.succeeded:
            self._seen_mod_revision = result.kv.mod_revision if result.kv is not None else 0
            return False
        self._seen_mod_revision = result.kv.mod_revision if result.kv is not None else result.revision
        if previous == 0:
            return False  # no compaction on bootstrap
        try:
            await self.kv.compact(previous)
        except CompactedError:
            return False  # someone compacted past it already
        self.compactions += 1
        self.last_compacted = previous
        log.debug("compacted at revision {rev}", rev=previous)
        return True
