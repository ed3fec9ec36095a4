"""
Tests for watch over HTTP: event lines, replay from a resourceVersion, 410 ERROR events, bookmarks,
Tables, timeoutSeconds and shutdown.
"""

import orjson
import treq
from twisted.trial.unittest import SynchronousTestCase

from tests.endpoints.helpers import API, cm

CMS = "/api/v1/namespaces/default/configmaps"


class Stream:
    """
    A watch response read line by line.
    """

    def __init__(self, api: API, path: str, headers: dict = None) -> None:
        self.api = api
        self.data = b""
        self.done = False
        d = api.treq.request("GET", "http://kapid" + path, headers=headers or {}, unbuffered=True)
        api.treq.flush()
        self.response = api.testcase.successResultOf(d)
        c = treq.collect(self.response, self._chunk)
        c.addBoth(self._end)
        api.treq.flush()

    def _chunk(self, data: bytes) -> None:
        self.data += data

    def _end(self, _: object) -> None:
        self.done = True

    def events(self) -> list:
        self.api.treq.flush()
        return [orjson.loads(line) for line in self.data.splitlines() if line.strip()]


class WatchTests(SynchronousTestCase):
    """
    GET ...?watch=true.
    """

    def setUp(self) -> None:
        self.api = API(self)

    def test_events_stream_with_kind(self) -> None:
        """
        Changes arrive as one {"type","object"} line each, objects with kind and apiVersion.
        """
        _, lst, _ = self.api.get(CMS)
        rv = lst["metadata"]["resourceVersion"]
        s = Stream(self.api, f"{CMS}?watch=True&resourceVersion={rv}&timeoutSeconds=10")
        self.assertEqual(s.response.code, 200)
        self.assertEqual(s.response.headers.getRawHeaders("content-type"), ["application/json"])
        self.api.post(CMS, cm("a"))
        _, obj, _ = self.api.post(CMS, cm("b"))
        self.api.delete(CMS + "/a")
        evs = s.events()
        self.assertEqual([e["type"] for e in evs], ["ADDED", "ADDED", "DELETED"])
        self.assertEqual(evs[0]["object"]["kind"], "ConfigMap")
        self.assertEqual(evs[0]["object"]["apiVersion"], "v1")
        self.assertFalse(s.done)
        self.api.clock.advance(10)
        s.events()
        self.assertTrue(s.done)

    def test_replay_from_resource_version(self) -> None:
        """
        A watch from an old resourceVersion replays what happened since.
        """
        _, lst, _ = self.api.get(CMS)
        rv = lst["metadata"]["resourceVersion"]
        _, a, _ = self.api.post(CMS, cm("a"))
        self.api.put(CMS + "/a", dict(a, data={"x": "y"}))
        self.api.delete(CMS + "/a")
        s = Stream(self.api, f"{CMS}?watch=1&resourceVersion={rv}&timeoutSeconds=5")
        self.assertEqual([e["type"] for e in s.events()], ["ADDED", "MODIFIED", "DELETED"])

    def test_too_old_is_410_error_event(self) -> None:
        """
        A compacted resourceVersion gives an ERROR event with a 410 Expired Status and the stream ends.
        """
        self.api.post(CMS, cm("a"))
        self.api.post(CMS, cm("b"))
        _, lst, _ = self.api.get(CMS)
        self.api.run(self.api.kv.compact(int(lst["metadata"]["resourceVersion"])))
        s = Stream(self.api, f"{CMS}?watch=true&resourceVersion=2&timeoutSeconds=5")
        evs = s.events()
        self.assertEqual(evs[-1]["type"], "ERROR")
        self.assertEqual(evs[-1]["object"]["code"], 410)
        self.assertEqual(evs[-1]["object"]["reason"], "Expired")
        self.assertTrue(s.done)

    def test_table_events(self) -> None:
        """
        With a Table Accept every event object is a one-row Table; only the first has the columns.
        """
        accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        s = Stream(self.api, f"{CMS}?watch=true&timeoutSeconds=5", {"Accept": accept})
        self.api.post(CMS, cm("a", {"k": "v"}))
        self.api.post(CMS, cm("b"))
        evs = s.events()
        self.assertEqual(evs[0]["object"]["kind"], "Table")
        self.assertEqual(evs[0]["object"]["rows"][0]["cells"][:2], ["a", 1])
        self.assertEqual(evs[0]["object"]["columnDefinitions"][0]["name"], "Name")
        self.assertIsNone(evs[1]["object"]["columnDefinitions"])

    def test_field_selector_single_object(self) -> None:
        """
        metadata.name field selectors pick one object (as kubectl wait does).
        """
        s = Stream(self.api, f"{CMS}?watch=true&fieldSelector=metadata.name%3Db&timeoutSeconds=5")
        self.api.post(CMS, cm("a"))
        self.api.post(CMS, cm("b"))
        self.assertEqual([e["object"]["metadata"]["name"] for e in s.events()], ["b"])

    def test_bookmarks(self) -> None:
        """
        allowWatchBookmarks gives periodic BOOKMARK events carrying the last resourceVersion.
        """
        s = Stream(self.api, f"{CMS}?watch=true&allowWatchBookmarks=true&timeoutSeconds=600")
        _, obj, _ = self.api.post(CMS, cm("a"))
        self.api.clock.advance(self.api.link.bookmark_interval)
        evs = s.events()
        self.assertEqual(evs[-1]["type"], "BOOKMARK")
        self.assertEqual(evs[-1]["object"]["metadata"]["resourceVersion"], obj["metadata"]["resourceVersion"])
        self.assertEqual(evs[-1]["object"]["kind"], "ConfigMap")

    def test_close_watches_ends_streams(self) -> None:
        """
        close_watches (shutdown) ends every stream.
        """
        s = Stream(self.api, f"{CMS}?watch=true")
        self.assertEqual(len(self.api.link.watches), 1)
        self.api.run(self.api.link.close_watches())
        s.events()
        self.assertTrue(s.done)
        self.assertEqual(len(self.api.link.watches), 0)

    def test_send_initial_events(self) -> None:
        """
        sendInitialEvents=true streams the current objects, then a bookmark marking their end.
        """
        self.api.post(CMS, cm("a"))
        s = Stream(self.api, f"{CMS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
                             "&resourceVersionMatch=NotOlderThan&timeoutSeconds=5")
        evs = s.events()
        self.assertEqual([e["type"] for e in evs], ["ADDED", "BOOKMARK"])
        self.assertEqual(evs[1]["object"]["metadata"]["annotations"], {"k8s.io/initial-events-end": "true"})

    def test_initial_events_end_at_the_list_revision(self) -> None:
        """
        The bookmark ending the initial events carries a revision no older than any object sent
        (objects come in name order, not revision order), and comes once.
        """
        self.api.post(CMS, cm("b"))
        self.api.post(CMS, cm("a"))
        s = Stream(self.api, f"{CMS}?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
                             "&resourceVersionMatch=NotOlderThan&timeoutSeconds=5")
        evs = s.events()
        self.assertEqual([e["type"] for e in evs], ["ADDED", "ADDED", "BOOKMARK"])
        rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
        self.assertGreaterEqual(rvs[2], max(rvs[:2]))

    def test_slow_client_cut_off(self) -> None:
        """
        A client whose transport stays paused is cut off after too many events.
        """
        s = Stream(self.api, f"{CMS}?watch=true&timeoutSeconds=600")
        stream = next(iter(self.api.link.watches._streams))
        stream.max_paused_events = 2
        stream.pauseProducing()
        for n in ("a", "b", "c"):
            self.api.post(CMS, cm(n))
        self.assertTrue(stream.ended)
        self.assertEqual(len(self.api.link.watches), 0)

    def test_client_disconnect_ends_watch(self) -> None:
        """
        When the client goes away the storage watch stops and the stream is forgotten.
        """
        s = Stream(self.api, f"{CMS}?watch=true&timeoutSeconds=600")
        stream = next(iter(self.api.link.watches._streams))
        s.response.original._transport.loseConnection()
        self.api.treq.flush()
        self.assertTrue(stream.ended)
        self.assertEqual(len(self.api.link.watches), 0)

    def test_legacy_watch_path_single_object(self) -> None:
        """
        /api/v1/watch/namespaces/<ns>/configmaps/<name> watches one object.
        """
        s = Stream(self.api, "/api/v1/watch/namespaces/default/configmaps/b?timeoutSeconds=5")
        self.api.post(CMS, cm("a"))
        self.api.post(CMS, cm("b"))
        self.assertEqual([(e["type"], e["object"]["metadata"]["name"]) for e in s.events()], [("ADDED", "b")])

    def test_cluster_scoped_watch(self) -> None:
        """
        Namespaces can be watched; the system namespaces come first as ADDED.
        """
        s = Stream(self.api, "/api/v1/namespaces?watch=true&timeoutSeconds=5")
        names = [e["object"]["metadata"]["name"] for e in s.events()]
        self.assertEqual(sorted(names), ["default", "kube-node-lease", "kube-public", "kube-system"])

    def test_bare_watch_parameter(self) -> None:
        """
        ?watch with no value is a watch (kube's query booleans).
        """
        s = Stream(self.api, f"{CMS}?watch&timeoutSeconds=5")
        self.api.post(CMS, cm("a"))
        self.assertEqual([e["type"] for e in s.events()], ["ADDED"])
