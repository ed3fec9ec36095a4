"""
Watch over HTTP: a chunked JSON stream (labelled C{application/json}, as kube labels JSON watches) with one C{{"type","object"}}
JSON document per line, as kube's C{WatchServer} writes it. Objects carry kind and apiVersion (or are
one-row Tables when a Table was asked for); a too-old resourceVersion gives an C{ERROR} event with a
410 C{Status}; BOOKMARKs when asked; the stream ends at C{timeoutSeconds}, when the client goes, or at
shutdown.
"""

from __future__ import annotations

import attr

import random
from typing import Any, Optional

import orjson
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.logger import Logger
from twisted.internet.interfaces import IPushProducer
from twisted.web.iweb import IRequest
from zope.interface import implementer

from kapid.apimachinery import serialization as ser
from kapid.apimachinery import table as tables
from kapid.apimachinery.query import Query
from kapid.apimachinery.status import StatusError, expired
from kapid.endpoints import request as req
from kapid.endpoints.request import Target
from kapid.storage.interfaces import BOOKMARK, ERROR, Event, ExpiredError

log = Logger()


class WatchSet:
    """
    The running watch streams of a link, so that shutdown can end them all.
    """

    def __init__(self) -> None:
        self._streams: set["WatchStream"] = set()

    def add(self, s: "WatchStream") -> None:
        """
        Track a stream.
        """
        self._streams.add(s)

    def discard(self, s: "WatchStream") -> None:
        """
        Forget a stream.
        """
        self._streams.discard(s)

    def __len__(self) -> int:
        return len(self._streams)

    def close_for(self, group: str, plural: str) -> None:
        """
        End the streams watching C{group}/C{plural} (its kind is no longer served).
        """
        for s in list(self._streams):
            r = s.target.resource
            if r.group == group and r.plural == plural:
                s.end()

    def close_all(self) -> Deferred:
        """
        End every stream; fires when done.
        """
        for s in list(self._streams):
            s.end()
        return succeed(None)


@implementer(IPushProducer)
class WatchStream:
    """
    One watch response: turns storage events into lines on the request.

    It registers as a push producer on the request: while the client's transport is paused
    (the client reads slower than events come) events still queue in the transport, and after
    C{max_paused_events} of them the stream is cut off, as kube's watch cache cuts off slow
    watchers.
    """

    max_paused_events = 1000

    def __init__(self, link: Any, request: IRequest, target: Target, query: Query, output: ser.Output) -> None:
        self.link = link
        self.request = request
        self.target = target
        self.output = output
        self.store = link.store_for(target.resource)
        self.include_object = query.get("includeObject") or "Metadata"
        self.finished: Deferred = Deferred(self._cancelled)
        self.watcher: Any = None
        self.timer: Any = None
        self.bookmark_timer: Any = None
        self.last_rv = ""
        self.ended = False
        self.first_table = True
        self.bookmarks = False
        self.paused = False
        self.paused_events = 0
        self.producing = False
        #: events of a kind converted by a webhook wait here for their conversion, in order
        self.converting: Optional[Deferred] = None
        if getattr(self.store, "async_converter", None) is not None:
            self.converting = succeed(None)

    # IPushProducer
    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self.paused_events = 0

    def stopProducing(self) -> None:
        self.end(write_final=False)

    def _cancelled(self, d: Deferred) -> None:
        # the client went away: Klein cancels the handler's Deferred
        self.end(write_final=False)

    def encode(self, event: Event, converted: Optional[dict] = None) -> bytes:
        """
        One event as a line (C{converted}: the event's object already in the request's version).
        """
        if event.type == ERROR:
            err = event.error
            if isinstance(err, ExpiredError):
                status = expired(err.message).to_status()
            elif isinstance(err, StatusError):
                status = err.to_status()
            else:
                from kapid.registry.store import interpret_storage_error

                e = interpret_storage_error(err or Exception("watch error"), self.target.resource, "")
                status = e.to_status() if isinstance(e, StatusError) else StatusError(500, "InternalError", str(e)).to_status()
            return orjson.dumps({"type": "ERROR", "object": status}) + b"\n"
        obj = event.object or {}
        version = self.target.version
        if event.type == BOOKMARK:
            rv = (obj.get("metadata") or {}).get("resourceVersion", "")
            if self.output.as_kind == "Table":
                out: Any = {
                    "kind": "Table",
                    "apiVersion": f"meta.k8s.io/{self.output.as_version}",
                    "metadata": {"resourceVersion": rv},
                    "columnDefinitions": None,
                    "rows": None,
                }
            else:
                out = {
                    "kind": self.target.resource.kind,
                    "apiVersion": self.target.resource.api_version(version),
                    "metadata": dict(obj.get("metadata") or {"resourceVersion": rv}),
                }
            return orjson.dumps({"type": BOOKMARK, "object": out}) + b"\n"
        obj = converted if converted is not None else self.store.to_version(obj, version)
        if self.output.as_kind == "Table":
            rv = (obj.get("metadata") or {}).get("resourceVersion", "")
            # kube sends the column definitions with the first event only
            out = self.link.convertor(self.target.resource).table(
                [obj], self.link.clock.seconds(), self.output.as_version, self.include_object,
                {"resourceVersion": rv}, no_headers=not self.first_table,
            )
            self.first_table = False
        elif self.output.as_kind in ("PartialObjectMetadata", "PartialObjectMetadataList"):
            out = tables.partial_object_metadata(obj, self.output.as_version)
        else:
            out = obj
        return orjson.dumps({"type": event.type, "object": out}) + b"\n"

    def on_event(self, event: Event) -> None:
        """
        A storage event: write it (or end on ERROR). For a kind with an asynchronous converter
        every event waits for the ones before it, and an object event for its conversion (each
        object converted on its own, as kube encodes each event); a failed conversion ends the
        stream, as kube's watch server ends it when an event cannot be encoded.
        """
        if self.ended:
            return
        if event.type == BOOKMARK and not self.bookmarks:
            return
        if self.converting is not None:
            self.converting.addCallback(self._convert_and_deliver, event)
            return
        self._deliver(event)

    def _convert_and_deliver(self, _: Any, event: Event) -> Any:
        if self.ended:
            return None
        if event.type == ERROR or event.type == BOOKMARK or event.object is None:
            self._deliver(event)
            return None
        d = Deferred.fromCoroutine(self.store.to_version_async(event.object, self.target.version))

        def failed(f: Any) -> None:
            log.failure("converting a watch event failed", f)
            self.end(write_final=False)

        d.addCallbacks(lambda obj: self._deliver(event, obj), failed)
        return d

    def _deliver(self, event: Event, converted: Optional[dict] = None) -> None:
        if self.ended:
            return
        if event.object is not None:
            rv = (event.object.get("metadata") or {}).get("resourceVersion")
            if rv:
                self.last_rv = rv
        if self.paused:
            self.paused_events += 1
            if self.paused_events > self.max_paused_events:
                log.info("cutting off a slow watch client")
                self.end(write_final=False)
                return
        try:
            self.request.write(self.encode(event, converted))
        except Exception:
            log.failure("writing a watch event failed")
            self.end(write_final=False)
            return
        if event.type == ERROR:
            self.end()

    def send_bookmark(self) -> None:
        """
        A periodic BOOKMARK with the newest resourceVersion seen.
        """
        self.bookmark_timer = None
        if self.ended:
            return
        if self.last_rv:
            self.on_event(Event(BOOKMARK, {"metadata": {"resourceVersion": self.last_rv}}))
        self.bookmark_timer = self.link.clock.callLater(self.link.bookmark_interval, self.send_bookmark)

    def end(self, write_final: bool = True) -> None:
        """
        Stop the storage watch and finish the response.
        """
        if self.ended:
            return
        self.ended = True
        self.link.watches.discard(self)
        for t in (self.timer, self.bookmark_timer):
            if t is not None and t.active():
                t.cancel()
        if self.watcher is not None:
            try:
                self.watcher.stop()
            except Exception:
                log.failure("stopping a storage watch failed")
        if self.producing:
            self.producing = False
            try:
                self.request.unregisterProducer()
            except Exception:
                pass
        if not self.finished.called:
            self.finished.callback(b"")


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> Optional[float]:
    """
    Seconds of a Go duration (C{30s}, C{1m30s}, C{500ms}); None when it does not parse.
    """
    import re

    parts = re.findall(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


async def serve_watch(link: Any, request: IRequest, target: Target, query: Query) -> bytes:
    """
    Serve a watch request; fires (with C{b""}) when the stream ends.
    """
    output = ser.negotiate(req.header(request, b"accept"), stream=True)
    opts = link.list_options(target, query)
    initial = query.optional_bool("sendInitialEvents")
    if initial is not None and opts.send_initial_events is None:
        # the storage sends the initial state and ends it with kube's bookmark at its revision
        opts = attr.evolve(opts, send_initial_events=initial)
    timeout: Optional[float] = query.optional_int("timeoutSeconds")
    if timeout is None and query.get("timeout"):
        timeout = parse_go_duration(query.get("timeout"))
    if timeout is None or timeout <= 0:
        timeout = link.min_request_timeout * (1 + random.random())
    name = target.name
    if not name:
        from kapid.apimachinery.selectors import field_terms_name, parse_field_selector

        pinned = field_terms_name(parse_field_selector(query.get("fieldSelector")))
        name = ""
        _ = pinned
    stream = WatchStream(link, request, target, query, output)
    stream.bookmarks = opts.allow_watch_bookmarks
    request.setResponseCode(200)
    # kube's serveWatch: JSON streams are labelled plain application/json (only the other media
    # types get ";stream=watch"), Tables included
    request.setHeader(b"Content-Type", b"application/json")
    req._cache_control(request)
    try:
        from kapid.server.filters.waitgroup import set_stream_ender

        set_stream_ender(request, stream.end)
    except ImportError:  # pragma: no cover
        pass
    buffered: list[Event] = []
    started = [False]

    def on_event(event: Event) -> None:
        if not started[0]:
            buffered.append(event)
            return
        stream.on_event(event)

    watcher = await link.store_for(target.resource).watch(target.namespace, name, opts, on_event)
    stream.watcher = watcher
    link.watches.add(stream)
    # send headers now so the client sees the stream start
    request.write(b"")
    try:
        request.registerProducer(stream, True)
        stream.producing = True
    except Exception:  # another producer is registered: go without flow control
        pass
    started[0] = True
    for e in buffered:
        stream.on_event(e)
    if stream.ended:
        return b""
    stream.timer = link.clock.callLater(timeout, stream.end)
    if stream.bookmarks:
        stream.bookmark_timer = link.clock.callLater(link.bookmark_interval, stream.send_bookmark)
    done = getattr(watcher, "done", None)
    if isinstance(done, Deferred):
        done.addBoth(lambda _: stream.end())
    try:
        return await stream.finished
    except CancelledError:
        return b""
