"""
Faults under load, end to end on real C{twistd kapid} processes (each test prints its figure):

* the leading etcd member of a three-member cluster SIGKILLed, then the member kapid talks to
  SIGSTOPped, while writers create ConfigMaps: failures are 5xx C{Status}es or client timeouts,
  writes recover by themselves, every acknowledged write is there; with no member answering
  C{/readyz} is red, and green again by itself when they come back;
* a kapid SIGKILLed while writers create ConfigMaps, on etcd and on the embedded store: after a
  restart every acknowledged create is there;
* etcd out of space (C{--quota-backend-bytes}): writes are kube's error, reads are still served,
  and writes work again after compaction, defragmentation and disarming the alarm.
"""

from __future__ import annotations

import re
import time
from typing import Any, Optional

from twisted.internet.defer import Deferred, gatherResults
from twisted.trial.unittest import TestCase

from kapid.testing.etcd import EtcdCluster, EtcdServer
from tests.e2e.helpers import start_kapid
from tests.e2e.test_storage_faults import CONFIGMAPS, _configmap, _request, _sleep
from tests.reliability.test_etcd_cluster import NO_PUBLISHER, SCALE, until


class Load:
    """
    C{writers} concurrent loops creating ConfigMaps through C{bases} (round robin) until
    L{stop}: what was acknowledged (name -> resourceVersion), what failed (and how), when.
    """

    def __init__(self, bases: list[str], writers: int = 4, timeout: float = 10.0) -> None:
        self.bases = bases
        self.writers = writers
        self.timeout = timeout
        self.acked: dict[str, int] = {}
        self.failures: list[tuple[float, str, Any]] = []
        self.successes: list[float] = []
        self._stopped = False
        self._done: Optional[Deferred] = None

    def start(self) -> None:
        self._done = gatherResults([Deferred.fromCoroutine(self._writer(w)) for w in range(self.writers)])

    async def stop(self) -> None:
        self._stopped = True
        assert self._done is not None
        await self._done

    async def _writer(self, w: int) -> None:
        i = 0
        while not self._stopped:
            name = f"load-{w}-{i:05d}"
            base = self.bases[(w + i) % len(self.bases)]
            i += 1
            try:
                code, body = await _request("POST", base + CONFIGMAPS, _configmap(name), timeout=self.timeout)
            except Exception as e:  # a client timeout or a dropped connection: not acknowledged
                self.failures.append((time.monotonic(), name, type(e).__name__))
                await _sleep(0.05)
                continue
            if code == 201:
                self.acked[name] = int(body["metadata"]["resourceVersion"])
                self.successes.append(time.monotonic())
            else:
                self.failures.append((time.monotonic(), name, (code, body)))
                await _sleep(0.05)

    def acked_since(self, t: float) -> int:
        return sum(1 for s in self.successes if s > t)

    def check_failures(self, testcase: TestCase) -> None:
        """
        Every failed write was a 5xx kube C{Status} (or the client gave up).
        """
        for _, name, answer in self.failures:
            if isinstance(answer, tuple):
                code, body = answer
                testcase.assertGreaterEqual(code, 500, (name, answer))
                testcase.assertIsInstance(body, dict, (name, answer))
                testcase.assertEqual((body["kind"], body["status"], body["code"]), ("Status", "Failure", code), (name, answer))

    async def check_present(self, testcase: TestCase, base: str) -> int:
        """
        Every acknowledged create is listed with its resourceVersion; the number listed.
        """
        code, listed = await _request("GET", base + CONFIGMAPS, timeout=30)
        testcase.assertEqual(code, 200, listed)
        stored = {o["metadata"]["name"]: int(o["metadata"]["resourceVersion"]) for o in listed["items"]}
        missing = {n: rv for n, rv in self.acked.items() if stored.get(n) != rv}
        testcase.assertEqual(missing, {}, f"{len(missing)} acknowledged writes missing")
        return len(stored)


async def ready(base: str) -> bool:
    try:
        code, _ = await _request("GET", base + "/readyz", timeout=5)
    except Exception:
        return False
    return code == 200


class EtcdLeaderFaultTests(TestCase):
    """
    kapid on a three-member cluster losing members under write load.
    """

    timeout = 180 * SCALE

    async def test_leader_killed_then_member_stopped(self) -> None:
        """
        SIGKILL the leader (kapid's first endpoint): writes recover by themselves once a new
        leader is elected. SIGSTOP the member kapid then talks to: writes recover by themselves
        (kapid gives up on the hung member and moves on). With every member stopped C{/readyz} is
        red; when they run again it is green by itself. Every failure on the way is a 5xx Status or
        a client timeout, every acknowledged write is there.
        """
        cluster = await EtcdCluster.start()
        self.addCleanup(cluster.stop)
        leader = await cluster.leader()
        others = [m for m in cluster.members if m is not leader]
        urls = [leader.client_url] + [m.client_url for m in others]
        kapid = await start_kapid(self, f"--etcd-servers={','.join(urls)}", NO_PUBLISHER)
        base = kapid.insecure_url
        assert base
        load = Load([base])
        load.start()
        try:
            await until(lambda: _true(load.acked_since(0) >= 20 * SCALE), "writes before the faults", limit=30 * SCALE)

            killed = time.monotonic()
            await leader.kill()
            await until(lambda: _true(load.acked_since(time.monotonic() - 0.5) > 0 and load.successes[-1] > killed + 0.2),
                        "writes to recover after the leader was killed", limit=60)
            recovered_kill = load.successes[-1] - killed
            # a leader that was killed comes back and rejoins
            await leader.restart()

            failures_before_stop = len(load.failures)
            stopped_member = active_member(cluster, kapid.log, urls)
            stopped = time.monotonic()
            stopped_member.pause()
            self.addCleanup(stopped_member.resume)
            await until(lambda: _true(any(s > stopped + 0.2 for s in load.successes[-5:])),
                        "writes to recover after the member kapid talks to was stopped", limit=60)
            recovered_stop = min(s for s in load.successes if s > stopped + 0.2) - stopped
            stopped_member.resume()
        finally:
            await load.stop()

        # no member answers: /readyz is red; then green by itself
        for m in cluster.members:
            m.pause()
        try:
            await until(lambda: _not(ready(base)), "/readyz to turn red with every member stopped", limit=30)
        finally:
            for m in cluster.members:
                m.resume()
        await until(lambda: ready(base), "/readyz to turn green by itself", limit=60)

        load.check_failures(self)
        listed = await load.check_present(self, base)
        print(
            f"\netcd faults: {len(load.acked)} writes acknowledged, {len(load.failures)} failed "
            f"({failures_before_stop} around the leader kill); writes back {recovered_kill:.1f} s after the "
            f"leader SIGKILL, {recovered_stop:.1f} s after SIGSTOP of kapid's member; {listed} listed"
        )


def active_member(cluster: EtcdCluster, log: str, urls: list[str]) -> Any:
    """
    The member kapid sends its requests to: the last one its etcd client switched to (it logs
    each switch), else the first of C{urls}.
    """
    switches = re.findall(r"switching to (http://[0-9.:]+)", log)
    url = switches[-1] if switches else urls[0]
    return next(m for m in cluster.members if m.client_url == url)


async def _true(value: bool) -> bool:
    return value


async def _not(d: Any) -> bool:
    return not await d


class KapidKillTests(TestCase):
    """
    A kapid SIGKILLed under write load.
    """

    timeout = 120 * SCALE

    async def _killed_under_load(self, *args: str, data_dir: bool) -> None:
        kapid = await start_kapid(self, *args, NO_PUBLISHER)
        base = kapid.insecure_url
        assert base
        load = Load([base], writers=8, timeout=5)
        load.start()
        await until(lambda: _true(len(load.acked) >= 100 * SCALE), "acknowledged writes before the kill", limit=30 * SCALE)
        await kapid.kill()
        await load.stop()
        kw: dict[str, Any] = {"data_dir": kapid.data_dir} if data_dir else {}
        again = await start_kapid(self, *args, NO_PUBLISHER, **kw)
        assert again.insecure_url
        listed = await load.check_present(self, again.insecure_url)
        code, after = await _request("POST", again.insecure_url + CONFIGMAPS, _configmap("after"))
        self.assertEqual(code, 201, after)
        self.assertGreater(int(after["metadata"]["resourceVersion"]), max(load.acked.values()))
        print(f"\nkill -9 under load: {len(load.acked)} acknowledged, {len(load.failures)} failed at the kill, {listed} listed after restart")

    async def test_embedded_store(self) -> None:
        """
        On the embedded store: every write acknowledged before the SIGKILL is there after a restart
        on the same data dir, and new writes get larger resourceVersions.
        """
        await self._killed_under_load(data_dir=True)

    async def test_etcd(self) -> None:
        """
        On etcd: every acknowledged write is there for a new kapid on the same etcd and prefix.
        """
        etcd = await EtcdServer.start()
        self.addCleanup(etcd.stop)
        await self._killed_under_load(f"--etcd-servers={etcd.client_url}", "--etcd-prefix=/kapid-kill", data_dir=False)


class EtcdQuotaTests(TestCase):
    """
    etcd out of space.
    """

    timeout = 120 * SCALE

    async def test_out_of_space(self) -> None:
        """
        With a small C{--quota-backend-bytes}, once etcd raises its NOSPACE alarm a create is a 5xx
        Status carrying etcd's "database space exceeded" (kube's answer for an etcd error), while
        gets and lists are still served; after deletes, a compaction, a defragmentation and
        disarming the alarm, creates work again.
        """
        etcd = await EtcdServer.start(extra_args=("--quota-backend-bytes=2000000",))
        self.addCleanup(etcd.stop)
        kapid = await start_kapid(self, f"--etcd-servers={etcd.client_url}", NO_PUBLISHER)
        base = kapid.insecure_url
        assert base
        big = "x" * 200_000
        created: list[str] = []
        answer: Any = None
        for i in range(100):
            body = {**_configmap(f"big-{i}"), "data": {"k": big}}
            code, answer = await _request("POST", base + CONFIGMAPS, body)
            if code != 201:
                break
            created.append(f"big-{i}")
        else:
            self.fail("etcd never ran out of space")
        print(f"\netcd quota: {len(created)} ConfigMaps of 200 kB stored, then {code}: {answer.get('message') if isinstance(answer, dict) else answer}")
        self.assertTrue(created)
        # kube's answer for an etcd error it does not map: 500, no reason, etcd's message
        self.assertEqual(code, 500, answer)
        self.assertEqual(
            (answer["kind"], answer["status"], answer["code"], answer.get("reason", ""), answer["message"]),
            ("Status", "Failure", 500, "", "etcdserver: mvcc: database space exceeded"),
        )
        # reads are still served
        code, got = await _request("GET", base + CONFIGMAPS + "/" + created[0])
        self.assertEqual(code, 200, got)
        code, listed = await _request("GET", base + CONFIGMAPS)
        self.assertEqual(code, 200, listed)
        stored = {o["metadata"]["name"] for o in listed["items"] if o["metadata"]["name"].startswith("big-")}
        # every acknowledged create; etcd applies the put that crosses the quota and still answers
        # "database space exceeded", so the refused one may be there too
        self.assertIn(stored, (set(created), set(created) | {f"big-{len(created)}"}))

        # recovery as an operator does it: delete (allowed in etcd's limited mode), compact,
        # defragment, disarm the NOSPACE alarm; then writes work again
        for name in sorted(stored):
            code, body = await _request("DELETE", base + CONFIGMAPS + "/" + name)
            self.assertEqual(code, 200, body)
        status = await _etcd(etcd, "/v3/maintenance/status", {})
        await _etcd(etcd, "/v3/kv/compaction", {"revision": status["header"]["revision"], "physical": True})
        await _etcd(etcd, "/v3/maintenance/defragment", {})
        await _etcd(etcd, "/v3/maintenance/alarm", {"action": "DEACTIVATE", "memberID": status["header"]["member_id"], "alarm": "NOSPACE"})
        code, body = await _request("POST", base + CONFIGMAPS, {**_configmap("after"), "data": {"k": big}})
        self.assertEqual(code, 201, body)


async def _etcd(etcd: EtcdServer, path: str, payload: dict) -> Any:
    """
    One call to etcd's JSON gateway.
    """
    import json

    import treq
    from twisted.internet import reactor

    response = await treq.post(etcd.client_url + path, data=json.dumps(payload).encode(), timeout=30, persistent=False, reactor=reactor)
    body = await treq.content(response)
    assert response.code == 200, (path, response.code, body)
    return json.loads(body)
