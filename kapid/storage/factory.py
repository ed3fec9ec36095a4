"""
L{open_kv}: build the L{IKV} the daemon's options ask for.

* C{backend="etcd3"} (the daemon picks it when C{--etcd-servers} is given): L{EtcdKV} over the
  endpoints, with TLS when a CA, certificate or key file is named.
* C{backend="embedded"} (the default): L{EmbeddedKV} in C{<data_dir>/store}.
* C{backend="memory"}: L{MemoryKV} (nothing survives a restart).
"""

from __future__ import annotations

import os
from typing import Any, Optional

from kapid.storage.interfaces import IKV

BACKENDS = ("etcd3", "embedded", "memory")


async def open_kv(
    reactor: Any,
    *,
    backend: str,
    etcd_servers: list[str],
    data_dir: str,
    etcd_cafile: Optional[str] = None,
    etcd_certfile: Optional[str] = None,
    etcd_keyfile: Optional[str] = None,
    request_timeout: float = 5.0,
) -> IKV:
    """
    Open the store named by C{backend} (C{"etcd3"}, C{"embedded"} or C{"memory"}; an empty
    C{backend} means C{"etcd3"} when C{etcd_servers} is given, else C{"embedded"}). The result is
    started; the caller closes it with C{close()}.
    """
    if not backend:
        backend = "etcd3" if etcd_servers else "embedded"
    if backend == "etcd3":
        if not etcd_servers:
            raise ValueError("the etcd3 storage backend needs --etcd-servers")
        from kapid.storage.etcd3 import EtcdKV, EtcdTLS

        tls = None
        if etcd_cafile or etcd_certfile or etcd_keyfile:
            tls = EtcdTLS(cafile=etcd_cafile, certfile=etcd_certfile, keyfile=etcd_keyfile)
        return EtcdKV(etcd_servers, reactor, request_timeout=request_timeout, tls=tls)
    if backend == "embedded":
        from kapid.storage.embedded import EmbeddedKV

        return await EmbeddedKV.open(os.path.join(data_dir, "store"), reactor)
    if backend == "memory":
        from kapid.storage.memory import MemoryKV

        return MemoryKV(reactor)
    raise ValueError(f"unknown storage backend {backend!r} (one of {', '.join(BACKENDS)})")
