"""
kapid on a three-member etcd cluster (L{kapid.testing.etcd.EtcdCluster}), end to end on real
C{twistd kapid} processes: it takes every endpoint, fails over when the member it talks to is killed
(writes continue, every acknowledged write is there, the watch loses and repeats nothing), and three
kapid processes sharing the cluster keep optimistic concurrency for sixteen writers incrementing one
object (no lost update, revisions strictly increasing).
"""

from __future__ import annotations

import os
import time
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.trial.unittest import TestCase

from kapid.testing.etcd import EtcdCluster
from tests.e2e.helpers import start_kapid
from tests.e2e.test_storage_faults import CONFIGMAPS, HTTPWatch, _configmap, _request, _sleep

NO_PUBLISHER = "--controllers=*,-root-ca-cert-publisher"

#: The long form's multiplier (C{reliability/run} sets it): more writes, more increments, more load.
SCALE = max(1, int(os.environ.get("KAPID_RELIABILITY_SCALE", "1")))


async def until(condition: Any, what: str, limit: float = 30.0) -> None:
    """
    Poll the coroutine function C{condition} until it is true, at most C{limit} seconds.
    """
    deadline = time.monotonic() + limit
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await _sleep(0.1)


def names(events: list[dict]) -> list[str]:
    """
    The names of the objects in the ADDED events.
    """
    return [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"]


def last_rv(events: list[dict]) -> str:
    """
    The resourceVersion of the last object event.
    """
    for e in reversed(events):
        if e["type"] in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
            return str(e["object"]["metadata"]["resourceVersion"])
    raise AssertionError(f"no object event to resume from: {events}")


class ClusterFailoverTests(TestCase):
    """
    One kapid with C{--etcd-servers=a,b,c} losing the member it talks to.
    """

    timeout = 120 * SCALE

    async def test_member_killed_under_writes(self) -> None:
        """
        kapid talks to the first endpoint; it is SIGKILLed while a writer creates ConfigMaps. Writes
        go on through the other members (an error at most for the writes in flight at the kill),
        every acknowledged create is listed afterwards, and the watch opened before the kill (or,
        if it ended, a re-watch from its last resourceVersion) delivers each create exactly once
        in resourceVersion order.
        """
        cluster = await EtcdCluster.start()
        self.addCleanup(cluster.stop)
        kapid = await start_kapid(self, f"--etcd-servers={cluster.etcd_servers}", NO_PUBLISHER)
        base = kapid.insecure_url
        assert base
        code, first = await _request("POST", base + CONFIGMAPS, _configmap("start"))
        self.assertEqual(code, 201, first)
        watch = HTTPWatch()
        self.addCleanup(watch.close)
        await watch.open(f"{base}{CONFIGMAPS}?watch=1&resourceVersion={first['metadata']['resourceVersion']}")

        acked: list[tuple[str, int]] = []
        failed: list[tuple[str, Any]] = []
        killed_at = [0]

        async def writer() -> None:
            for i in range(20 + 40 * SCALE):
                name = f"cm-{i:05d}"
                if i == 20:
                    killed_at[0] = len(acked)
                    await cluster.members[0].kill()
                try:
                    code, body = await _request("POST", base + CONFIGMAPS, _configmap(name), timeout=20)
                except Exception as e:  # a client timeout counts as a failure, never as acknowledged
                    failed.append((name, repr(e)))
                    continue
                if code == 201:
                    acked.append((name, int(body["metadata"]["resourceVersion"])))
                else:
                    failed.append((name, (code, body)))

        started = time.monotonic()
        await writer()
        elapsed = time.monotonic() - started
        after_kill = len(acked) - killed_at[0]
        # the figure: writes acknowledged after the kill, and the ones that failed
        print(f"\nfailover: {after_kill}/{40 * SCALE} writes acknowledged after the kill, {len(failed)} failed, {elapsed:.1f} s")
        self.assertGreaterEqual(after_kill, 40 * SCALE - 5, failed)
        rvs = [rv for _, rv in acked]
        self.assertEqual(rvs, sorted(set(rvs)))
        for _, answer in failed:  # a failure is a kube Status (5xx), never anything else
            if isinstance(answer, tuple):
                code, body = answer
                self.assertGreaterEqual(code, 500, answer)
                self.assertEqual(body["kind"], "Status", answer)

        code, listed = await _request("GET", base + CONFIGMAPS)
        self.assertEqual(code, 200, listed)
        stored = {o["metadata"]["name"]: int(o["metadata"]["resourceVersion"]) for o in listed["items"]}
        for name, rv in acked:
            self.assertEqual(stored.get(name), rv, name)
        expected = [n for n, _ in sorted(stored.items(), key=lambda kv: kv[1]) if n != "start"]

        current = [watch]

        async def seen_all() -> bool:
            if current[0].ended and names(watch.events) != expected:
                more = HTTPWatch(watch.events)
                self.addCleanup(more.close)
                await more.open(f"{base}{CONFIGMAPS}?watch=1&resourceVersion={last_rv(watch.events)}")
                current[0] = more
            return len(names(watch.events)) >= len(expected)

        await until(seen_all, "the watch to deliver every create")
        self.assertEqual(names(watch.events), expected)
        self.assertEqual([e for e in watch.events if e["type"] == "ERROR"], [])

    async def test_watch_moves_off_a_hung_member(self) -> None:
        """
        The member kapid talks to is SIGSTOPped (it keeps its connections and answers nothing).
        Writes fail over after the request timeout, and the watch opened before (whose upstream
        etcd watch was on that member) delivers every write acknowledged afterwards while the
        member is still stopped: no silent gap.
        """
        cluster = await EtcdCluster.start()
        self.addCleanup(cluster.stop)
        kapid = await start_kapid(self, f"--etcd-servers={cluster.etcd_servers}", NO_PUBLISHER)
        base = kapid.insecure_url
        assert base
        code, first = await _request("POST", base + CONFIGMAPS, _configmap("start"))
        self.assertEqual(code, 201, first)
        watch = HTTPWatch()
        self.addCleanup(watch.close)
        await watch.open(f"{base}{CONFIGMAPS}?watch=1&resourceVersion={first['metadata']['resourceVersion']}")

        hung = cluster.members[0]  # kapid's first endpoint, and no failover yet
        hung.pause()
        self.addCleanup(hung.resume)
        stopped = time.monotonic()
        acked: list[str] = []
        for i in range(10 * SCALE):
            try:
                code, body = await _request("POST", base + CONFIGMAPS, _configmap(f"hung-{i:04d}"), timeout=20)
            except Exception:
                continue
            if code == 201:
                acked.append(f"hung-{i:04d}")
        self.assertGreaterEqual(len(acked), 10 * SCALE - 2)

        async def delivered() -> bool:
            return set(acked) <= set(names(watch.events)) or watch.ended

        await until(delivered, "the watch to deliver the writes made while the member hangs", limit=30)
        waited = time.monotonic() - stopped
        self.assertIsNotNone(hung.pid)
        if watch.ended:  # ended: a client re-lists; never a silent gap
            self.assertTrue(any(e["type"] == "ERROR" for e in watch.events), watch.events[-3:])
        else:
            got = names(watch.events)
            self.assertEqual(len(got), len(set(got)))
        print(f"\nhung member: {len(acked)} writes acknowledged, all delivered to the watch {waited:.1f} s after the SIGSTOP")

    async def test_idle_server_watch_moves_off_a_hung_member(self) -> None:
        """
        Two kapids on the cluster, each on its own first member. The member of the one that only
        watches is SIGSTOPped; writes go through the other. The watcher's own background traffic
        (leases, controllers) times out and fails it over, and its watch then delivers every write.
        """
        cluster = await EtcdCluster.start()
        self.addCleanup(cluster.stop)
        urls = cluster.client_urls
        watcher = await start_kapid(self, f"--etcd-servers={','.join(urls)}", "--etcd-prefix=/kapid-idle", NO_PUBLISHER)
        writer = await start_kapid(
            self, f"--etcd-servers={','.join(urls[1:] + urls[:1])}", "--etcd-prefix=/kapid-idle", NO_PUBLISHER
        )
        assert watcher.insecure_url and writer.insecure_url
        code, first = await _request("POST", writer.insecure_url + CONFIGMAPS, _configmap("start"))
        self.assertEqual(code, 201, first)
        watch = HTTPWatch()
        self.addCleanup(watch.close)
        await watch.open(
            f"{watcher.insecure_url}{CONFIGMAPS}?watch=1&resourceVersion={first['metadata']['resourceVersion']}"
        )
        hung = cluster.members[0]
        hung.pause()
        self.addCleanup(hung.resume)
        stopped = time.monotonic()
        written = []
        for i in range(5 * SCALE):
            # (the hung member may be the leader: writes fail until the others elect a new one)
            name = f"idle-{i:04d}"
            for _ in range(10):
                try:
                    code, body = await _request("POST", writer.insecure_url + CONFIGMAPS, _configmap(name))
                except Exception:
                    continue
                if code in (201, 409):  # 409: an earlier try that timed out was applied after all
                    written.append(name)
                    break
                self.assertGreaterEqual(code, 500, body)
            else:
                self.fail(f"{name} never written")

        async def delivered() -> bool:
            return set(written) <= set(names(watch.events)) or watch.ended

        await until(delivered, "the idle server's watch to deliver the other server's writes", limit=60)
        waited = time.monotonic() - stopped
        if watch.ended:
            self.assertTrue(any(e["type"] == "ERROR" for e in watch.events), watch.events[-3:])
        else:
            got = names(watch.events)
            self.assertEqual(sorted(got), written)
        print(f"\nhung member, idle server: {len(written)} writes through another server delivered {waited:.1f} s after the SIGSTOP")


class ThreeServersTests(TestCase):
    """
    Three kapid processes on one etcd cluster.
    """

    timeout = 120 * SCALE

    async def test_sixteen_writers_no_lost_update(self) -> None:
        """
        Sixteen writers, spread over three kapid processes, each increment a counter in one
        ConfigMap by read-modify-update with its resourceVersion (retrying on 409 Conflict) until
        each has five acknowledged increments. The counter ends at exactly the number of
        acknowledged updates, every acknowledged value is distinct and there, and resourceVersions
        grow strictly with the counter.
        """
        writers, each = 16, 5 * SCALE
        cluster = await EtcdCluster.start()
        self.addCleanup(cluster.stop)
        prefix = "--etcd-prefix=/kapid-three"
        kapids = await gatherResults([
            Deferred.fromCoroutine(start_kapid(
                self, f"--etcd-servers={','.join(cluster.client_urls[i:] + cluster.client_urls[:i])}",
                prefix, NO_PUBLISHER,
            ))
            for i in range(3)
        ])
        bases = [k.insecure_url for k in kapids]
        path = CONFIGMAPS + "/counter"
        code, body = await _request("POST", bases[0] + CONFIGMAPS, {**_configmap("counter"), "data": {"n": "0"}})
        self.assertEqual(code, 201, body)

        acked: list[tuple[int, int]] = []
        conflicts = [0]
        #: updates answered 500 ServerTimeout (storage too slow on a loaded machine): their outcome
        #: is unknown to the client, as with kube-apiserver; a client reads again and goes on
        unknown = [0]

        def timed_out(code: int, body: dict) -> bool:
            return code == 500 and body.get("reason") == "ServerTimeout"

        async def writer(w: int) -> None:
            base = bases[w % 3]
            done = 0
            while done < each:
                code, obj = await _request("GET", base + path)
                if timed_out(code, obj):
                    continue
                self.assertEqual(code, 200, obj)
                n = int(obj["data"]["n"]) + 1
                obj["data"]["n"] = str(n)
                code, body = await _request("PUT", base + path, obj)
                if code == 409:
                    self.assertEqual(body["reason"], "Conflict", body)
                    conflicts[0] += 1
                    continue
                if timed_out(code, body):
                    unknown[0] += 1
                    continue
                self.assertEqual(code, 200, body)
                self.assertEqual(body["data"]["n"], str(n))
                acked.append((n, int(body["metadata"]["resourceVersion"])))
                done += 1

        started = time.monotonic()
        await gatherResults([Deferred.fromCoroutine(writer(w)) for w in range(writers)])
        elapsed = time.monotonic() - started
        print(f"\n{writers} writers x {each} increments over 3 kapids: {conflicts[0]} conflicts, "
              f"{unknown[0]} timed out, {elapsed:.1f} s")
        total = writers * each
        values = sorted(n for n, _ in acked)
        # no lost update: no two acknowledged updates wrote the same value, and the counter holds
        # every acknowledged one (plus those of timed-out updates that were applied)
        self.assertEqual(len(values), total)
        self.assertEqual(len(set(values)), total, values)
        by_n = [rv for _, rv in sorted(acked)]
        self.assertEqual(by_n, sorted(set(by_n)))
        for base in bases:
            code, obj = await _request("GET", base + path)
            self.assertEqual(code, 200, obj)
            final = int(obj["data"]["n"])
            self.assertTrue(total <= final <= total + unknown[0], (final, total, unknown[0]))
            if not unknown[0]:
                self.assertEqual(values, list(range(1, total + 1)))
                self.assertEqual(int(obj["metadata"]["resourceVersion"]), by_n[-1])
