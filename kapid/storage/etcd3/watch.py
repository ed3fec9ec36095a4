"""
L{EtcdWatch}: one streaming C{/v3/watch} per watch, read unbuffered and split into lines, resumed
after the last delivered revision when the stream breaks (an etcd restart) or the client fails
over away from the stream's endpoint (a hung member), with backoff on the client's clock; a start
revision that is gone ends the watch with L{CompactedError}.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

import orjson
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from kapid.storage.etcd3.codec import (
    LineParser,
    b64,
    error_from,
    gateway_error,
    group_by_revision,
    header_revision,
    parse_event,
)
from kapid.storage.interfaces import (
    CompactedError,
    IKVWatch,
    KVEvent,
    StorageError,
    UnavailableError,
)
from kapid.storage.memory import prefix_range_end

if TYPE_CHECKING:
    from kapid.storage.etcd3.client import EtcdKV

log = Logger()

INITIAL_BACKOFF = 0.1
MAX_BACKOFF = 5.0


class _WatchStream(Protocol):
    """
    Receives one watch response body and hands each complete line to the watch.
    """

    def __init__(self, watch: "EtcdWatch") -> None:
        self._watch = watch
        self._parser = LineParser()

    def dataReceived(self, data: bytes) -> None:
        for line in self._parser.feed(data):
            if self._watch._stream is not self:
                return
            self._watch._message(line)

    def connectionLost(self, reason: Failure = Failure(Exception("lost"))) -> None:
        self._watch._stream_lost(self, reason)

    def abort(self) -> None:
        """
        Close the response body's connection.
        """
        if self.transport is not None:
            self.transport.stopProducing()  # type: ignore[attr-defined]


@implementer(IKVWatch)
class EtcdWatch:
    """
    A watch on keys under a prefix over the gateway's streaming C{/v3/watch}.
    """

    def __init__(
        self,
        kv: "EtcdKV",
        prefix: bytes,
        start_revision: int,
        on_events: Callable[[list[KVEvent]], None],
    ) -> None:
        self._kv = kv
        self.prefix = prefix
        self._next = start_revision  # 0: "from now", fixed when the first stream is created
        self._on_events = on_events
        self.started: Deferred[None] = Deferred()
        self.done: Deferred[None] = Deferred()
        self._active = True
        self._request: Optional[Deferred[Any]] = None
        self._stream: Optional[_WatchStream] = None
        self._retry: Any = None
        self._backoff = INITIAL_BACKOFF
        self._end = prefix_range_end(prefix) or b"\0"
        #: the endpoint the current stream was opened on
        self.endpoint: Optional[str] = None

    @property
    def next_revision(self) -> int:
        """
        The revision the watch resumes from after a break (0 before the first stream).
        """
        return self._next

    def start(self) -> None:
        """
        Open the first stream.
        """
        self._connect()

    def _create_request(self) -> bytes:
        req: dict[str, Any] = {
            "key": b64(self.prefix or b"\0"),
            "range_end": b64(self._end),
            "prev_kv": True,
        }
        if self._next:
            req["start_revision"] = self._next
        return orjson.dumps({"create_request": req})

    def _connect(self) -> None:
        self._retry = None
        if not self._active:
            return
        d = Deferred.fromCoroutine(self._open())
        self._request = d
        d.addErrback(self._open_failed)

    async def _open(self) -> None:
        response = await self._kv._open_stream(self._create_request())
        self._request = None
        if not self._active:
            response.deliverBody(_Discard())
            return
        if response.code != 200:
            body = await response.content()
            raise gateway_error(response.code, body, self._next)
        stream = _WatchStream(self)
        self._stream = stream
        self.endpoint = self._kv.active_endpoint
        response.deliverBody(stream)

    def move(self) -> None:
        """
        Drop the stream and open a new one on the client's active endpoint, resuming after the
        last delivered revision (the client calls this when it fails over away from the endpoint
        this stream is on: a hung member would otherwise keep the stream open and silent).
        """
        if not self._active or self._stream is None:
            return
        log.info(
            "etcd watch on {prefix!r} moves off {endpoint}; resuming from revision {rev}",
            prefix=self.prefix,
            endpoint=self.endpoint,
            rev=self._next,
        )
        self._drop_stream()
        self._schedule_retry()

    def _open_failed(self, failure: Failure) -> None:
        self._request = None
        if not self._active or failure.check(CancelledError):
            return
        if failure.check(UnavailableError):
            log.info(
                "etcd watch on {prefix!r} cannot connect ({error}); retrying in {delay} s",
                prefix=self.prefix,
                error=failure.value,
                delay=self._backoff,
            )
            self._schedule_retry()
            return
        self._fail(failure.value if isinstance(failure.value, StorageError)
                   else StorageError(str(failure.value)))

    def _schedule_retry(self) -> None:
        if not self._active or self._retry is not None:
            return
        self._retry = self._kv._reactor.callLater(self._backoff, self._connect)
        self._backoff = min(self._backoff * 2, MAX_BACKOFF)

    def _message(self, line: bytes) -> None:
        try:
            msg = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.warn("etcd watch: undecodable line {line!r}", line=line[:200])
            return
        result = msg.get("result")
        if result is None:
            err = msg.get("error") or {}
            e = error_from(
                int(err.get("http_code", 500)),
                int(err.get("grpc_code", err.get("code", 14))),
                str(err.get("message", "")),
            )
            log.info("etcd watch stream error: {error}", error=e)
            self._drop_stream()
            self._schedule_retry()
            return
        if result.get("created"):
            if not self._next:
                self._next = header_revision(result) + 1
            self._backoff = INITIAL_BACKOFF
            if not self.started.called:
                self.started.callback(None)
        if result.get("canceled"):
            compact = int(result.get("compact_revision", 0))
            if compact:
                self._fail(CompactedError(self._next, compact))
            else:
                self._fail(
                    StorageError(f"etcd canceled the watch: {result.get('cancel_reason', '')}")
                )
            return
        events = result.get("events")
        if not events:
            return
        for rev, batch in group_by_revision([parse_event(e) for e in events]):
            if rev < self._next:
                continue
            self._next = rev + 1
            try:
                self._on_events(batch)
            except Exception:
                log.failure("watch callback failed for revision {revision}", revision=rev)
            if not self._active:
                return

    def _stream_lost(self, stream: _WatchStream, reason: Failure) -> None:
        if stream is not self._stream:
            return
        self._stream = None
        if self._active:
            log.info(
                "etcd watch on {prefix!r} broke; resuming from revision {rev}",
                prefix=self.prefix,
                rev=self._next,
            )
            self._schedule_retry()

    def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.abort()

    def _stop(self) -> None:
        self._active = False
        self._kv._forget_watch(self)
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        if self._request is not None:
            req, self._request = self._request, None
            req.cancel()
        self._drop_stream()

    def _fail(self, error: Exception) -> None:
        if not self._active:
            return
        self._stop()
        if not self.started.called:
            self.started.callback(None)
        self.done.errback(error)

    def cancel(self) -> None:
        """
        Stop the watch; C{done} fires with None.
        """
        if not self._active:
            return
        self._stop()
        self.done.callback(None)


class _Discard(Protocol):
    """
    Reads and drops a body, closing it at once.
    """

    def connectionMade(self) -> None:
        if self.transport is not None:
            self.transport.stopProducing()  # type: ignore[attr-defined]
