"""
L{EtcdKV}: the L{IKV} over etcd v3's JSON gateway with treq.

* One injected C{treq} client (by default an C{HTTPClient} over an C{Agent} with its own persistent
  C{HTTPConnectionPool}, 64 connections per host, and the TLS policy built from L{EtcdTLS}); the
  clock/reactor is injected too. URLs are parsed once per endpoint and path. When the client is
  one L{make_http_client} built, unary calls skip treq's per-request work (a cookie and a
  content-decoding agent per request, URL re-encoding) and go to its C{Agent} directly with the
  URL pre-encoded as bytes; the watch stream and injected test clients (C{StubTreq}) use treq.
* Every call is a C{POST /v3/...} with base64 keys and values (see C{reference/etcd-gateway.md});
  transactions take kube's shapes (create: compare C{mod_revision == 0} then put; update: compare
  C{mod_revision == rev} then put, else range; delete: compare then delete with C{prev_kv}, else
  range).
* Per-request timeout (C{request_timeout}, on the injected reactor) -> L{UnavailableError}, as is
  every other connection-level failure or cancellation (never a Twisted connection error).
* Several endpoints: a request that could not be sent (connection refused, DNS, transmission
  failure; for reads also a lost response) goes to the next endpoint, which then stays the active
  one; when none answers -> L{UnavailableError}. A write whose response was lost is not resent.
  A request that times out (a hung member) is L{UnavailableError}, and the next endpoint becomes
  the active one for the requests after it.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, List

import attr
import orjson
from hyperlink import EncodedURL
from twisted.internet import error as ierror
from twisted.internet.defer import CancelledError, Deferred, TimeoutError as DeferredTimeoutError, succeed
from twisted.internet.ssl import Certificate, PrivateCertificate, optionsForClientTLS
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import (
    Agent,
    HTTPConnectionPool,
    RequestTransmissionFailed,
    ResponseFailed,
    ResponseNeverReceived,
    readBody,
)
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer, IPolicyForHTTPS
from zope.interface import implementer

from kapid.storage.etcd3.codec import b64, gateway_error, header_revision, parse_kv
from kapid.storage.etcd3.watch import EtcdWatch
from kapid.storage.interfaces import (
    IKV,
    FutureRevisionError,
    KeyValue,
    KVEvent,
    ListResult,
    StorageError,
    TxnResult,
    UnavailableError,
)
from kapid.storage.memory import prefix_range_end

log = Logger()

_NEVER_SENT = (ierror.ConnectError, ierror.DNSLookupError, RequestTransmissionFailed)
_MAYBE_SENT = (ResponseNeverReceived, ResponseFailed, ierror.ConnectionLost, ierror.ConnectionDone)
_HEADERS = {b"Content-Type": [b"application/json"]}
# shared by every direct Agent request: the Agent copies it before adding Host, never changes it
_AGENT_HEADERS = Headers({b"Content-Type": [b"application/json"]})


@implementer(IBodyProducer)
class BytesProducer:
    """
    A request body already in memory, written at once (no cooperator round, unlike
    C{FileBodyProducer}); kapid's outbound clients (etcd, webhooks, the aggregator) all use it.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer: Any) -> Deferred[None]:
        consumer.write(self._data)
        return succeed(None)

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def _cancelled(e: BaseException) -> bool:
    """
    Whether C{e} comes from cancelling a request (treq's C{timeout}), possibly wrapped by the Agent.
    """
    if isinstance(e, (CancelledError, ierror.ConnectingCancelledError)):
        return True
    return any(
        _cancelled(r.value) for r in getattr(e, "reasons", ()) if isinstance(r, Failure)
    )


def _relay_to(result: Any, d: Deferred[Any]) -> None:
    """
    Fire C{d} with C{result} unless it already fired (cancelled before the attempt ended).
    """
    if not d.called:
        if isinstance(result, Failure):
            d.errback(result)
        else:
            d.callback(result)


def _timed_out(result: Any, timeout: float) -> Any:
    """
    C{addTimeout}'s C{onTimeoutCancel}: whatever the cancelled request ended with (a
    C{CancelledError}, the Agent's C{ConnectingCancelledError}, a C{DNSLookupError} when the name
    was still being resolved, a wrapped cancellation), it timed out.
    """
    raise DeferredTimeoutError(f"no answer within {timeout} s")


@attr.s(frozen=True, auto_attribs=True)
class EtcdTLS:
    """
    TLS to etcd: the CA that signed etcd's serving certificate (None: the platform's trust store)
    and the client certificate and key (PEM files) when etcd requires client certificates.
    """

    cafile: Optional[str] = None
    certfile: Optional[str] = None
    keyfile: Optional[str] = None


@implementer(IPolicyForHTTPS)
class EtcdTLSPolicy:
    """
    Builds the client TLS options for etcd endpoints from an L{EtcdTLS} (files read once).
    """

    def __init__(self, tls: EtcdTLS) -> None:
        self._trust: Any = None
        if tls.cafile:
            with open(tls.cafile, "rb") as f:
                self._trust = Certificate.loadPEM(f.read())
        self._client_cert: Optional[PrivateCertificate] = None
        if tls.certfile:
            with open(tls.certfile, "rb") as f:
                cert = f.read()
            key = b""
            if tls.keyfile:
                with open(tls.keyfile, "rb") as f:
                    key = f.read()
            self._client_cert = PrivateCertificate.loadPEM(cert + b"\n" + key)
        self._cache: dict[tuple[bytes, int], Any] = {}

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        """
        The connection creator for C{hostname:port}.
        """
        creator = self._cache.get((hostname, port))
        if creator is None:
            creator = self._cache[(hostname, port)] = optionsForClientTLS(
                hostname.decode("ascii"),
                trustRoot=self._trust,
                clientCertificate=self._client_cert,
            )
        return creator


def make_http_client(reactor: Any, tls: Optional[EtcdTLS], max_per_host: int = 64) -> Any:
    """
    A treq C{HTTPClient} over its own persistent connection pool (and TLS policy).
    """
    from treq.client import HTTPClient

    pool = HTTPConnectionPool(reactor, persistent=True)
    pool.maxPersistentPerHost = max_per_host
    pool.retryAutomatically = False
    if tls is not None:
        agent = Agent(reactor, contextFactory=EtcdTLSPolicy(tls), pool=pool)
    else:
        agent = Agent(reactor, pool=pool)
    client = HTTPClient(agent)
    client._kapid_pool = pool  # type: ignore[attr-defined]
    # the bare Agent under the client: EtcdKV sends its unary calls through it directly
    client._kapid_agent = agent  # type: ignore[attr-defined]
    return client


@implementer(IKV)
class EtcdKV:
    """
    An L{IKV} over etcd v3's JSON gateway at C{endpoints} (e.g. C{["http://127.0.0.1:2379"]}).
    """

    def __init__(
        self,
        endpoints: list[str],
        reactor: Any,
        request_timeout: float = 5.0,
        tls: Optional[EtcdTLS] = None,
        http_client: Any = None,
    ) -> None:
        if not endpoints:
            raise ValueError("EtcdKV needs at least one endpoint")
        self._endpoints = [e.rstrip("/") for e in endpoints]
        self._reactor = reactor
        self._timeout = request_timeout
        self._own_client = http_client is None
        self._client = http_client if http_client is not None else make_http_client(reactor, tls)
        self._active = 0
        self._urls: list[dict[str, EncodedURL]] = [{} for _ in self._endpoints]
        # the Agent of a client built by make_http_client (None: an injected client, e.g. StubTreq)
        self._agent: Any = getattr(self._client, "_kapid_agent", None)
        self._byte_urls: list[dict[str, bytes]] = [{} for _ in self._endpoints]
        self._watches: set[EtcdWatch] = set()
        self._closed = False

    @property
    def endpoints(self) -> list[str]:
        """
        The endpoints, in order.
        """
        return list(self._endpoints)

    @property
    def active_endpoint(self) -> str:
        """
        The endpoint requests go to first.
        """
        return self._endpoints[self._active]

    def _url(self, i: int, path: str) -> EncodedURL:
        urls = self._urls[i]
        url = urls.get(path)
        if url is None:
            url = urls[path] = EncodedURL.from_text(self._endpoints[i] + path)
        return url

    def _failed_over(self, i: int, reason: Any) -> None:
        n = len(self._endpoints)
        if self._active == i and n > 1:
            self._active = (i + 1) % n
            log.warn(
                "etcd endpoint {bad} failed ({reason}); switching to {good}",
                bad=self._endpoints[i],
                reason=reason,
                good=self._endpoints[self._active],
            )
            # watches streaming from the failed endpoint move too (a hung member keeps them
            # open and silent)
            for w in list(self._watches):
                if w.endpoint == self._endpoints[i]:
                    w.move()

    def _byte_url(self, i: int, path: str) -> bytes:
        urls = self._byte_urls[i]
        url = urls.get(path)
        if url is None:
            url = urls[path] = self._url(i, path).to_uri().to_text().encode("ascii")
        return url

    async def _attempt(self, i: int, path: str, data: bytes) -> tuple[int, bytes]:
        if self._agent is not None:
            response = await self._agent.request(
                b"POST", self._byte_url(i, path), _AGENT_HEADERS, BytesProducer(data)
            )
            return response.code, await readBody(response)
        response = await self._client.request(
            "POST", self._url(i, path), data=data, headers=_HEADERS, allow_redirects=False,
            unbuffered=True,
        )
        body = await response.content()
        return response.code, body

    async def _call(
        self, path: str, payload: dict[str, Any], idempotent: bool = True, revision: int = 0
    ) -> dict[str, Any]:
        """
        POST C{payload} to C{path} on the active endpoint, failing over; decode the answer or raise
        the mapped storage error.
        """
        if self._closed:
            raise UnavailableError("etcd client closed")
        data = orjson.dumps(payload)
        n = len(self._endpoints)
        first = self._active
        problems: list[str] = []
        for attempt in range(n):
            i = (first + attempt) % n
            request = Deferred.fromCoroutine(self._attempt(i, path, data))
            request.addTimeout(self._timeout, self._reactor, onTimeoutCancel=_timed_out)
            # d is what this call waits on: cancelling it (the caller giving up) is told apart
            # from the request's own timeout
            given_up: list[bool] = []
            d: Deferred[tuple[int, bytes]] = Deferred(
                lambda _, r=request: (given_up.append(True), r.cancel())
            )
            request.addBoth(_relay_to, d)
            try:
                code, body = await d
            except Exception as e:
                # Every connection-level failure is UnavailableError. A timeout cancels whatever
                # is under way, so it may surface as the Agent's ConnectingCancelledError (while
                # connecting) or a CancelledError wrapped in ResponseNeverReceived/ResponseFailed
                # rather than as the Deferred's TimeoutError.
                if isinstance(e, StorageError):
                    raise
                if isinstance(e, DeferredTimeoutError):
                    # a hung member (SIGSTOP, a stalled disk) answers nothing: the next requests
                    # go to the next endpoint, as after a refused connection
                    self._failed_over(i, f"no answer within {self._timeout} s")
                    raise UnavailableError(
                        f"etcd {self._endpoints[i]} did not answer {path} within {self._timeout} s"
                    ) from None
                if given_up or _cancelled(e):  # the caller gave up (e.g. a health check's timeout)
                    raise UnavailableError(
                        f"etcd {self._endpoints[i]}: {path}: request cancelled"
                    ) from None
                if isinstance(e, _NEVER_SENT):
                    problems.append(f"{self._endpoints[i]}: {e}")
                    self._failed_over(i, e)
                    continue
                if isinstance(e, _MAYBE_SENT) and idempotent:
                    problems.append(f"{self._endpoints[i]}: {e}")
                    self._failed_over(i, e)
                    continue
                if isinstance(e, _MAYBE_SENT):
                    raise UnavailableError(
                        f"etcd {self._endpoints[i]}: {path}: response lost ({e})"
                    ) from None
                raise UnavailableError(f"etcd {self._endpoints[i]}: {path}: {e!r}") from None
            if code != 200:
                err = gateway_error(code, body, revision)
                if idempotent and isinstance(err, UnavailableError) and attempt + 1 < n:
                    # this member cannot serve (no leader, shutting down): ask the next one
                    problems.append(f"{self._endpoints[i]}: {err}")
                    self._failed_over(i, err)
                    continue
                raise err
            return orjson.loads(body)  # type: ignore[no-any-return]
        raise UnavailableError("no etcd endpoint answered: " + "; ".join(problems))

    async def _open_stream(self, data: bytes) -> Any:
        """
        Start a streaming C{/v3/watch} request (unbuffered) on the active endpoint, failing over;
        fires with the response once its headers came (the gateway sends them with the first
        message).
        """
        if self._closed:
            raise UnavailableError("etcd client closed")
        n = len(self._endpoints)
        first = self._active
        problems: list[str] = []
        for attempt in range(n):
            i = (first + attempt) % n
            d = self._client.request(
                "POST",
                self._url(i, "/v3/watch"),
                data=data,
                headers=_HEADERS,
                allow_redirects=False,
                unbuffered=True,
            )
            d.addTimeout(self._timeout, self._reactor, onTimeoutCancel=_timed_out)
            try:
                return await d
            except Exception as e:
                if isinstance(e, DeferredTimeoutError) or _cancelled(e):
                    self._failed_over(i, f"no answer to a watch within {self._timeout} s")
                    raise UnavailableError(
                        f"etcd {self._endpoints[i]} did not answer a watch within {self._timeout} s"
                    )
                if not isinstance(e, _NEVER_SENT + _MAYBE_SENT):
                    raise UnavailableError(f"etcd {self._endpoints[i]}: {e!r}")
                problems.append(f"{self._endpoints[i]}: {e}")
                self._failed_over(i, e)
        raise UnavailableError("no etcd endpoint answered: " + "; ".join(problems))

    async def _range(self, req: dict[str, Any], revision: int) -> dict[str, Any]:
        """
        A range; a future revision error carries the current revision (read once more), as the
        gateway's message does not.
        """
        try:
            return await self._call("/v3/kv/range", req, revision=revision)
        except FutureRevisionError as e:
            try:
                current = await self._current_revision()
            except StorageError:
                current = 0
            raise FutureRevisionError(e.revision, current) from None

    # -- IKV ----------------------------------------------------------------------------------

    def get(self, key: bytes, revision: int = 0) -> Deferred[Any]:
        """
        See L{IKV.get}.
        """
        return Deferred.fromCoroutine(self._get(key, revision))

    async def _get(self, key: bytes, revision: int) -> tuple[Optional[KeyValue], int]:
        req: dict[str, Any] = {"key": b64(key)}
        if revision:
            req["revision"] = revision
        body = await self._range(req, revision)
        kvs = body.get("kvs")
        return (parse_kv(kvs[0]) if kvs else None), header_revision(body)

    def list(
        self, prefix: bytes, revision: int = 0, limit: int = 0, start_key: Optional[bytes] = None
    ) -> Deferred[Any]:
        """
        See L{IKV.list}.
        """
        return Deferred.fromCoroutine(self._list(prefix, revision, limit, start_key))

    async def _list(
        self, prefix: bytes, revision: int, limit: int, start_key: Optional[bytes]
    ) -> ListResult:
        req: dict[str, Any] = {
            "key": b64((start_key if start_key is not None else prefix) or b"\0"),
            "range_end": b64(prefix_range_end(prefix) or b"\0"),
        }
        if limit:
            req["limit"] = limit
        if revision:
            req["revision"] = revision
        body = await self._range(req, revision)
        return ListResult(
            kvs=tuple(parse_kv(kv) for kv in body.get("kvs", ())),
            revision=revision or header_revision(body),
            more=bool(body.get("more")),
            count=int(body.get("count", 0)),
        )

    def count(self, prefix: bytes) -> Deferred[Any]:
        """
        See L{IKV.count}.
        """
        return Deferred.fromCoroutine(self._count(prefix))

    async def _count(self, prefix: bytes) -> int:
        body = await self._call(
            "/v3/kv/range",
            {
                "key": b64(prefix or b"\0"),
                "range_end": b64(prefix_range_end(prefix) or b"\0"),
                "count_only": True,
            },
        )
        return int(body.get("count", 0))

    def optimistic_put(
        self, key: bytes, value: bytes, expected_mod_revision: int, lease: int = 0
    ) -> Deferred[Any]:
        """
        See L{IKV.optimistic_put}.
        """
        return Deferred.fromCoroutine(self._optimistic_put(key, value, expected_mod_revision, lease))

    async def _optimistic_put(
        self, key: bytes, value: bytes, expected: int, lease: int
    ) -> TxnResult:
        k = b64(key)
        put: dict[str, Any] = {"key": k, "value": b64(value)}
        if lease:
            put["lease"] = str(lease)  # int64 as a string, exact whatever the JSON parser
        success: list[dict[str, Any]] = [{"request_put": put}]
        if expected:
            success.append({"request_range": {"key": k, "keys_only": True}})
        body = await self._call(
            "/v3/kv/txn",
            {
                "compare": [
                    {"key": k, "target": "MOD", "result": "EQUAL", "mod_revision": expected}
                ],
                "success": success,
                "failure": [{"request_range": {"key": k}}],
            },
            idempotent=False,
        )
        rev = header_revision(body)
        responses = body.get("responses") or []
        if body.get("succeeded"):
            if not expected:
                return TxnResult(True, rev, KeyValue(key, value, rev, rev, 1, lease))
            kvs = responses[1]["response_range"].get("kvs") or [{}]
            written = parse_kv(kvs[0])
            return TxnResult(
                True,
                rev,
                KeyValue(key, value, written.create_revision, rev, written.version, lease),
            )
        kvs = responses[0]["response_range"].get("kvs") if responses else None
        return TxnResult(False, rev, parse_kv(kvs[0]) if kvs else None)

    def optimistic_delete(self, key: bytes, expected_mod_revision: int) -> Deferred[Any]:
        """
        See L{IKV.optimistic_delete}.
        """
        return Deferred.fromCoroutine(self._optimistic_delete(key, expected_mod_revision))

    async def _optimistic_delete(self, key: bytes, expected: int) -> TxnResult:
        k = b64(key)
        if not expected:
            body = await self._call(
                "/v3/kv/deleterange", {"key": k, "prev_kv": True}, idempotent=False
            )
            prev = body.get("prev_kvs")
            rev = header_revision(body)
            if not prev:
                return TxnResult(False, rev, None)
            return TxnResult(True, rev, parse_kv(prev[0]))
        body = await self._call(
            "/v3/kv/txn",
            {
                "compare": [
                    {"key": k, "target": "MOD", "result": "EQUAL", "mod_revision": expected}
                ],
                "success": [{"request_delete_range": {"key": k, "prev_kv": True}}],
                "failure": [{"request_range": {"key": k}}],
            },
            idempotent=False,
        )
        rev = header_revision(body)
        responses = body.get("responses") or [{}]
        if body.get("succeeded"):
            prev = responses[0].get("response_delete_range", {}).get("prev_kvs")
            return TxnResult(True, rev, parse_kv(prev[0]) if prev else None)
        kvs = responses[0].get("response_range", {}).get("kvs")
        return TxnResult(False, rev, parse_kv(kvs[0]) if kvs else None)

    def put_all(self, items: Iterable[tuple[bytes, bytes]]) -> Deferred[Any]:
        """
        See L{IKV.put_all}.
        """
        return Deferred.fromCoroutine(self._put_all(list(items)))

    async def _put_all(self, items: List[tuple[bytes, bytes]]) -> int:
        if not items:
            return await self._current_revision()
        body = await self._call(
            "/v3/kv/txn",
            {"success": [{"request_put": {"key": b64(k), "value": b64(v)}} for k, v in items]},
            idempotent=False,
        )
        return header_revision(body)

    def watch(
        self,
        prefix: bytes,
        start_revision: int,
        on_events: Callable[[List[KVEvent]], None],
    ) -> EtcdWatch:
        """
        See L{IKV.watch}: one streaming request per watch, resumed after breaks.
        """
        w = EtcdWatch(self, prefix, start_revision, on_events)
        if self._closed:
            w._fail(UnavailableError("etcd client closed"))
            return w
        self._watches.add(w)
        w.start()
        return w

    def _forget_watch(self, w: EtcdWatch) -> None:
        self._watches.discard(w)

    def grant_lease(self, ttl_seconds: int) -> Deferred[Any]:
        """
        See L{IKV.grant_lease}.
        """
        return Deferred.fromCoroutine(self._grant_lease(ttl_seconds))

    async def _grant_lease(self, ttl: int) -> int:
        body = await self._call("/v3/lease/grant", {"TTL": ttl}, idempotent=False)
        return int(body["ID"])

    def compact(self, revision: int) -> Deferred[Any]:
        """
        See L{IKV.compact}.
        """
        return Deferred.fromCoroutine(self._compact(revision))

    async def _compact(self, revision: int) -> None:
        await self._call(
            "/v3/kv/compaction", {"revision": revision}, idempotent=False, revision=revision
        )

    def current_revision(self) -> Deferred[Any]:
        """
        See L{IKV.current_revision}.
        """
        return Deferred.fromCoroutine(self._current_revision())

    async def _current_revision(self) -> int:
        body = await self._call("/v3/kv/range", {"key": b64(b"health"), "keys_only": True})
        return header_revision(body)

    def check_health(self) -> Deferred[Any]:
        """
        See L{IKV.check_health}: a linearizable read of the key C{health}, as kube's check does.
        """
        d = self.current_revision()
        d.addCallback(lambda _: None)
        return d

    def close(self) -> Deferred[Any]:
        """
        Cancel watches and close pooled connections.
        """
        self._closed = True
        for w in list(self._watches):
            w.cancel()
        pool = getattr(self._client, "_kapid_pool", None)
        if self._own_client and pool is not None:
            return pool.closeCachedConnections()  # type: ignore[no-any-return]
        return succeed(None)
