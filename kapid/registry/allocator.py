"""
Service cluster IP and node port allocation, as kube-apiserver's bitmap allocators do it.

Each range is a bitmap kept in storage in kube's layout: a C{RangeAllocation} object at
C{<prefix>/ranges/serviceips} and C{<prefix>/ranges/servicenodeports} whose C{data} is the bitmap
(bit I{i} set when offset I{i} is taken, big-endian bytes as Go's C{big.Int.Bytes()}, base64 in
JSON). Every change is an optimistic write of that key (retried on conflict), so several kapid
processes on one etcd never hand out one address twice, and allocations survive restarts.

Dynamic allocation prefers the upper part of a range and leaves a lower band to explicit requests
(kube's static subrange: for IPs C{min(max(16, size/16), 256)} addresses, for ports
C{min(max(16, size/32), 128)}).

L{ServiceAllocator} applies this to Service objects (allocate on create and type changes, keep on
update, release on delete) with kube's field errors.
"""

from __future__ import annotations

import base64
import ipaddress
import random
from typing import Any, Callable, Optional

import orjson

from kapid.apimachinery import field
from kapid.apimachinery.field import FieldError, GoValue
from kapid.apimachinery.status import StatusError, internal_error, invalid
from kapid.storage.interfaces import IKV

MAX_RETRIES = 16


class AllocationError(Exception):
    """
    An allocation refused: C{already} (taken), C{range} (outside the range) or C{full}.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class BitmapAllocator:
    """
    A bitmap over C{size} offsets persisted in C{kv} at C{key} as a C{RangeAllocation}.

    @param range_text: the range as kube writes it in C{RangeAllocation.range} (C{10.0.0.0/24},
        C{30000-32767}).
    @param static_band: how many low offsets dynamic allocation avoids while others are free.
    """

    def __init__(
        self,
        kv: IKV,
        key: str,
        range_text: str,
        size: int,
        static_band: int = 0,
        rng: Optional[random.Random] = None,
        now: Callable[[], str] = lambda: "1970-01-01T00:00:00Z",
    ) -> None:
        self.kv = kv
        self.key = key.encode("utf-8")
        self.range_text = range_text
        self.size = size
        self.static_band = min(static_band, size)
        self.rng = rng or random.Random()
        self.now = now

    async def _read(self) -> tuple[int, int, Optional[dict]]:
        kv, _rev = await self.kv.get(self.key)
        if kv is None:
            return 0, 0, None
        doc = orjson.loads(kv.value)
        data = base64.b64decode(doc.get("data") or "")
        return int.from_bytes(data, "big"), kv.mod_revision, doc

    async def _write(self, bits: int, mod_revision: int, doc: Optional[dict]) -> bool:
        data = bits.to_bytes((bits.bit_length() + 7) // 8, "big") if bits else b""
        doc = dict(doc or {})
        doc.setdefault("kind", "RangeAllocation")
        doc.setdefault("apiVersion", "v1")
        doc.setdefault("metadata", {"creationTimestamp": self.now()})
        doc["range"] = self.range_text
        doc["data"] = base64.b64encode(data).decode("ascii")
        res = await self.kv.optimistic_put(self.key, orjson.dumps(doc), mod_revision)
        return bool(res.succeeded)

    async def _change(self, change: Callable[[int], Optional[int]]) -> None:
        """
        Read, apply C{change(bits) -> new bits or None (no write)}, write optimistically, retry.
        """
        for _ in range(MAX_RETRIES):
            bits, rev, doc = await self._read()
            new = change(bits)
            if new is None or new == bits:
                return
            if await self._write(new, rev, doc):
                return
        raise AllocationError("conflict", "too many concurrent changes to the allocation map")

    async def allocate(self, offset: int) -> None:
        """
        Take C{offset}; L{AllocationError} C{already} when taken.
        """

        def change(bits: int) -> int:
            if bits >> offset & 1:
                raise AllocationError("already", "provided value is already allocated")
            return bits | (1 << offset)

        await self._change(change)

    async def allocate_next(self) -> int:
        """
        Take a free offset (random, the upper part first); L{AllocationError} C{full} when none.
        """
        chosen: list[int] = []

        def change(bits: int) -> int:
            chosen.clear()
            for lo, hi in ((self.static_band, self.size), (0, self.static_band)):
                free = [i for i in range(lo, hi) if not bits >> i & 1]
                if free:
                    pick = free[self.rng.randrange(len(free))]
                    chosen.append(pick)
                    return bits | (1 << pick)
            raise AllocationError("full", "range is full")

        await self._change(change)
        return chosen[0]

    async def release(self, offset: int) -> None:
        """
        Free C{offset} (a no-op when free).
        """

        def change(bits: int) -> Optional[int]:
            if not bits >> offset & 1:
                return None
            return bits & ~(1 << offset)

        await self._change(change)

    async def has(self, offset: int) -> bool:
        """
        Whether C{offset} is taken.
        """
        bits, _, _ = await self._read()
        return bool(bits >> offset & 1)

    async def used(self) -> int:
        """
        How many offsets are taken.
        """
        bits, _, _ = await self._read()
        return bin(bits).count("1")


class IPAllocator:
    """
    Cluster IPs of C{--service-cluster-ip-range} (network and IPv4 broadcast addresses excluded).
    """

    def __init__(self, kv: IKV, cidr: str = "10.0.0.0/24", prefix: str = "/registry", rng: Optional[random.Random] = None) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        total = self.network.num_addresses
        reserved = 2 if self.network.version == 4 else 1
        size = max(0, min(total - reserved, 2**20))
        self.base = int(self.network.network_address) + 1
        band = min(max(16, total // 16), 256)
        self.bitmap = BitmapAllocator(
            kv, f"{prefix.rstrip('/')}/ranges/serviceips", str(self.network), size, band, rng
        )

    def offset(self, ip: str) -> Optional[int]:
        """
        The offset of C{ip}, or None when outside the range.
        """
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        off = int(addr) - self.base
        if addr not in self.network or not 0 <= off < self.bitmap.size:
            return None
        return off

    def ip(self, offset: int) -> str:
        """
        The address at C{offset}.
        """
        return str(ipaddress.ip_address(self.base + offset))

    async def allocate(self, ip: str) -> None:
        """
        Take C{ip}; L{AllocationError} C{range} or C{already}.
        """
        off = self.offset(ip)
        if off is None:
            raise AllocationError(
                "range",
                f"the provided IP ({ip}) is not in the valid range. The range of valid IPs is {self.network}",
            )
        try:
            await self.bitmap.allocate(off)
        except AllocationError as e:
            if e.reason == "already":
                raise AllocationError("already", "provided IP is already allocated")
            raise

    async def allocate_next(self) -> str:
        """
        Take a free IP.
        """
        return self.ip(await self.bitmap.allocate_next())

    async def release(self, ip: str) -> None:
        """
        Free C{ip} (ignored when outside the range).
        """
        off = self.offset(ip)
        if off is not None:
            await self.bitmap.release(off)


class PortAllocator:
    """
    Node ports of C{--service-node-port-range}.
    """

    def __init__(self, kv: IKV, port_range: str = "30000-32767", prefix: str = "/registry", rng: Optional[random.Random] = None) -> None:
        lo, _, hi = port_range.partition("-")
        self.low, self.high = int(lo), int(hi or lo)
        size = self.high - self.low + 1
        band = min(max(16, size // 32), 128)
        self.range_text = f"{self.low}-{self.high}"
        self.bitmap = BitmapAllocator(
            kv, f"{prefix.rstrip('/')}/ranges/servicenodeports", self.range_text, size, band, rng
        )

    async def allocate(self, port: int) -> None:
        """
        Take C{port}; L{AllocationError} C{range} or C{already}.
        """
        if not self.low <= port <= self.high:
            raise AllocationError(
                "range",
                f"provided port is not in the valid range. The range of valid ports is {self.range_text}",
            )
        try:
            await self.bitmap.allocate(port - self.low)
        except AllocationError as e:
            if e.reason == "already":
                raise AllocationError("already", "provided port is already allocated")
            raise

    async def allocate_next(self) -> int:
        """
        Take a free port.
        """
        return self.low + await self.bitmap.allocate_next()

    async def release(self, port: int) -> None:
        """
        Free C{port} (ignored when outside the range).
        """
        if self.low <= port <= self.high:
            await self.bitmap.release(port - self.low)


# ---------------------------------------------------------------------------------------------------
# services


def _wants_ip(spec: dict) -> bool:
    return spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None"


def _wants_node_ports(spec: dict) -> bool:
    if spec.get("type") == "NodePort":
        return True
    return spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True) is not False


class ServiceAllocator:
    """
    kube's Service REST allocation around the generic store: cluster IPs and node ports on create,
    on update (kept from the old object, allocated when the type starts needing them, released when
    it stops) and released on delete. Errors are kube's 422s (and 500 when a range is full).
    """

    def __init__(self, ips: IPAllocator, ports: PortAllocator) -> None:
        self.ips = ips
        self.ports = ports

    def _invalid(self, obj: dict, errs: list[FieldError]) -> StatusError:
        name = (obj.get("metadata") or {}).get("name") or ""
        return invalid("Service", name, errs)

    async def allocate_create(self, obj: dict, dry_run: bool = False) -> Callable[[], Any]:
        """
        Allocate what a new Service needs, filling C{spec.clusterIP(s)} and node ports in place.
        Returns an async undo (to call when the create fails afterwards). With C{dry_run}, checks
        explicit requests and fills values without keeping them.
        """
        spec = obj.setdefault("spec", {})
        taken_ips: list[str] = []
        taken_ports: list[int] = []

        async def undo() -> None:
            for ip in taken_ips:
                await self.ips.release(ip)
            for p in taken_ports:
                await self.ports.release(p)

        try:
            if _wants_ip(spec):
                requested = (spec.get("clusterIPs") or [None])[0] or spec.get("clusterIP")
                if requested:
                    try:
                        await self.ips.allocate(requested)
                    except AllocationError as e:
                        if e.reason == "full":
                            raise internal_error("failed to allocate a serviceIP: range is full")
                        raise self._invalid(
                            obj,
                            [field.invalid("spec.clusterIPs", GoValue(f'[]string{{"{requested}"}}'), f"failed to allocate IP {requested}: {e.message}")],
                        )
                    ip = requested
                else:
                    try:
                        ip = await self.ips.allocate_next()
                    except AllocationError:
                        raise internal_error("failed to allocate a serviceIP: range is full")
                taken_ips.append(ip)
                spec["clusterIP"] = ip
                spec["clusterIPs"] = [ip]
            elif spec.get("clusterIP") == "None":
                spec["clusterIPs"] = ["None"]
            if _wants_node_ports(spec):
                await self._node_ports(obj, spec.get("ports") or [], taken_ports)
        except BaseException:
            await undo()
            raise
        if dry_run:
            await undo()

            async def nothing() -> None:
                return None

            return nothing
        return undo

    async def _node_ports(self, obj: dict, ports: list, taken: list[int], keep: Optional[set[int]] = None) -> None:
        keep = keep or set()
        errs: list[FieldError] = []
        for i, port in enumerate(ports):
            if not isinstance(port, dict):
                continue
            np = port.get("nodePort")
            if np:
                if np in keep:
                    continue
                try:
                    await self.ports.allocate(np)
                    taken.append(np)
                except AllocationError as e:
                    if e.reason == "full":
                        raise internal_error("failed to allocate a nodePort: range is full")
                    errs.append(field.invalid(f"spec.ports[{i}].nodePort", np, e.message))
            else:
                try:
                    np = await self.ports.allocate_next()
                except AllocationError:
                    raise internal_error("failed to allocate a nodePort: range is full")
                taken.append(np)
                port["nodePort"] = np
        if errs:
            raise self._invalid(obj, errs)

    async def allocate_update(self, obj: dict, old: dict, dry_run: bool = False) -> Callable[[], Any]:
        """
        Keep the old Service's cluster IP when the new one leaves it unset, allocate or release
        as the type changes, and allocate new node ports. Returns an async commit to call once the
        update is stored (it releases what the update gave up); raises the refusals.
        """
        spec = obj.setdefault("spec", {})
        old_spec = old.get("spec") or {}
        release_ips: list[str] = []
        release_ports: list[int] = []
        taken_ports: list[int] = []
        if _wants_ip(spec) and _wants_ip(old_spec):
            if not spec.get("clusterIP") and not spec.get("clusterIPs"):
                spec["clusterIP"] = old_spec.get("clusterIP")
                spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec.get("clusterIP")])
            elif spec.get("clusterIP") and not spec.get("clusterIPs"):
                spec["clusterIPs"] = [spec["clusterIP"]]
        elif _wants_ip(spec) and not _wants_ip(old_spec):
            sub = {"metadata": obj.get("metadata"), "spec": {"type": spec.get("type"), "clusterIP": spec.get("clusterIP"), "clusterIPs": spec.get("clusterIPs")}}
            await self.allocate_create(sub, dry_run)
            spec["clusterIP"] = sub["spec"]["clusterIP"]
            spec["clusterIPs"] = sub["spec"]["clusterIPs"]
        elif not _wants_ip(spec) and _wants_ip(old_spec):
            release_ips.extend(i for i in (old_spec.get("clusterIPs") or [old_spec.get("clusterIP")]) if i and i != "None")
        old_ports = {p.get("nodePort") for p in old_spec.get("ports") or [] if isinstance(p, dict) and p.get("nodePort")}
        if _wants_node_ports(spec):
            if _wants_node_ports(old_spec):
                # kube keeps the node port of a port that is still there when the user left it unset
                by_key = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in old_spec.get("ports") or [] if isinstance(p, dict)}
                for p in spec.get("ports") or []:
                    if isinstance(p, dict) and not p.get("nodePort") and by_key.get((p.get("port"), p.get("protocol"))):
                        p["nodePort"] = by_key[(p.get("port"), p.get("protocol"))]
            await self._node_ports(obj, spec.get("ports") or [], taken_ports, keep=old_ports)
            new_ports = {p.get("nodePort") for p in spec.get("ports") or [] if isinstance(p, dict)}
            release_ports.extend(p for p in old_ports if p not in new_ports)
        else:
            for p in spec.get("ports") or []:
                if isinstance(p, dict):
                    p.pop("nodePort", None)
            release_ports.extend(old_ports)
        if dry_run:
            for p in taken_ports:
                await self.ports.release(p)

        async def commit() -> None:
            if dry_run:
                return
            for ip in release_ips:
                await self.ips.release(ip)
            for p in release_ports:
                await self.ports.release(p)

        return commit

    async def release(self, obj: dict) -> None:
        """
        Free a deleted Service's cluster IPs and node ports.
        """
        spec = obj.get("spec") or {}
        for ip in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []):
            if ip and ip != "None":
                await self.ips.release(ip)
        for p in spec.get("ports") or []:
            if isinstance(p, dict) and p.get("nodePort"):
                await self.ports.release(p["nodePort"])
