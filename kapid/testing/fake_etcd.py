"""
L{FakeEtcdGateway}: an in-memory stand-in for etcd 3.4's JSON gateway, as a C{twisted.web} resource
backed by a L{MemoryKV}, for unit tests of HTTP clients through C{treq.testing.StubTreq}::

    kv = MemoryKV(clock)
    gateway = FakeEtcdGateway(kv, chunk_size=7)
    stub = StubTreq(gateway)
    client = EtcdKV(["http://etcd.invalid:2379"], clock, http_client=stub)
    ...
    stub.flush()   # after writes, so streamed watch lines reach the client

It speaks the shapes in C{reference/etcd-gateway.md}: C{POST /v3/kv/range|put|deleterange|txn|
compaction}, C{/v3/lease/grant|revoke}, the streaming C{/v3/watch} (one JSON line per message, the
C{created} message first, C{canceled} + C{compact_revision} for a compacted start revision with the
stream left open, PUT events without C{type}, DELETE events with the value only in C{prev_kv}),
int64 fields as strings, zero fields omitted, and errors as C{{"error", "message", "code"}} with the
gateway's HTTP statuses. C{chunk_size} splits every streamed line into chunks of that many bytes
(the first eight chunks; then the rest in one) to exercise clients' partial-line handling;
C{batch_revisions} holds watch events back until L{FakeEtcdGateway.release} so several revisions
go out in one message; C{after_write} is called after every streamed line (a test can schedule
C{stub.flush} there instead of polling).
L{FakeEtcdGateway.drop_watches} ends every watch stream and C{unavailable} makes every call fail
with 503 / code 14, for tests of clients' recovery.
"""

from __future__ import annotations

from base64 import b64decode, b64encode
from typing import Any, Callable, Optional

import orjson
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request

from kapid.storage.interfaces import (
    DELETE,
    CompactedError,
    FutureRevisionError,
    KeyValue,
    KVEvent,
    LeaseNotFoundError,
    RequestTooLargeError,
    StorageError,
)
from kapid.storage.memory import MemoryKV, prefix_range_end


class _GatewayError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _b(text: Optional[str]) -> bytes:
    if not text:
        return b""
    try:
        return b64decode(text, validate=True)
    except ValueError:
        raise _GatewayError(400, 3, "illegal base64 data at input byte 0")


def _s(data: bytes) -> str:
    return b64encode(data).decode("ascii")


def _kv_json(kv: KeyValue, keys_only: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"key": _s(kv.key)}
    if kv.create_revision:
        out["create_revision"] = str(kv.create_revision)
    if kv.mod_revision:
        out["mod_revision"] = str(kv.mod_revision)
    if kv.version:
        out["version"] = str(kv.version)
    if kv.value and not keys_only:
        out["value"] = _s(kv.value)
    if kv.lease:
        out["lease"] = str(kv.lease)
    return out


def _range_end(req: dict[str, Any]) -> Optional[bytes]:
    end = req.get("range_end")
    if end is None or end == "":
        return None
    return _b(end)


class FakeEtcdGateway(Resource):
    """
    The fake gateway over C{kv}. See the module docstring.
    """

    isLeaf = True

    def __init__(
        self,
        kv: MemoryKV,
        chunk_size: int = 0,
        batch_revisions: bool = False,
        after_write: Optional[Callable[[], None]] = None,
    ) -> None:
        super().__init__()
        self.after_write = after_write
        self.kv = kv
        self.chunk_size = chunk_size
        self.batch_revisions = batch_revisions
        self.requests: list[tuple[bytes, dict[str, Any]]] = []
        #: while set, every call answers 503 with gRPC code 14, as a member without a leader does
        self.unavailable = False
        self._streams: list[Request] = []
        self._held: list[tuple[Any, list[dict[str, Any]]]] = []

    # -- plumbing -----------------------------------------------------------------------------

    def _header(self) -> dict[str, str]:
        return {
            "cluster_id": "14841639068965178418",
            "member_id": "10276657743932975437",
            "revision": str(self.kv.revision),
            "raft_term": "2",
        }

    def render_GET(self, request: Request) -> bytes:
        """
        C{/health} and C{/version}; POST-only paths give 405 as the gateway does.
        """
        request.setHeader(b"content-type", b"application/json")
        if request.path == b"/health":
            return b'{"health":"true"}'
        if request.path == b"/version":
            return b'{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}'
        request.setResponseCode(405)
        return b"Method Not Allowed"

    def render_POST(self, request: Request) -> Any:
        """
        Dispatch C{/v3/<service>/<method>}.
        """
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"grpc-metadata-content-type", b"application/grpc")
        path = request.path
        if self.unavailable:
            request.setResponseCode(503)
            return b'{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}'
        try:
            try:
                body = orjson.loads(request.content.read() or b"{}")  # type: ignore[union-attr,attr-defined]
            except orjson.JSONDecodeError:
                raise _GatewayError(400, 3, "unexpected EOF")
            self.requests.append((path, body))
            if path == b"/v3/watch":
                return self._watch(request, body)
            handler = self._handlers.get(path)
            if handler is None:
                request.setResponseCode(404)
                return b"404 page not found\n"
            return orjson.dumps(handler(self, body))
        except _GatewayError as e:
            request.setResponseCode(e.status)
            return orjson.dumps({"error": e.message, "message": e.message, "code": e.code})
        except StorageError as e:
            status, code, message = self._map(e)
            request.setResponseCode(status)
            return orjson.dumps({"error": message, "message": message, "code": code})

    @staticmethod
    def _map(e: StorageError) -> tuple[int, int, str]:
        if isinstance(e, CompactedError):
            return 400, 11, "etcdserver: mvcc: required revision has been compacted"
        if isinstance(e, FutureRevisionError):
            return 400, 11, "etcdserver: mvcc: required revision is a future revision"
        if isinstance(e, RequestTooLargeError):
            return 400, 3, "etcdserver: request is too large"
        if isinstance(e, LeaseNotFoundError):
            return 404, 5, "etcdserver: requested lease not found"
        return 500, 2, str(e)

    # -- KV -----------------------------------------------------------------------------------

    def _key(self, req: dict[str, Any]) -> bytes:
        key = _b(req.get("key"))
        if not key:
            raise _GatewayError(400, 3, "etcdserver: key is not provided")
        return key

    def _range_response(self, req: dict[str, Any]) -> dict[str, Any]:
        kvs, count, more, _ = self.kv.range_sync(
            self._key(req), _range_end(req), int(req.get("revision", 0)), int(req.get("limit", 0))
        )
        out: dict[str, Any] = {"header": self._header()}
        if kvs and not req.get("count_only"):
            out["kvs"] = [_kv_json(kv, bool(req.get("keys_only"))) for kv in kvs]
        if more:
            out["more"] = True
        if count:
            out["count"] = str(count)
        return out

    def range(self, req: dict[str, Any]) -> dict[str, Any]:
        """
        C{/v3/kv/range}.
        """
        return self._range_response(req)

    def put(self, req: dict[str, Any]) -> dict[str, Any]:
        """
        C{/v3/kv/put}.
        """
        key = self._key(req)
        _, _, (prev,) = self.kv.txn_sync(
            [], [("put", key, _b(req.get("value")), int(req.get("lease", 0)))], []
        )
        out: dict[str, Any] = {"header": self._header()}
        if req.get("prev_kv") and prev is not None:
            out["prev_kv"] = _kv_json(prev)
        return out

    def _delete(self, req: dict[str, Any]) -> dict[str, Any]:
        deleted, _ = self.kv.delete_range_sync(self._key(req), _range_end(req))
        out: dict[str, Any] = {"header": self._header()}
        if deleted:
            out["deleted"] = str(len(deleted))
            if req.get("prev_kv"):
                out["prev_kvs"] = [_kv_json(kv) for kv in deleted]
        return out

    def deleterange(self, req: dict[str, Any]) -> dict[str, Any]:
        """
        C{/v3/kv/deleterange}.
        """
        return self._delete(req)

    def _compare(self, cmp: dict[str, Any]) -> bool:
        key = _b(cmp.get("key"))
        kvs = self.kv.range_sync(key, None)[0]
        kv = kvs[0] if kvs else None
        target = cmp.get("target", "VERSION")
        if target == "MOD":
            actual, want = (kv.mod_revision if kv else 0), int(cmp.get("mod_revision", 0))
        elif target == "CREATE":
            actual, want = (kv.create_revision if kv else 0), int(cmp.get("create_revision", 0))
        elif target == "VALUE":
            actual, want = (kv.value if kv else b""), _b(cmp.get("value"))  # type: ignore[assignment]
        elif target == "LEASE":
            actual, want = (kv.lease if kv else 0), int(cmp.get("lease", 0))
        else:
            actual, want = (kv.version if kv else 0), int(cmp.get("version", 0))
        result = cmp.get("result", "EQUAL")
        if result == "EQUAL":
            return bool(actual == want)
        if result == "NOT_EQUAL":
            return bool(actual != want)
        if result == "GREATER":
            return bool(actual > want)  # type: ignore[operator]
        return bool(actual < want)  # type: ignore[operator]

    def txn(self, req: dict[str, Any]) -> dict[str, Any]:
        """
        C{/v3/kv/txn}: compares on VERSION/CREATE/MOD/VALUE/LEASE, then put / range / single-key
        delete ops at one revision.
        """
        ok = all(self._compare(c) for c in req.get("compare", ()))
        ops_json = req.get("success" if ok else "failure") or []
        ops: list[tuple] = []
        for op in ops_json:
            if "request_put" in op:
                p = op["request_put"]
                ops.append(("put", self._key(p), _b(p.get("value")), int(p.get("lease", 0))))
            elif "request_delete_range" in op:
                p = op["request_delete_range"]
                if _range_end(p) is not None:
                    raise _GatewayError(400, 3, "fake gateway: ranged delete in txn unsupported")
                ops.append(("delete", self._key(p)))
            elif "request_range" in op:
                p = op["request_range"]
                ops.append(("range", self._key(p), _range_end(p)))
        written = [op[1] for op in ops if op[0] != "range"]
        if len(set(written)) != len(written):
            raise _GatewayError(400, 3, "etcdserver: duplicate key given in txn request")
        _, _, results = self.kv.txn_sync([], ops, [])
        responses: list[dict[str, Any]] = []
        for op_json, op, res in zip(ops_json, ops, results):
            if op[0] == "put":
                r: dict[str, Any] = {"header": self._header()}
                if op_json["request_put"].get("prev_kv") and res is not None:
                    r["prev_kv"] = _kv_json(res)
                responses.append({"response_put": r})
            elif op[0] == "delete":
                r = {"header": self._header()}
                if res:
                    r["deleted"] = str(len(res))
                    if op_json["request_delete_range"].get("prev_kv"):
                        r["prev_kvs"] = [_kv_json(kv) for kv in res]
                responses.append({"response_delete_range": r})
            else:
                responses.append({"response_range": self._range_response(op_json["request_range"])})
        out: dict[str, Any] = {"header": self._header()}
        if ok:
            out["succeeded"] = True
        if responses:
            out["responses"] = responses
        return out

    def compaction(self, req: dict[str, Any]) -> dict[str, Any]:
        """
        C{/v3/kv/compaction}.
        """
        self.kv.compact_sync(int(req.get("revision", 0)))
        return {"header": self._header()}

    def lease_grant(self, req: dict[str, Any]) -> dict[str, Any]:
        """
        C{/v3/lease/grant}.
        """
        ttl = int(req.get("TTL", 0))
        lease_id = self.kv.grant_lease_sync(ttl, int(req.get("ID", 0)))
        return {"header": self._header(), "ID": str(lease_id), "TTL": str(ttl)}

    def lease_revoke(self, req: dict[str, Any]) -> dict[str, Any]:
        """
        C{/v3/lease/revoke}.
        """
        self.kv.revoke_lease(int(req.get("ID", 0)))
        return {"header": self._header()}

    _handlers = {
        b"/v3/kv/range": range,
        b"/v3/kv/put": put,
        b"/v3/kv/deleterange": deleterange,
        b"/v3/kv/txn": txn,
        b"/v3/kv/compaction": compaction,
        b"/v3/lease/grant": lease_grant,
        b"/v3/lease/revoke": lease_revoke,
        b"/v3/kv/lease/revoke": lease_revoke,
    }

    # -- watch --------------------------------------------------------------------------------

    def _write_line(self, request: Request, message: dict[str, Any]) -> None:
        if request.finished or getattr(request, "_disconnected", False):
            return
        line = orjson.dumps(message) + b"\n"
        n = self.chunk_size
        if n:
            # the first pieces of chunk_size bytes, then the rest: lines cross chunk borders
            # without a huge value costing thousands of writes
            cut = min(len(line), 8 * n)
            for i in range(0, cut, n):
                request.write(line[i : min(i + n, cut)])
            if cut < len(line):
                request.write(line[cut:])
        else:
            request.write(line)
        if self.after_write is not None:
            self.after_write()

    def _event_json(self, e: KVEvent, with_prev: bool) -> dict[str, Any]:
        if e.type == DELETE:
            out: dict[str, Any] = {
                "type": "DELETE",
                "kv": {"key": _s(e.kv.key), "mod_revision": str(e.kv.mod_revision)},
            }
        else:
            out = {"kv": _kv_json(e.kv)}
        if with_prev and e.prev_kv is not None:
            out["prev_kv"] = _kv_json(e.prev_kv)
        return out

    def release(self) -> None:
        """
        With C{batch_revisions}: send the held events, all revisions of a stream in one message.
        """
        held, self._held = self._held, []
        by_stream: dict[int, tuple[Any, list[dict[str, Any]]]] = {}
        for send, events in held:
            by_stream.setdefault(id(send), (send, []))[1].extend(events)
        for send, events in by_stream.values():
            send(events)

    def _watch(self, request: Request, body: dict[str, Any]) -> Any:
        create = body.get("create_request")
        if not create:
            return NOT_DONE_YET  # the gateway answers nothing at all
        key = _b(create.get("key"))
        end = _range_end(create)
        with_prev = bool(create.get("prev_kv"))
        start = int(create.get("start_revision", 0))
        if key == b"\0" and end == b"\0":
            prefix, lo, hi = b"", b"", None
        else:
            prefix = key if end is not None and end == (prefix_range_end(key) or b"\0") else b""
            lo, hi = key, end
        request.setHeader(b"content-type", b"application/json")

        def in_range(k: bytes) -> bool:
            if hi is None:
                return k >= lo if prefix == b"" and lo == b"" else k == lo
            return lo <= k and (hi == b"\0" or k < hi)

        def send(events: list[dict[str, Any]]) -> None:
            self._write_line(
                request, {"result": {"header": self._header(), "events": events}}
            )

        def on_events(events: list[KVEvent]) -> None:
            mine = [self._event_json(e, with_prev) for e in events if in_range(e.kv.key)]
            if not mine:
                return
            if self.batch_revisions:
                self._held.append((send, mine))
            else:
                send(mine)

        self._write_line(request, {"result": {"header": self._header(), "created": True}})
        w = self.kv.watch(prefix, start, on_events)

        def ended(f: Any) -> None:
            if f.check(CompactedError):
                header = self._header()
                del header["revision"]
                self._write_line(
                    request,
                    {
                        "result": {
                            "header": header,
                            "canceled": True,
                            "compact_revision": str(f.value.compact_revision),
                        }
                    },
                )
            # the real gateway leaves the stream open after a cancel

        w.done.addErrback(ended)
        self._streams.append(request)

        def finished(_: Any) -> None:
            w.cancel()
            if request in self._streams:
                self._streams.remove(request)

        request.notifyFinish().addBoth(finished)
        return NOT_DONE_YET

    def drop_watches(self) -> None:
        """
        End every open watch stream (as an etcd restart does); clients must re-watch.
        """
        for request in list(self._streams):
            self._streams.remove(request)
            if not request.finished:
                request.finish()
            if self.after_write is not None:
                self.after_write()
