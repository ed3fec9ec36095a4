"""
Etcd (storage) flags: where objects live (etcd v3, the embedded store, or memory) and the watch
cache.
"""

from __future__ import annotations

from typing import Any, Optional

import attr

from kapid.options import Checker, Flag, Section, split_list

BACKENDS = ("etcd3", "embedded", "memory")

SECTION = Section(
    "Etcd flags",
    (
        Flag("storage-backend", None, "The storage backend for persistence. Options: 'etcd3', "
             "'embedded' (SQLite under --data-dir), 'memory' (lost at exit). Default: etcd3 when "
             "--etcd-servers is given, embedded otherwise."),
        Flag("etcd-servers", "", "List of etcd servers to connect with (scheme://ip:port), comma "
             "separated."),
        Flag("etcd-prefix", "/registry", "The prefix to prepend to all resource paths in etcd."),
        Flag("etcd-cafile", "", "SSL Certificate Authority file used to secure etcd communication."),
        Flag("etcd-certfile", "", "SSL certification file used to secure etcd communication."),
        Flag("etcd-keyfile", "", "SSL key file used to secure etcd communication."),
        Flag("etcd-compaction-interval", "5m0s", "The interval of compaction requests. If 0, the "
             "compaction request from apiserver is disabled."),
        Flag("etcd-count-metric-poll-period", "1m0s", "Frequency of polling etcd for number of "
             "resources per type. 0 disables the metric collection."),
        Flag("etcd-healthcheck-timeout", "2s", "The timeout to use when checking etcd health."),
        Flag("etcd-readycheck-timeout", "2s", "The timeout to use when checking etcd readiness."),
        Flag("storage-media-type", "application/json", "The media type to use to store objects in "
             "storage. kapid stores JSON."),
        Flag("watch-cache", "true", "Enable watch caching in the apiserver."),
        Flag("default-watch-cache-size", "100", "Default watch cache size. If zero, watch cache "
             "will be disabled for resources that do not have a default watch size set."),
        Flag("watch-cache-sizes", "", "Watch cache size settings for some resources (pods, nodes, "
             "etc.), comma separated. The individual setting format: resource[.group]#size."),
        Flag("delete-collection-workers", "1", "Number of workers spawned for DeleteCollection "
             "call. These are used to speed up namespace cleanup."),
        Flag("enable-garbage-collector", "true", "Enables the generic garbage collector."),
    ),
)


@attr.s(frozen=True, auto_attribs=True)
class EtcdConfig:
    """
    The completed, validated storage flags.
    """

    storage_backend: str
    etcd_servers: tuple[str, ...]
    etcd_prefix: str
    etcd_cafile: Optional[str]
    etcd_certfile: Optional[str]
    etcd_keyfile: Optional[str]
    compaction_interval: float
    count_metric_poll_period: float
    healthcheck_timeout: float
    readycheck_timeout: float
    watch_cache: bool
    default_watch_cache_size: int
    watch_cache_sizes: dict[str, int]
    delete_collection_workers: int
    enable_garbage_collector: bool


def complete(values: dict[str, Any]) -> None:
    """
    Default C{--storage-backend}: etcd3 when C{--etcd-servers} is given, embedded otherwise.
    """
    if not values.get("storage-backend"):
        values["storage-backend"] = "etcd3" if split_list(values.get("etcd-servers")) else "embedded"


def validate(values: dict[str, Any]) -> tuple[EtcdConfig, list[str]]:
    """
    Parse and check the storage flags; return the config and every problem found.
    """
    import hyperlink

    c = Checker(values)
    backend = c.text("storage-backend")
    servers = split_list(c.text("etcd-servers"))
    if backend not in BACKENDS:
        c.error(f"--storage-backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "etcd3" and not servers:
        c.error("--etcd-servers must be specified when --storage-backend is etcd3")
    if backend in ("embedded", "memory") and servers:
        c.error(f"--etcd-servers cannot be used with --storage-backend={backend}")
    for server in servers:
        try:
            url = hyperlink.URL.from_text(server)
        except Exception:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            c.error(f"--etcd-servers: {server!r} is not an http:// or https:// URL")
    prefix = c.text("etcd-prefix")
    if not prefix.startswith("/"):
        c.error(f"--etcd-prefix: {prefix!r} must start with /")
    media = c.text("storage-media-type")
    if media != "application/json":
        c.error(f"--storage-media-type: {media!r} is not supported (kapid stores application/json)")
    certfile = c.readable_file("etcd-certfile")
    keyfile = c.readable_file("etcd-keyfile")
    if bool(c.text("etcd-certfile")) != bool(c.text("etcd-keyfile")):
        c.error("--etcd-certfile and --etcd-keyfile must be given together")
    sizes: dict[str, int] = {}
    for item in split_list(c.text("watch-cache-sizes")):
        resource, _, size = item.partition("#")
        try:
            n = int(size)
            if n < 0 or not resource:
                raise ValueError(item)
            sizes[resource] = n
        except ValueError:
            c.error(f"--watch-cache-sizes: invalid value {item!r} (want resource[.group]#size)")
    config = EtcdConfig(
        storage_backend=backend,
        etcd_servers=tuple(servers),
        etcd_prefix=prefix,
        etcd_cafile=c.readable_file("etcd-cafile"),
        etcd_certfile=certfile,
        etcd_keyfile=keyfile,
        compaction_interval=c.duration("etcd-compaction-interval"),
        count_metric_poll_period=c.duration("etcd-count-metric-poll-period"),
        healthcheck_timeout=c.duration("etcd-healthcheck-timeout"),
        readycheck_timeout=c.duration("etcd-readycheck-timeout"),
        watch_cache=c.boolean("watch-cache"),
        default_watch_cache_size=c.integer("default-watch-cache-size", 0),
        watch_cache_sizes=sizes,
        delete_collection_workers=c.integer("delete-collection-workers", 1),
        enable_garbage_collector=c.boolean("enable-garbage-collector"),
    )
    return config, c.errors
