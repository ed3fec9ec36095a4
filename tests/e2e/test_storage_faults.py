"""
Storage faults end to end, on real processes: a C{twistd kapid} on a real etcd that is killed and
restarted on the same data dir mid-run (API errors are 5xx C{Status}es, C{/readyz} fails and recovers
by itself, a watch loses no event), and a C{twistd kapid} on the embedded store killed with SIGKILL
after acknowledged creates (all of them there after a restart, resourceVersions still increasing).
"""

from __future__ import annotations

import json
from typing import Any, Optional

import treq
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from kapid.testing.etcd import EtcdServer
from tests.e2e.helpers import start_kapid

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


async def _sleep(seconds: float) -> None:
    await deferLater(_reactor(), seconds, lambda: None)


async def _request(method: str, url: str, body: Optional[dict] = None, timeout: float = 20) -> tuple[int, Any]:
    """
    One request on a fresh connection; the status code and the decoded JSON (or text) body.
    """
    kwargs: dict[str, Any] = dict(timeout=timeout, persistent=False, reactor=_reactor())
    if body is not None:
        kwargs["data"] = json.dumps(body).encode()
        kwargs["headers"] = {b"Content-Type": [b"application/json"]}
    response = await treq.request(method, url, **kwargs)
    content = await treq.content(response)
    try:
        return response.code, json.loads(content)
    except ValueError:
        return response.code, content.decode("utf-8", "replace")


def _configmap(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": name}}


class _Lines(Protocol):
    """
    Splits a response body into lines for an L{HTTPWatch}.
    """

    def __init__(self, watch: "HTTPWatch") -> None:
        self.watch = watch
        self.buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            if line.strip():
                self.watch.events.append(json.loads(line))

    def connectionLost(self, reason: Any = None) -> None:
        self.watch.ended = True


class HTTPWatch:
    """
    A raw C{?watch=1} stream read line by line into C{events} (a list that may be shared by
    several watches); C{ended} is true once the server ended the stream.
    """

    def __init__(self, events: Optional[list] = None) -> None:
        self.events: list[dict] = events if events is not None else []
        self.ended = False
        self._protocol: Optional[_Lines] = None

    async def open(self, url: str) -> None:
        """
        Start the watch at C{url} (returns once the response headers came).
        """
        response = await treq.get(url, unbuffered=True, persistent=False, reactor=_reactor())
        assert response.code == 200, response.code
        self._protocol = _Lines(self)
        response.deliverBody(self._protocol)

    def close(self) -> None:
        """
        Drop the connection (if still open).
        """
        if self._protocol is not None and not self.ended and self._protocol.transport is not None:
            self._protocol.transport.stopProducing()


class EtcdOutageTests(TestCase):
    """
    kapid on a real etcd that goes away and comes back on the same data dir.
    """

    timeout = 90

    async def test_etcd_killed_and_restarted(self) -> None:
        """
        While etcd is hung (SIGSTOP) and then dead (SIGKILL), API calls answer a 5xx Status in
        bounded time and /readyz(/etcd) fails; after etcd restarts on its data dir /readyz is green
        again by itself, creates work, and the watch opened before the outage (or a re-watch from
        its last resourceVersion) sees every event.
        """
        etcd = await EtcdServer.start()
        self.addCleanup(etcd.stop)
        # (the ConfigMaps listed below are exactly the test's: no root CA publisher)
        kapid = await start_kapid(
            self, f"--etcd-servers={etcd.client_url}", "--etcd-prefix=/kapid-faults",
            "--controllers=*,-root-ca-cert-publisher",
        )
        base = kapid.insecure_url
        assert base
        code, first = await _request("POST", base + CONFIGMAPS, _configmap("before-0"))
        self.assertEqual(code, 201, first)

        watch = HTTPWatch()
        self.addCleanup(watch.close)
        await watch.open(f"{base}{CONFIGMAPS}?watch=1&resourceVersion={first['metadata']['resourceVersion']}")
        code, body = await _request("POST", base + CONFIGMAPS, _configmap("before-1"))
        self.assertEqual(code, 201, body)
        await self._until(lambda: self._names(watch.events) == ["before-1"], "the watch event before the outage")

        # a hung etcd (SIGSTOP: connections accepted, nothing answered), then a dead one
        etcd.pause()
        self.addCleanup(etcd.resume)
        await self._outage_answers(base, "hung")
        etcd.resume()
        await self._until_async(self._ready, base, "/readyz to turn green after the hang")
        await etcd.kill()
        await self._outage_answers(base, "dead")

        await etcd.restart()
        await self._until_async(self._ready, base, "/readyz to turn green by itself")
        code, body = await _request("POST", base + CONFIGMAPS, _configmap("after-0"))
        self.assertEqual(code, 201, body)
        code, body = await _request("POST", base + CONFIGMAPS, _configmap("after-1"))
        self.assertEqual(code, 201, body)

        # The watch either keeps delivering, or it ended and a re-watch from the last
        # resourceVersion it delivered gets the rest; either way no event is lost or repeated.
        current = [watch]

        async def seen_all(_: Any) -> bool:
            if current[0].ended and not self._has_all(watch.events):
                more = HTTPWatch(watch.events)
                self.addCleanup(more.close)
                await more.open(f"{base}{CONFIGMAPS}?watch=1&resourceVersion={self._last_rv(watch.events)}")
                current[0] = more
            return self._has_all(watch.events)

        await self._until_async(seen_all, None, "the watch events after the outage")
        # every object created since the watch began, in resourceVersion order (the create sent
        # to the hung etcd timed out for the client, but etcd may still apply it once it runs)
        code, listed = await _request("GET", base + CONFIGMAPS)
        self.assertEqual(code, 200, listed)
        created = sorted(listed["items"], key=lambda o: int(o["metadata"]["resourceVersion"]))
        expected = [o["metadata"]["name"] for o in created if o["metadata"]["name"] != "before-0"]
        self.assertIn(expected, (["before-1", "after-0", "after-1"], ["before-1", "during", "after-0", "after-1"]))
        self.assertEqual(self._names(watch.events), expected)
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in watch.events if e["type"] == "ADDED"]
        self.assertEqual(rvs, sorted(rvs))

    async def _outage_answers(self, base: str, what: str) -> None:
        """
        With etcd down or hung: a create, a get and a list answer kube's 500 ServerTimeout (each within
        the client's 20 s bound), /readyz/etcd and /readyz answer 500 (the etcd check withheld).
        """
        requests = [
            ("POST", CONFIGMAPS, _configmap("during")),
            ("GET", CONFIGMAPS + "/before-0", None),
            ("GET", CONFIGMAPS, None),
            ("GET", "/readyz/etcd", None),
            ("GET", "/readyz", None),
        ]
        answers = await gatherResults(
            [Deferred.fromCoroutine(_request(m, base + p, body)) for m, p, body in requests]
        )
        for (method, path, _), (code, status) in zip(requests[:3], answers[:3]):
            where = (what, method, path, code, status)
            self.assertIsInstance(status, dict, where)
            # kube's answer for unreachable storage: 500 ServerTimeout naming the operation.
            self.assertEqual(
                (status["kind"], status["status"], status["code"], status["reason"], code),
                ("Status", "Failure", 500, "ServerTimeout", 500),
                where,
            )
            operation = {"POST": "create"}.get(method, "get" if path.endswith("before-0") else "list")
            self.assertEqual(status["details"]["name"], operation, where)
        (single, single_text), (whole, whole_text) = answers[3:]
        self.assertEqual(single, 500, (what, single_text))
        self.assertEqual(whole, 500, (what, whole_text))
        self.assertIn("[-]etcd failed: reason withheld", whole_text)

    @staticmethod
    def _names(events: list[dict]) -> list[str]:
        return [e["object"]["metadata"]["name"] for e in events if e["type"] == "ADDED"]

    def _has_all(self, events: list[dict]) -> bool:
        return "after-1" in self._names(events)

    @staticmethod
    def _last_rv(events: list[dict]) -> str:
        """
        The resourceVersion of the last object event (an ERROR event carries a Status).
        """
        for e in reversed(events):
            if e["type"] in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
                return str(e["object"]["metadata"]["resourceVersion"])
        raise AssertionError(f"no object event to resume from: {events}")

    @staticmethod
    async def _ready(base: str) -> bool:
        try:
            code, _ = await _request("GET", base + "/readyz", timeout=5)
        except Exception:
            return False
        return code == 200

    async def _until(self, condition: Any, what: str, limit: float = 20.0) -> None:
        waited = 0.0
        while not condition():
            if waited >= limit:
                raise AssertionError(f"timed out waiting for {what}")
            await _sleep(0.05)
            waited += 0.05

    async def _until_async(self, condition: Any, arg: Any, what: str, limit: float = 30.0) -> None:
        waited = 0.0
        while not await condition(arg):
            if waited >= limit:
                raise AssertionError(f"timed out waiting for {what}")
            await _sleep(0.1)
            waited += 0.1


class EmbeddedCrashTests(TestCase):
    """
    kapid on the embedded store killed with SIGKILL.
    """

    timeout = 90

    async def test_acknowledged_creates_survive_sigkill(self) -> None:
        """
        Every create acknowledged before a SIGKILL is there after a restart on the same data dir,
        and new writes get larger resourceVersions than any before the crash.
        """
        n = 50
        kapid = await start_kapid(self)
        base = kapid.insecure_url
        rvs = []
        for i in range(n):
            code, body = await _request("POST", base + CONFIGMAPS, _configmap(f"cm-{i:02d}"))
            self.assertEqual(code, 201, body)
            rvs.append(int(body["metadata"]["resourceVersion"]))
        self.assertEqual(rvs, sorted(set(rvs)))
        await kapid.kill()

        again = await start_kapid(self, data_dir=kapid.data_dir)
        code, listed = await _request("GET", again.insecure_url + CONFIGMAPS)
        self.assertEqual(code, 200, listed)
        items = {i["metadata"]["name"]: int(i["metadata"]["resourceVersion"]) for i in listed["items"]}
        self.assertEqual(
            {name: rv for name, rv in items.items() if name.startswith("cm-")},
            {f"cm-{i:02d}": rvs[i] for i in range(n)},
        )
        self.assertGreaterEqual(int(listed["metadata"]["resourceVersion"]), rvs[-1])
        code, body = await _request("POST", again.insecure_url + CONFIGMAPS, _configmap("after"))
        self.assertEqual(code, 201, body)
        self.assertGreater(int(body["metadata"]["resourceVersion"]), rvs[-1])
