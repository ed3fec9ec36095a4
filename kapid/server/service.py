"""
L{KapidService}: one kapid server's life.

C{startService} opens the storage, builds the chain, generates or loads the TLS material, listens
(secure and insecure), writes C{admin.kubeconfig}, runs the post-start hooks, turns C{/readyz}
green and tells systemd C{READY=1}. C{stopService} is the staged graceful shutdown of DESIGN.md §5;
each stage is a L{Stage} tests can wait on. Under twistd, the first SIGTERM/SIGINT stops the reactor
(which runs C{stopService}); a second one exits at once with status 1.
"""

from __future__ import annotations

import inspect
import os
import signal
import sys
from typing import Any, Callable, Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.endpoints import quoteStringArgument, serverFromString
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.web.server import Request, Site
from twisted.web.server import version as twisted_web_version

from kapid import _version
from kapid.auth.authorizers import build_authorizer
from kapid.server import certs
from kapid.server.chain import ResourceLinkFactory, ServerChain, build_chain
from kapid.server.filters.maxinflight import InFlightLimits
from kapid.server.filters.waitgroup import InFlight
from kapid.server.handler import build_handler
from kapid.server.metrics import ServerMetrics

log = Logger()

#: The name of the kubeconfig kapid writes into the data dir.
ADMIN_KUBECONFIG = "admin.kubeconfig"


class Stage:
    """
    A point in the server's life that happens once; any number of waiters.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.reached = False
        self._waiters: list[Deferred] = []

    def fire(self) -> None:
        """
        Mark the stage reached and wake every waiter.
        """
        if self.reached:
            return
        self.reached = True
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            d.callback(None)

    def when_reached(self) -> Deferred:
        """
        A Deferred that fires (with None) once the stage is reached.
        """
        if self.reached:
            return succeed(None)
        d: Deferred = Deferred()
        self._waiters.append(d)
        return d


class KapidRequest(Request):
    """
    A L{Request} without the C{Server} header Twisted adds to every response (kube-apiserver sends
    none); only Twisted's own default is dropped, so a header copied from a proxied answer stays.
    """

    def setHeader(self, name: Any, value: Any) -> None:
        """
        Set a response header, except Twisted's default C{Server: TwistedWeb/...}.
        """
        key = name if isinstance(name, bytes) else name.encode("ascii")
        if key.lower() == b"server" and value == twisted_web_version:
            return
        super().setHeader(name, value)


class QuietSite(Site):
    """
    A L{Site} without Twisted's access log (kapid logs each request itself) that keeps track of its
    open connections, so shutdown can close them after their responses are flushed. Its requests
    are L{KapidRequest}s (no C{Server} header).
    """

    noisy = False
    requestFactory = KapidRequest

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_channels: set[Any] = set()
        self._all_closed: list[Deferred] = []

    def log(self, request: Any) -> None:
        """
        Nothing: the panic-recovery filter writes kapid's request log.
        """

    def buildProtocol(self, addr: Any) -> Any:
        """
        Build the channel and remember it until its connection is lost.
        """
        channel = super().buildProtocol(addr)
        if channel is None:
            return None
        self.open_channels.add(channel)
        original = channel.connectionLost

        def lost(reason: Any) -> None:
            self.open_channels.discard(channel)
            try:
                original(reason)
            finally:
                if not self.open_channels:
                    waiters, self._all_closed = self._all_closed, []
                    for d in waiters:
                        d.callback(None)

        channel.connectionLost = lost
        return channel

    def close_connections(self, clock: Any, timeout: float) -> Deferred:
        """
        Close every open connection once what was written to it is sent; abort the ones still
        open after C{timeout} seconds. Fires when all are closed.
        """
        if not self.open_channels:
            return succeed(None)
        d: Deferred = Deferred()
        self._all_closed.append(d)
        for channel in list(self.open_channels):
            transport = _channel_transport(channel)
            if transport is not None:
                transport.loseConnection()
                _close_idle_tls(channel, transport)

        def abort() -> None:
            for channel in list(self.open_channels):
                transport = _channel_transport(channel)
                if transport is not None and hasattr(transport, "abortConnection"):
                    transport.abortConnection()

        call = clock.callLater(timeout, abort)
        d.addBoth(lambda r: (call.cancel() if call.active() else None, r)[1])
        return d


def _channel_transport(channel: Any) -> Any:
    """
    The transport of a site's protocol: L{Site.buildProtocol} returns Twisted's generic HTTP channel
    wrapper, whose own C{transport} is unset; the HTTP channel inside it has the connection.
    """
    transport = getattr(channel, "transport", None)
    if transport is None:
        transport = getattr(getattr(channel, "_channel", None), "transport", None)
    return transport


def _close_idle_tls(channel: Any, transport: Any) -> None:
    """
    On an idle TLS connection, close the TCP connection right after the close_notify (as Go's
    server does) instead of waiting for the client's close_notify, which an idle pooled client
    never sends.
    """
    inner = getattr(channel, "_channel", channel)
    lower = getattr(transport, "transport", None)
    if not getattr(inner, "requests", None) and ISSLTransport.providedBy(transport) and lower is not None:
        lower.loseConnection()


def _notify(state: str) -> None:
    """
    Send C{state} to systemd through C{$NOTIFY_SOCKET} (nothing without it).
    """
    if not os.environ.get("NOTIFY_SOCKET"):
        return
    import sdnotify

    sdnotify.SystemdNotifier().notify(state)


async def open_storage(reactor: Any, config: Any) -> tuple[Any, str]:
    """
    Open the L{IKV} the config names; return it and a description for the banner. Uses
    L{kapid.storage.factory.open_kv} when present, else the memory store.
    """
    etcd = config.etcd
    try:
        from kapid.storage.factory import open_kv  # type: ignore[import-not-found]
    except ImportError:
        open_kv = None
    if etcd.storage_backend == "etcd3":
        where = "etcd3 at " + ",".join(etcd.etcd_servers)
    elif etcd.storage_backend == "embedded":
        where = f"embedded (SQLite) in {os.path.abspath(config.generic.data_dir)}"
    else:
        where = "memory (not persisted)"
    if open_kv is None:
        from kapid.storage.memory import MemoryKV

        if etcd.storage_backend != "memory":
            log.warn("kapid.storage.factory is not available: using the memory store instead of {b}",
                     b=etcd.storage_backend)
        return MemoryKV(reactor), "memory (not persisted)"
    offered = dict(
        backend=etcd.storage_backend,
        etcd_servers=list(etcd.etcd_servers),
        data_dir=config.generic.data_dir,
        etcd_cafile=etcd.etcd_cafile,
        etcd_certfile=etcd.etcd_certfile,
        etcd_keyfile=etcd.etcd_keyfile,
        etcd_prefix=etcd.etcd_prefix,
        compaction_interval=etcd.compaction_interval,
    )
    try:
        params = inspect.signature(open_kv).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            offered = {k: v for k, v in offered.items() if k in params}
    except (TypeError, ValueError):
        pass
    kv = await maybeDeferred(open_kv, reactor, **offered)
    return kv, where


def _listen_string(endpoint: Optional[str], port: int, address: str) -> Optional[str]:
    if endpoint:
        return endpoint
    if port == 0:
        return None
    return f"tcp:{port}:interface={quoteStringArgument(address)}"


def _url(scheme: str, port: Any, bind: str) -> str:
    host = port.getHost()
    address = getattr(host, "host", bind)
    if address in ("0.0.0.0", "::", ""):
        address = "127.0.0.1"
    if ":" in address:
        address = f"[{address}]"
    return f"{scheme}://{address}:{host.port}"


class KapidService(Service):
    """
    One kapid server.

    @ivar kv: the storage (an L{IKV}) once started.
    @ivar resource_link: set by the resource link factory (when it keeps it): its C{storage} (the
        watch cache) is closed before C{kv} at shutdown.
    @ivar compactor: the L{kapid.storage.compactor.Compactor} compacting C{kv} every
        C{--etcd-compaction-interval} once started (None when the interval is 0).
    @param clock: the clock of timed storage work (compaction); the reactor unless given.
    @ivar chain: the L{ServerChain} once started.
    @ivar secure_url: C{https://host:port} once listening (None when HTTPS is off).
    @ivar insecure_url: C{http://host:port} once listening (None when plain HTTP is off).
    @ivar kubeconfig_path: the admin kubeconfig written at start (None when none was written).
    @ivar started: reached when the server is listening, ready and has told systemd.
    @ivar shutdown_initiated, delay_elapsed, listeners_stopped, drained, storage_closed: the
        shutdown stages (DESIGN.md §5).
    @ivar resource_link_factory: C{factory(delegate)} building the resource API stage of the chain;
        may be set before C{startService} (it can reach the storage as C{service.kv}).
    @ivar apiextensions_factory: C{factory(delegate)} building the apiextensions link (CRDs and
        custom resources), or None for an empty one.
    @ivar aggregator_factory: C{factory(delegate)} building the aggregator link, or None for one
        with no APIServices.
    @ivar stage_factories: more C{factory(delegate)}s whose stages go between the non-resource
        kube API link and the resource stage, outermost first (e.g. discovery, OpenAPI).
    """

    name = "kapid"

    def __init__(
        self,
        config: Any,
        reactor: Any = None,
        resource_link_factory: Optional[ResourceLinkFactory] = None,
        install_signal_handlers: bool = True,
        exit_on_failure: bool = True,
        clock: Any = None,
    ) -> None:
        self.config = config
        self._reactor = reactor
        self._clock = clock
        self.resource_link_factory = resource_link_factory
        self.stage_factories: list[ResourceLinkFactory] = []
        self.apiextensions_factory: Optional[ResourceLinkFactory] = None
        self.aggregator_factory: Optional[ResourceLinkFactory] = None
        self.install_signal_handlers = install_signal_handlers
        self.exit_on_failure = exit_on_failure
        self.post_start_hooks: list[tuple[str, Callable[[Any], Any]]] = []
        self.kv: Any = None
        self.compactor: Any = None
        self.chain: Optional[ServerChain] = None
        self.metrics = ServerMetrics()
        self.in_flight = InFlight()
        g = config.generic
        self.limits = InFlightLimits(g.max_requests_inflight, g.max_mutating_requests_inflight, self.metrics.set_inflight)
        self.ports: list[Any] = []
        self.sites: list[QuietSite] = []
        self.audit_log: Any = None
        self.secure_url: Optional[str] = None
        self.insecure_url: Optional[str] = None
        self.kubeconfig_path: Optional[str] = None
        #: the armed faults (a L{kapid.server.faults.FaultRegistry}) with --enable-fault-injection
        self.faults: Any = None
        self.storage_description = ""
        self.started = Stage("started")
        self.shutdown_initiated = Stage("shutdown initiated")
        self.delay_elapsed = Stage("shutdown delay elapsed")
        self.listeners_stopped = Stage("listeners stopped")
        self.drained = Stage("in-flight requests drained")
        self.storage_closed = Stage("storage closed")
        self.start_failure: Any = None
        self._starting: Optional[Deferred] = None
        self._stopping: Optional[Deferred] = None
        self._signals = 0

    @property
    def reactor(self) -> Any:
        """
        The reactor (the global one unless one was given).
        """
        if self._reactor is None:
            from twisted.internet import reactor

            self._reactor = reactor
        return self._reactor

    @property
    def clock(self) -> Any:
        """
        The clock of timed storage work such as compaction (the reactor unless one was given).
        """
        return self._clock if self._clock is not None else self.reactor

    def add_post_start_hook(self, name: str, hook: Callable[[Any], Any]) -> None:
        """
        Run C{hook(service)} after the server listens; C{/readyz} shows C{poststarthook/<name>}
        failing until it has finished. Call before C{startService}.
        """
        self.post_start_hooks.append((name, hook))

    # -- start ------------------------------------------------------------------------------

    def startService(self) -> None:
        """
        Start the server in the background; L{started} is reached when it is ready.
        """
        super().startService()
        if self.install_signal_handlers:
            self.reactor.callWhenRunning(self._install_signal_handlers)
        self._starting = Deferred.fromCoroutine(self._start())
        self._starting.addErrback(self._start_failed)

    def _start_failed(self, failure: Any) -> None:
        self.start_failure = failure
        log.failure("kapid failed to start", failure)
        if self.exit_on_failure:
            self.reactor.addSystemEventTrigger("after", "shutdown", _exit, 1)
            if self.reactor.running:
                self.reactor.stop()
            else:
                self.reactor.callWhenRunning(self.reactor.stop)

    async def _start(self) -> None:
        config = self.config
        reactor = self.reactor
        os.makedirs(config.generic.data_dir, exist_ok=True)
        self.kv, self.storage_description = await open_storage(reactor, config)
        if config.faults.enable_fault_injection:
            from kapid.server.faults import FaultyKV

            self.kv = FaultyKV(self.kv, self.clock)
        self._start_compactor()
        self.chain = build_chain(
            config, self.kv, reactor, resource_link_factory=self.resource_link_factory,
            metrics=self.metrics, extra_post_start_hooks=self.post_start_hooks,
            stage_factories=self.stage_factories, apiextensions_factory=self.apiextensions_factory,
            aggregator_factory=self.aggregator_factory,
        )
        hooks = self.chain.post_start_hooks() + self.post_start_hooks
        audit = None
        if config.audit.log_path and config.audit.policy_file:
            from kapid.server.audit import AuditLog, Policy

            a = config.audit
            self.audit_log = AuditLog(a.log_path, a.log_format, a.log_maxsize, a.log_maxbackup)
            audit = (Policy.from_file(a.policy_file), self.audit_log)
        elif config.audit.log_path:
            log.warn("No audit policy file provided (--audit-policy-file): no audit events will be recorded")
        if config.faults.enable_fault_injection:
            from kapid.server.faults import FAULTS_PATH, FaultRegistry

            self.faults = FaultRegistry(self.kv)
            self.chain.health.add(self.faults.health_check())
            log.warn("Fault injection enabled: {path} makes chosen requests fail or wait", path=FAULTS_PATH)
        common = dict(
            clock=reactor, in_flight=self.in_flight, limits=self.limits,
            request_timeout=config.generic.request_timeout,
            cors_allowed_origins=config.generic.cors_allowed_origins, metrics=self.metrics,
            audit=audit, faults=self.faults,
        )
        ss, ins = config.secure_serving, config.insecure_serving
        secure_endpoint = _listen_string(ss.listen_endpoint, ss.secure_port, ss.bind_address)
        insecure_endpoint = _listen_string(ins.listen_endpoint, ins.port, ins.bind_address)
        admin = ca_pem = None
        if secure_endpoint:
            tls, admin, ca_pem = self._tls_material()
            handler = build_handler(
                self.chain.root, authenticator=self._authenticator(), authorizer=self._authorizer(),
                secure=True, **common,
            )
            from twisted.protocols.tls import TLSMemoryBIOFactory

            site = QuietSite(handler)
            self.sites.append(site)
            factory = TLSMemoryBIOFactory(tls, False, site)
            port = await serverFromString(reactor, secure_endpoint).listen(factory)
            self.ports.append(port)
            self.secure_url = _url("https", port, ss.bind_address)
        if insecure_endpoint:
            handler = build_handler(self.chain.root, secure=False, **common)
            site = QuietSite(handler)
            self.sites.append(site)
            port = await serverFromString(reactor, insecure_endpoint).listen(site)
            self.ports.append(port)
            self.insecure_url = _url("http", port, ins.bind_address)
        if admin is not None and self.secure_url:
            self.kubeconfig_path = os.path.abspath(os.path.join(config.generic.data_dir, ADMIN_KUBECONFIG))
            certs.write_kubeconfig(self.kubeconfig_path, self.secure_url, ca_pem, admin)
        self._banner()
        for name, hook in hooks:
            try:
                await maybeDeferred(hook, self)
            except Exception:
                log.failure("post-start hook {name} failed", name=name)
                continue
            self.chain.post_start[name].done = True
        log.info("kapid is ready")
        self.started.fire()
        _notify("READY=1")

    def _start_compactor(self) -> None:
        """
        Compact the store every C{--etcd-compaction-interval} (kube's compactor; on the embedded and
        memory stores too, so their history is bounded the same way); 0 disables it.
        """
        from kapid.storage.compactor import Compactor

        interval = float(self.config.etcd.compaction_interval or 0)
        if interval <= 0:
            log.info("Storage compaction disabled (--etcd-compaction-interval=0)")
            return
        self.compactor = Compactor(self.kv, self.clock, interval)
        self.compactor.start()

    async def _close_served_storage(self) -> None:
        """
        Close the L{IStorage} the resource API serves from (the watch cache: its upstream watches,
        retry timers and watchers) before the KV under it, so no cacher re-lists a closed store.
        """
        link = getattr(self, "resource_link", None)
        storage = getattr(link, "storage", None)
        close = getattr(storage, "close", None)
        if close is None:
            return
        try:
            await maybeDeferred(close)
        except Exception:
            log.failure("closing the served storage failed")

    def _unused_flags(self) -> list[str]:
        """
        Flags that were set and are accepted for compatibility but have no effect yet.
        """
        unused: dict[str, Any] = {}
        return [name for name, value in unused.items() if value]

    def _banner(self) -> None:
        log.info(
            "kapid {version} (Kubernetes API {kube}) starting",
            version=_version.__version__, kube=_version.KUBE_GIT_VERSION,
        )
        log.info("Storage: {storage}", storage=self.storage_description)
        if self.secure_url:
            log.info("Serving securely on {url}", url=self.secure_url)
        if self.insecure_url:
            log.info("Serving insecurely on {url}", url=self.insecure_url)
        if self.kubeconfig_path:
            log.info("Admin kubeconfig: {path}", path=self.kubeconfig_path)
        unused = self._unused_flags()
        if unused:
            log.warn("Accepted for compatibility but not used yet: {flags}", flags=", ".join(unused))

    def _tls_material(self) -> tuple[Any, Any, Optional[bytes]]:
        """
        The TLS context factory, the admin client key pair (None when the client CA is not
        kapid's) and the CA PEM for the kubeconfig.
        """
        from OpenSSL import crypto
        from twisted.internet.ssl import CertificateOptions, TLSVersion
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        ss, authn = self.config.secure_serving, self.config.authentication
        ca = certs.ensure_ca(ss.cert_dir)
        ca_pem: Optional[bytes] = None
        if ss.generate_certs:
            dns, ips = certs.serving_names(
                [self.config.generic.advertise_address, ss.bind_address, self.config.generic.external_hostname]
            )
            serving = certs.ensure_serving_cert(ss.cert_dir, ca, dns, ips)
            leaf, chain_certs, key = serving.cert, [], serving.key
            ca_pem = ca.cert_pem()
        else:
            with open(ss.tls_cert_file, "rb") as f:
                loaded = x509.load_pem_x509_certificates(f.read())
            with open(ss.tls_private_key_file, "rb") as f:
                key = serialization.load_pem_private_key(f.read(), None)
            leaf, chain_certs = loaded[0], loaded[1:]
        if authn.client_ca_file:
            with open(authn.client_ca_file, "rb") as f:
                client_cas = x509.load_pem_x509_certificates(f.read())
            admin = None
        else:
            client_cas = [ca.cert]
            admin = certs.ensure_admin_cert(ss.cert_dir, ca)
        self.client_ca_certs = client_cas
        from kapid.aggregator.requestheader import tls_client_cas

        # the front proxies' CA (--requestheader-client-ca-file) is accepted at the handshake too;
        # its certificates identify proxies, never users (see kapid.aggregator.requestheader)
        client_cas = client_cas + [c for c in tls_client_cas(self.config) if c not in client_cas]
        minimum = {
            "VersionTLS10": TLSVersion.TLSv1_0, "VersionTLS11": TLSVersion.TLSv1_1,
            "VersionTLS12": TLSVersion.TLSv1_2, "VersionTLS13": TLSVersion.TLSv1_3,
        }[ss.tls_min_version]
        options = CertificateOptions(
            privateKey=crypto.PKey.from_cryptography_key(key),
            certificate=crypto.X509.from_cryptography(leaf),
            extraCertChain=[crypto.X509.from_cryptography(c) for c in chain_certs],
            verify=True,
            caCerts=[crypto.X509.from_cryptography(c) for c in client_cas],
            requireCertificate=False,
            raiseMinimumTo=minimum,
            acceptableCiphers=None,
        )
        if ss.tls_cipher_suites:
            from twisted.internet.ssl import AcceptableCiphers

            options = CertificateOptions(
                privateKey=crypto.PKey.from_cryptography_key(key),
                certificate=crypto.X509.from_cryptography(leaf),
                extraCertChain=[crypto.X509.from_cryptography(c) for c in chain_certs],
                verify=True,
                caCerts=[crypto.X509.from_cryptography(c) for c in client_cas],
                requireCertificate=False,
                raiseMinimumTo=minimum,
                acceptableCiphers=AcceptableCiphers.fromOpenSSLCipherString(ss.tls_cipher_suites.replace(",", ":")),
            )
        return options, admin, ca_pem

    def _authenticator(self) -> Any:
        from kapid.aggregator.requestheader import wrap_authenticator
        from kapid.auth.serviceaccount import authenticator_for_service

        return wrap_authenticator(self.config, authenticator_for_service(self), getattr(self, "client_ca_certs", []))

    def _authorizer(self) -> Any:
        return build_authorizer(self.config.authorization.modes, service=self)

    # -- signals ----------------------------------------------------------------------------

    def _install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signals += 1
        if self._signals == 1:
            log.info("Received {sig}: shutting down gracefully (send it again to exit at once)",
                     sig=signal.Signals(signum).name)
            self.reactor.callFromThread(self._stop_reactor)
        else:
            _exit(1)

    def _stop_reactor(self) -> None:
        if self.reactor.running:
            self.reactor.stop()

    # -- stop -------------------------------------------------------------------------------

    def stopService(self) -> Deferred:
        """
        The staged graceful shutdown; the Deferred fires when storage is closed.
        """
        super().stopService()
        if self._stopping is None:
            self._stopping = Deferred.fromCoroutine(self._stop())
        return self._stopping

    async def _stop(self) -> None:
        config = self.config
        _notify("STOPPING=1")
        if self.chain is not None:
            self.chain.shutting_down = True
        log.info("Shutdown initiated: /readyz fails from now on")
        self.shutdown_initiated.fire()
        delay = config.generic.shutdown_delay_duration
        if delay > 0 and self.started.reached:
            await deferLater(self.reactor, delay, lambda: None)
        if self.chain is not None:
            for name, hook in self.chain.pre_shutdown_hooks():
                try:
                    await maybeDeferred(hook, self)
                except Exception:
                    log.failure("pre-shutdown hook {name} failed", name=name)
        self.delay_elapsed.fire()
        for port in self.ports:
            try:
                await maybeDeferred(port.stopListening)
            except Exception:
                log.failure("stopping a listener failed")
        self.in_flight.shutting_down = True
        log.info("Listeners stopped; waiting for {n} in-flight request(s)", n=len(self.in_flight.active))
        self.listeners_stopped.fire()
        drained = self.in_flight.drained()
        bound = config.generic.request_timeout
        finished = [False]
        drained.addCallback(lambda _: finished.__setitem__(0, True))
        timer = self.reactor.callLater(bound, lambda: drained.cancel() if not finished[0] else None)
        try:
            await drained
        except Exception:
            log.warn("In-flight requests did not finish within {t}s", t=bound)
        if timer.active():
            timer.cancel()
        self.in_flight.end_long_running()
        for site in self.sites:
            await site.close_connections(self.reactor, 5.0)
        self.drained.fire()
        await self._close_served_storage()
        if self.compactor is not None:
            try:
                await self.compactor.stop()
            except Exception:
                log.failure("stopping the compactor failed")
        if self.kv is not None:
            try:
                await maybeDeferred(self.kv.close)
            except Exception:
                log.failure("closing the storage failed")
        if self.audit_log is not None:
            try:
                self.audit_log.close()
            except Exception:
                log.failure("closing the audit log failed")
        log.info("Storage closed; kapid stopped")
        self.storage_closed.fire()


def _exit(code: int) -> None:
    """
    Leave the process at once with C{code} (logs flushed first).
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
