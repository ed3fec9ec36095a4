"""
L{open_kv} builds the store the daemon's options name.
"""

from __future__ import annotations

import os

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from kapid.storage.embedded import EmbeddedKV
from kapid.storage.etcd3 import EtcdKV
from kapid.storage.factory import open_kv
from kapid.storage.memory import MemoryKV
from kapid.testing.etcd import shared_etcd

#: One etcd per worker process for all tests/storage etcd modules (cases use their own prefixes).
SHARED = "tests.storage.etcd"


class OpenKVTests(TestCase):
    """
    Backend selection and construction.
    """

    async def test_embedded_default(self) -> None:
        """
        Without etcd servers and backend, the embedded store opens in <data_dir>/store.
        """
        data_dir = self.mktemp()
        kv = await open_kv(reactor, backend="", etcd_servers=[], data_dir=data_dir)
        self.addCleanup(kv.close)
        self.assertIsInstance(kv, EmbeddedKV)
        self.assertTrue(os.path.isdir(os.path.join(data_dir, "store")))
        self.assertTrue((await kv.optimistic_put(b"/f/a", b"1", 0)).succeeded)

    async def test_memory(self) -> None:
        """
        backend="memory" gives a MemoryKV.
        """
        kv = await open_kv(reactor, backend="memory", etcd_servers=[], data_dir="unused")
        self.addCleanup(kv.close)
        self.assertIsInstance(kv, MemoryKV)

    async def test_etcd3(self) -> None:
        """
        With etcd servers, the etcd client is built and talks to them.
        """
        etcd = await shared_etcd(SHARED)
        kv = await open_kv(
            reactor, backend="", etcd_servers=[etcd.client_url], data_dir="unused"
        )
        self.addCleanup(kv.close)
        self.assertIsInstance(kv, EtcdKV)
        self.assertIsNone(await kv.check_health())

    async def test_unknown_backend(self) -> None:
        """
        An unknown backend, or etcd3 without servers, is refused.
        """
        with self.assertRaises(ValueError):
            await open_kv(reactor, backend="zookeeper", etcd_servers=[], data_dir="x")
        with self.assertRaises(ValueError):
            await open_kv(reactor, backend="etcd3", etcd_servers=[], data_dir="x")
