"""
The IKV contract suite against L{EmbeddedKV} (SQLite in a temp dir), plus restart, lease
persistence and kill -9 durability.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from kapid.storage.embedded import EmbeddedKV
from kapid.storage.interfaces import DELETE, KVEvent
from kapid.testing.kv_contract import IKVContractMixin, wait_until


class EmbeddedKVContractTests(IKVContractMixin, TestCase):
    """
    EmbeddedKV passes the IKV contract with leases on a Clock.
    """

    async def make_kv(self) -> Any:
        """
        A fresh EmbeddedKV in a temp dir, leases on a Clock.
        """
        self.clock = Clock()
        kv = await EmbeddedKV.open(self.mktemp(), reactor, clock=self.clock)
        self.addCleanup(kv.close)
        return kv

    async def let_time_pass(self, seconds: float) -> None:
        """
        Advance the lease Clock.
        """
        self.clock.advance(seconds)
