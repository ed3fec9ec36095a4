"""
The IKV contract suite against L{EtcdKV} talking to a real etcd (one per test module and process).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from kapid.storage.etcd3 import EtcdKV
from kapid.testing.etcd import shared_etcd
from kapid.testing.kv_contract import IKVContractMixin

#: One etcd per worker process for all tests/storage etcd modules (cases use their own prefixes).
SHARED = "tests.storage.etcd"


class EtcdKVRealContractTests(IKVContractMixin, TestCase):
    """
    EtcdKV over a real etcd passes the IKV contract.
    """

    lease_ttl = 1

    async def make_kv(self) -> Any:
        """
        An EtcdKV on the module's etcd.
        """
        etcd = await shared_etcd(SHARED)
        kv = EtcdKV([etcd.client_url], reactor, request_timeout=10.0)
        self.addCleanup(kv.close)
        return kv

    async def let_time_pass(self, seconds: float) -> None:
        """
        Wait on the real reactor (etcd's lease clock is real time).
        """
        await deferLater(reactor, seconds, lambda: None)
