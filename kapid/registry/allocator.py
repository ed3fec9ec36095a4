"""
Server-side allocation of Service cluster IPs and node ports (kube's
C{pkg/registry/core/service/ipallocator}, C{portallocator} and C{storage/alloc.go}).

Each range is a bitmap kept in storage as a C{RangeAllocation} object
(C{<prefix>/ranges/serviceips}, C{<prefix>/ranges/servicenodeports}): C{range} is the range's text and
C{data} the bitmap (bit I{i} set when offset I{i} is taken, big-endian bytes as Go's C{big.Int}, base64
in JSON). Every change is a read-modify-write through L{IStorage.guaranteed_update}, so allocators in
several processes over one etcd never hand out the same value; within one process the writes to a
range are serialised by a lock to spare conflicts.

Offsets: IP offset 0 is the address after the network address; the network and (IPv4) broadcast
addresses are outside every range. Dynamic allocation follows kube's random scan with an offset: the
upper part of the range first, then the lower (static) band; IP offset 0 (the first address, for the
C{kubernetes} Service) is never handed out dynamically, only when asked for explicitly.

L{ServiceAllocator.allocate} writes what a Service needs and answers a L{Transaction}:
C{commit()} once the Service is stored (it performs the releases an update implies),
C{revert()} when the write failed (it gives back what was allocated). A stored bitmap that is
missing, or was written for another range, is rebuilt from the stored Services (kube's repair
controller, simplified: it never releases, since another process may be between allocating and
storing its Service).
"""

from __future__ import annotations

import base64
import ipaddress
import random
from typing import Any, Callable, Iterable, Optional, Union

import attr
from twisted.internet.defer import DeferredLock
from twisted.logger import Logger

from kapid.apimachinery import field
from kapid.apimachinery.field import FieldError, GoValue
from kapid.apimachinery.status import StatusError, internal_error, invalid
from kapid.storage.interfaces import ListOptions

log = Logger()

DEFAULT_SERVICE_IP_RANGE = "10.0.0.0/24"
DEFAULT_NODE_PORT_RANGE = "30000-32767"

#: kube's allocator errors (ipallocator / portallocator interfaces).
RANGE_FULL = "range is full"
IP_ALLOCATED = "provided IP is already allocated"
PORT_ALLOCATED = "provided port is already allocated"

_IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


class RangeError(Exception):
    """
    An allocation failed; the text is kube's allocator error.
    """


def go_strings(values: Iterable[str]) -> GoValue:
    """
    A list of strings as Go's C{%#v} prints a C{[]string}.
    """
    inner = ", ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return GoValue(f"[]string{{{inner}}}")


class AllocationError(StatusError):
    """
    An allocation failure answered to the client: 422 C{Invalid} (with C{field_errors}) for a value
    that cannot be had, 500 C{InternalError} for a full range (as kube answers).
    """

    def __init__(self, err: StatusError, field_errors: Optional[list[FieldError]] = None) -> None:
        super().__init__(err.code, err.reason, err.message, err.details, err.headers)
        self.field_errors = list(field_errors or [])


def _invalid(svc: dict, errs: list[FieldError]) -> AllocationError:
    name = (svc.get("metadata") or {}).get("name") or ""
    return AllocationError(invalid("Service", name, errs), errs)


# --------------------------------------------------------------------------------------------------
# ranges


@attr.s(frozen=True, auto_attribs=True)
class IPRange:
    """
    The service IP range: C{size} addresses from C{base} (the network address plus one), without
    the IPv4 broadcast address; IPv6 ranges are capped at 65536 addresses as kube caps them.
    """

    network: _IPNetwork
    base: int
    size: int
    family: str

    @classmethod
    def parse(cls, text: str) -> "IPRange":
        """
        C{10.0.0.0/24} (host bits are an error, as kube's flag parsing has them).
        """
        net = ipaddress.ip_network(text.strip(), strict=True)
        size = net.num_addresses
        if net.version == 4:
            family = "IPv4"
            size -= 1  # broadcast
        else:
            family = "IPv6"
            size = min(size, 65536)
        size -= 1  # network address
        if size < 1:
            raise ValueError(f"the service IP range {text} holds no allocatable address")
        return cls(net, int(net.network_address) + 1, size, family)

    @property
    def text(self) -> str:
        """
        The range as kube writes it (C{10.0.0.0/24}).
        """
        return str(self.network)

    @property
    def dynamic_offset(self) -> int:
        """
        kube's static band for IPs: C{min(max(16, cidrSize/16), 256)}, 0 for ranges of 16 or less.
        """
        total = self.network.num_addresses
        if total <= 16:
            return 0
        return min(max(16, total // 16), 256)

    def offset_of(self, text: str) -> Optional[int]:
        """
        The offset of an address, or None when it is not an allocatable address of the range.
        """
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            return None
        if ip.version != self.network.version:
            return None
        off = int(ip) - self.base
        if 0 <= off < self.size:
            return off
        return None

    def value_at(self, offset: int) -> str:
        """
        The address at C{offset}.
        """
        return str(ipaddress.ip_address(self.base + offset))

    def first(self) -> str:
        """
        The first address (the C{kubernetes} Service's).
        """
        return self.value_at(0)


@attr.s(frozen=True, auto_attribs=True)
class PortRange:
    """
    The node port range, C{base} to C{base + size - 1}.
    """

    base: int
    size: int

    @classmethod
    def parse(cls, text: str) -> "PortRange":
        """
        kube's C{ParsePortRange}: C{30000-32767}, C{30000+2767} or one port.
        """
        t = text.strip()
        if "-" in t:
            lo, hi = (int(x) for x in t.split("-", 1))
        elif "+" in t:
            lo, extra = (int(x) for x in t.split("+", 1))
            hi = lo + extra
        else:
            lo = hi = int(t)
        if not (0 <= lo <= hi <= 65535):
            raise ValueError(f"invalid port range {text!r}")
        return cls(lo, hi - lo + 1)

    @property
    def text(self) -> str:
        """
        C{30000-32767}.
        """
        return f"{self.base}-{self.base + self.size - 1}"

    @property
    def dynamic_offset(self) -> int:
        """
        kube's static band for node ports: C{min(max(16, size/32), 128)}, 0 for 16 ports or less.
        """
        if self.size <= 16:
            return 0
        return min(max(16, self.size // 32), 128)

    def offset_of(self, port: Any) -> Optional[int]:
        """
        The offset of a port, or None when it is out of the range.
        """
        if not isinstance(port, int) or isinstance(port, bool):
            return None
        off = port - self.base
        if 0 <= off < self.size:
            return off
        return None

    def value_at(self, offset: int) -> int:
        """
        The port at C{offset}.
        """
        return self.base + offset


# --------------------------------------------------------------------------------------------------
# bitmaps


class Bitmap:
    """
    A set of offsets below C{size}, as kube's C{AllocationBitmap}.
    """

    def __init__(self, size: int, bits: int = 0) -> None:
        self.size = size
        self.bits = bits & ((1 << size) - 1)

    def has(self, offset: int) -> bool:
        """
        Whether C{offset} is taken.
        """
        return bool((self.bits >> offset) & 1)

    def set(self, offset: int) -> None:
        """
        Take C{offset}.
        """
        self.bits |= 1 << offset

    def clear(self, offset: int) -> None:
        """
        Give C{offset} back.
        """
        self.bits &= ~(1 << offset)

    def count(self) -> int:
        """
        How many offsets are taken.
        """
        return bin(self.bits).count("1")

    def offsets(self) -> list[int]:
        """
        The taken offsets, ascending.
        """
        out, b, i = [], self.bits, 0
        while b:
            if b & 1:
                out.append(i)
            b >>= 1
            i += 1
        return out

    def next_free(self, rng: random.Random, band_start: int, skip_first: bool) -> Optional[int]:
        """
        kube's random scan with an offset: a random free offset of C{[band_start, size)}, else of
        C{[0, band_start)}; offset 0 is skipped when C{skip_first}.
        """
        low = 1 if skip_first else 0
        for lo, hi in ((max(band_start, low), self.size), (low, min(band_start, self.size))):
            n = hi - lo
            if n <= 0:
                continue
            start = rng.randrange(n)
            for i in range(n):
                at = lo + (start + i) % n
                if not self.has(at):
                    return at
        return None

    def encode(self) -> str:
        """
        The bitmap as kube stores it (big-endian bytes, base64).
        """
        if not self.bits:
            return ""
        return base64.b64encode(self.bits.to_bytes((self.bits.bit_length() + 7) // 8, "big")).decode()

    @classmethod
    def decode(cls, size: int, data: str) -> "Bitmap":
        """
        The inverse of L{encode}.
        """
        raw = base64.b64decode(data or "")
        return cls(size, int.from_bytes(raw, "big"))


def _range_allocation(range_text: str, bitmap: Bitmap, current: Optional[dict]) -> dict:
    meta = dict((current or {}).get("metadata") or {})
    meta.pop("resourceVersion", None)
    obj: dict = {"kind": "RangeAllocation", "apiVersion": "v1", "metadata": meta, "range": range_text}
    data = bitmap.encode()
    if data:
        obj["data"] = data
    return obj


# --------------------------------------------------------------------------------------------------
# what a Service holds


def _spec(svc: Optional[dict]) -> dict:
    if not svc:
        return {}
    spec = svc.get("spec")
    return spec if isinstance(spec, dict) else {}


def service_type(svc: Optional[dict]) -> str:
    """
    C{spec.type} (C{ClusterIP} when unset).
    """
    return _spec(svc).get("type") or "ClusterIP"


def is_headless(svc: Optional[dict]) -> bool:
    """
    Whether the Service asks for no cluster IP (C{None}).
    """
    spec = _spec(svc)
    ips = spec.get("clusterIPs") or []
    return spec.get("clusterIP") == "None" or (bool(ips) and ips[0] == "None")


def cluster_ips(svc: Optional[dict]) -> list[str]:
    """
    The Service's cluster IPs (C{clusterIPs}, else C{clusterIP}), without C{None} and blanks.
    """
    spec = _spec(svc)
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [ip for ip in ips if isinstance(ip, str) and ip and ip != "None"]


def needs_cluster_ip(svc: Optional[dict]) -> bool:
    """
    Whether the Service gets a cluster IP (not ExternalName, not headless).
    """
    return service_type(svc) != "ExternalName" and not is_headless(svc)


def needs_node_ports(svc: Optional[dict]) -> bool:
    """
    kube's C{shouldAllocateNodePorts}: NodePort, or LoadBalancer unless
    C{allocateLoadBalancerNodePorts} is false.
    """
    t = service_type(svc)
    if t == "NodePort":
        return True
    if t == "LoadBalancer":
        return _spec(svc).get("allocateLoadBalancerNodePorts") is not False
    return False


def needs_health_check(svc: Optional[dict]) -> bool:
    """
    kube's C{NeedsHealthCheck}: a LoadBalancer with C{externalTrafficPolicy: Local}.
    """
    return service_type(svc) == "LoadBalancer" and _spec(svc).get("externalTrafficPolicy") == "Local"


def _ports(svc: Optional[dict]) -> list[dict]:
    return [p for p in (_spec(svc).get("ports") or []) if isinstance(p, dict)]


def node_ports(svc: Optional[dict]) -> list[int]:
    """
    Every node port the Service holds (port node ports and the health check node port).
    """
    out = []
    for p in _ports(svc):
        np = p.get("nodePort")
        if isinstance(np, int) and np and np not in out:
            out.append(np)
    hc = _spec(svc).get("healthCheckNodePort")
    if isinstance(hc, int) and hc and hc not in out:
        out.append(hc)
    return out


# --------------------------------------------------------------------------------------------------
# the transaction


@attr.s(auto_attribs=True)
class Transaction:
    """
    What one L{ServiceAllocator.allocate} did: call L{commit} once the Service is stored, L{revert}
    when storing it failed. Both are idempotent and only the first of them acts.

    @ivar allocated_ips: IPs taken for this request (given back by L{revert}).
    @ivar allocated_ports: node ports taken for this request (given back by L{revert}).
    @ivar release_ips: IPs the old Service held that the new one no longer does (given back by
        L{commit}).
    @ivar release_ports: the same for node ports.
    """

    allocator: "ServiceAllocator"
    dry_run: bool
    allocated_ips: list[str] = attr.Factory(list)
    allocated_ports: list[int] = attr.Factory(list)
    release_ips: list[str] = attr.Factory(list)
    release_ports: list[int] = attr.Factory(list)
    finished: bool = False
    on_call: str = "revert"

    def __call__(self) -> Any:
        """
        Perform C{on_call} (C{"revert"} or C{"commit"}), as a Deferred: the shape of the store
        hooks that take one async callable (undo after a failed create, commit after an update).
        """
        from twisted.internet.defer import Deferred

        return Deferred.fromCoroutine(self.commit() if self.on_call == "commit" else self.revert())

    async def commit(self) -> None:
        """
        The Service was stored: perform the deferred releases.
        """
        if self.finished:
            return
        self.finished = True
        if not self.dry_run:
            await self.allocator.release_values(self.release_ips, self.release_ports)

    async def revert(self) -> None:
        """
        The Service was not stored: give back what was allocated.
        """
        if self.finished:
            return
        self.finished = True
        if not self.dry_run:
            await self.allocator.release_values(self.allocated_ips, self.allocated_ports)

    async def finish(self, success: bool) -> None:
        """
        L{commit} when C{success}, else L{revert} (the shape of kube's C{FinishFunc}).
        """
        if success:
            await self.commit()
        else:
            await self.revert()


# --------------------------------------------------------------------------------------------------
# one stored range


class _StoredRange:
    """
    One bitmap in storage, with a local lock around its read-modify-writes.
    """

    def __init__(
        self,
        owner: "ServiceAllocator",
        key: str,
        rng_: Union[IPRange, PortRange],
        values_of: Callable[[dict], list],
    ) -> None:
        self.owner = owner
        self.key = key
        self.range = rng_
        self.values_of = values_of
        self.lock = DeferredLock()

    def service_offsets(self, services: Iterable[dict]) -> list[int]:
        """
        The offsets of this range that C{services} hold.
        """
        out: list[int] = []
        for svc in services:
            for v in self.values_of(svc):
                off = self.range.offset_of(v)
                if off is not None:
                    out.append(off)
        return out

    async def _rebuild(self) -> Bitmap:
        bitmap = Bitmap(self.range.size)
        for off in self.service_offsets(await self.owner.list_services()):
            bitmap.set(off)
        return bitmap

    async def _current(self, obj: Optional[dict]) -> Bitmap:
        if obj is None:
            return await self._rebuild()
        if obj.get("range") != self.range.text:
            log.warn(
                "the stored range {stored} of {key} is not the configured {range}: rebuilding it",
                stored=obj.get("range"), key=self.key, range=self.range.text,
            )
            return await self._rebuild()
        return Bitmap.decode(self.range.size, obj.get("data") or "")

    async def read(self) -> Bitmap:
        """
        The current bitmap (rebuilt in memory when missing).
        """
        obj = await self.owner.storage.get(self.key, "", True)
        return await self._current(obj)

    async def update(self, change: Callable[[Bitmap], Any]) -> Any:
        """
        Apply C{change(bitmap)} (it may raise L{RangeError}) and store the result; fires with what
        C{change} returned on the attempt that was stored.
        """
        result: list[Any] = [None]

        async def try_update(current: Optional[dict]) -> dict:
            bitmap = await self._current(current)
            result[0] = change(bitmap)
            return _range_allocation(self.range.text, bitmap, current)

        await self.lock.acquire()
        try:
            await self.owner.storage.guaranteed_update(self.key, try_update, None, True)
        finally:
            self.lock.release()
        return result[0]


# --------------------------------------------------------------------------------------------------
# the allocator


@attr.s(auto_attribs=True)
class _Plan:
    """
    What a request asks of one range: explicit values (with their error reporters) and how many
    dynamic ones.
    """

    explicit: list[tuple[Any, Callable[[str], Exception]]] = attr.Factory(list)
    dynamic: int = 0
    dynamic_error: Optional[Callable[[str], Exception]] = None


class ServiceAllocator:
    """
    Cluster IPs from C{ip_range} and node ports from C{port_range}, kept in C{storage} (an
    L{IStorage}) under C{prefix}.

    @param rng: the random source of dynamic allocation (tests seed it).
    """

    def __init__(
        self,
        storage: Any,
        ip_range: str = DEFAULT_SERVICE_IP_RANGE,
        port_range: str = DEFAULT_NODE_PORT_RANGE,
        prefix: str = "/registry",
        rng: Optional[random.Random] = None,
    ) -> None:
        self.storage = storage
        self.prefix = prefix.rstrip("/")
        self.ip_range = IPRange.parse(ip_range)
        self.port_range = PortRange.parse(port_range)
        self.rng = rng or random.Random()
        self.ips = _StoredRange(self, f"{self.prefix}/ranges/serviceips", self.ip_range, cluster_ips)
        self.ports = _StoredRange(
            self, f"{self.prefix}/ranges/servicenodeports", self.port_range, node_ports
        )

    @property
    def kubernetes_ip(self) -> str:
        """
        The first address of the range, reserved for the C{kubernetes} Service.
        """
        return self.ip_range.first()

    async def list_services(self) -> list[dict]:
        """
        Every stored Service (for rebuilding a bitmap).
        """
        res = await self.storage.get_list(f"{self.prefix}/services/specs/", ListOptions())
        return list(res.get("items") or [])

    # -- reads ---------------------------------------------------------------------------------

    async def allocated_ips(self) -> list[str]:
        """
        The taken IPs, in address order.
        """
        bitmap = await self.ips.read()
        return [self.ip_range.value_at(o) for o in bitmap.offsets()]

    async def allocated_ports(self) -> list[int]:
        """
        The taken node ports, ascending.
        """
        bitmap = await self.ports.read()
        return [self.port_range.value_at(o) for o in bitmap.offsets()]

    # -- planning ------------------------------------------------------------------------------

    def _check_families(self, svc: dict) -> list[FieldError]:
        """
        The single-stack checks of kube's C{initIPFamilyFields} for a cluster of one family.
        """
        spec = _spec(svc)
        errs: list[FieldError] = []
        if is_headless(svc):
            return errs
        fam = self.ip_range.family
        if spec.get("ipFamilyPolicy") == "RequireDualStack":
            errs.append(
                field.invalid(
                    "spec.ipFamilyPolicy", "RequireDualStack",
                    "this cluster is not configured for dual-stack services",
                )
            )
        for i, f in enumerate(spec.get("ipFamilies") or []):
            if f != fam:
                errs.append(field.invalid(f"spec.ipFamilies[{i}]", f, "not configured on this cluster"))
        ips = spec.get("clusterIPs") or []
        if len(ips) > 1 and spec.get("ipFamilyPolicy") in (None, "SingleStack"):
            errs.append(
                field.invalid(
                    "spec.ipFamilyPolicy", "SingleStack",
                    "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified",
                )
            )
        for i, ip in enumerate(ips[1:], 1):
            try:
                other = "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
            except ValueError:
                continue
            if other != fam:
                errs.append(
                    field.invalid(
                        f"spec.clusterIPs[{i}]", go_strings(ips), f"{other} is not configured on this cluster"
                    )
                )
        return errs

    def _ip_plan(self, svc: dict) -> _Plan:
        plan = _Plan()
        spec = _spec(svc)
        ips = cluster_ips(svc)
        shown = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
        if ips:
            ip = ips[0]

            def explicit_error(reason: str, ip: str = ip) -> Exception:
                return _invalid(
                    svc,
                    [field.invalid("spec.clusterIPs", go_strings(shown), f"failed to allocate IP {ip}: {reason}")],
                )

            plan.explicit.append((ip, explicit_error))
        else:
            plan.dynamic = 1
            plan.dynamic_error = lambda reason: AllocationError(
                internal_error(f"failed to allocate a serviceIP: {reason}")
            )
        return plan

    def _port_plan(self, svc: dict, old: Optional[dict]) -> tuple[_Plan, list[tuple[int, int]], bool]:
        """
        The node port plan of kube's C{initNodePorts}/C{updateNodePorts}: explicit ports not
        already held by C{old}, a dynamic one per port without one (ports of one number share a
        node port). Answers the plan, C{(port index, node port or 0 = dynamic)} assignments, and
        whether a dynamic health check node port is needed.
        """
        plan = _Plan()
        held = set(node_ports(old)) if old is not None else set()
        assignments: list[tuple[int, int]] = []
        by_number: dict[Any, int] = {}
        dynamic_numbers: set[Any] = set()
        requested: set[int] = set()
        ports = _ports(svc)
        t = service_type(svc)
        if t in ("NodePort", "LoadBalancer"):
            should = needs_node_ports(svc)
            for i, p in enumerate(ports):
                np = p.get("nodePort") or 0
                if not np and not should:
                    continue
                number = p.get("port")
                if not np:
                    np = by_number.get(number, 0)
                    if not np:
                        # a later port of the same number may ask for one: use it
                        for q in ports[i + 1:]:
                            if q.get("port") == number and q.get("nodePort"):
                                np = q["nodePort"]
                                break
                if np:
                    if np not in held and np not in requested:

                        def err(reason: str, i: int = i, np: int = np) -> Exception:
                            return _invalid(svc, [field.invalid(f"spec.ports[{i}].nodePort", np, reason)])

                        plan.explicit.append((np, err))
                        requested.add(np)
                    assignments.append((i, np))
                    by_number.setdefault(number, np)
                else:
                    assignments.append((i, 0))
                    if number not in dynamic_numbers:
                        dynamic_numbers.add(number)
                        plan.dynamic += 1
        dynamic_hc = False
        if needs_health_check(svc):
            hc = _spec(svc).get("healthCheckNodePort") or 0
            if hc:
                if hc not in held and hc not in requested:

                    def hc_err(reason: str, hc: int = hc) -> Exception:
                        return AllocationError(
                            internal_error(f"failed to allocate requested HealthCheck NodePort {hc}: {reason}")
                        )

                    plan.explicit.append((hc, hc_err))
            else:
                dynamic_hc = True
                plan.dynamic += 1
        return plan, assignments, dynamic_hc

    def _run(self, plan: _Plan, stored: _StoredRange, skip_first: bool, dynamic_error: Callable[[int, str], Exception]) -> Callable[[Bitmap], list]:
        """
        The bitmap change of a plan: fires with the values taken (explicit first, then dynamic).
        """
        rng_ = stored.range

        def change(bitmap: Bitmap) -> list:
            taken: list = []
            for value, err in plan.explicit:
                off = rng_.offset_of(value)
                if off is None:
                    raise err(_not_in_range(rng_, value))
                if bitmap.has(off):
                    raise err(IP_ALLOCATED if isinstance(rng_, IPRange) else PORT_ALLOCATED)
                bitmap.set(off)
                taken.append(value)
            dyn: list = []
            for n in range(plan.dynamic):
                off = bitmap.next_free(self.rng, rng_.dynamic_offset, skip_first)
                if off is None:
                    raise dynamic_error(n, RANGE_FULL)
                bitmap.set(off)
                dyn.append(rng_.value_at(off))
            return taken + dyn

        return change

    async def _apply(self, stored: _StoredRange, change: Callable[[Bitmap], list], dry_run: bool) -> list:
        if dry_run:
            return change(await stored.read())
        return await stored.update(change)

    # -- allocate ------------------------------------------------------------------------------

    async def allocate(self, new_svc: dict, old_svc: Optional[dict] = None, dry_run: bool = False) -> Transaction:
        """
        Allocate what C{new_svc} needs (C{old_svc} is the stored Service of an update, None for a
        create) and write it into C{new_svc} (C{spec.clusterIP}/C{clusterIPs},
        C{spec.ports[].nodePort}, C{spec.healthCheckNodePort}). With C{dry_run} nothing is written
        to storage (dynamic values are picked from the current bitmaps but not reserved). Raises an
        L{AllocationError} (kube's 422 or 500) and then holds nothing; otherwise answers the
        L{Transaction} to commit or revert.
        """
        txn = Transaction(self, dry_run)
        spec = new_svc.get("spec")
        if not isinstance(spec, dict):
            spec = new_svc["spec"] = {}
        if old_svc is not None:
            patch_allocated_values(new_svc, old_svc)
            drop_type_dependent_fields(new_svc, old_svc)
        # cluster IPs: a create, or an update from a Service that held none
        ip_taken: list[str] = []
        old_ips = cluster_ips(old_svc) if old_svc is not None and needs_cluster_ip(old_svc) else []
        if needs_cluster_ip(new_svc) and not old_ips:
            errs = self._check_families(new_svc)
            if errs:
                raise _invalid(new_svc, errs)
            ip_plan = self._ip_plan(new_svc)
            dyn_err = ip_plan.dynamic_error
            change = self._run(ip_plan, self.ips, True, lambda n, reason: dyn_err(reason))  # type: ignore[misc]
            ip_taken = await self._apply(self.ips, change, dry_run)
        txn.allocated_ips = list(ip_taken)
        if old_ips and service_type(new_svc) == "ExternalName":
            txn.release_ips = [ip for ip in old_ips if self.ip_range.offset_of(ip) is not None]
        # node ports
        port_taken: list[int] = []
        try:
            plan_p, assignments, dynamic_hc = self._port_plan(new_svc, old_svc)

            def port_error(n: int, reason: str) -> Exception:
                if dynamic_hc and n == plan_p.dynamic - 1:
                    return AllocationError(
                        internal_error(f"failed to allocate a HealthCheck NodePort 0: {reason}")
                    )
                return AllocationError(internal_error(f"failed to allocate a nodePort: {reason}"))

            if plan_p.explicit or plan_p.dynamic:
                port_taken = await self._apply(
                    self.ports, self._run(plan_p, self.ports, False, port_error), dry_run
                )
        except BaseException:
            await txn.revert()
            raise
        txn.allocated_ports = list(port_taken)
        # write the values into the Service
        if ip_taken:
            spec["clusterIP"] = ip_taken[0]
            spec["clusterIPs"] = [ip_taken[0]]
        elif needs_cluster_ip(new_svc) and spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        elif is_headless(new_svc):
            spec["clusterIP"] = "None"
            spec["clusterIPs"] = ["None"]
        dynamic_values = list(port_taken[len(plan_p.explicit):])
        ports = _ports(new_svc)
        by_number: dict[Any, int] = {}
        for i, np in assignments:
            if np:
                ports[i]["nodePort"] = np
                by_number.setdefault(ports[i].get("port"), np)
        for i, np in assignments:
            if not np:
                number = ports[i].get("port")
                if number not in by_number:
                    by_number[number] = dynamic_values.pop(0)
                ports[i]["nodePort"] = by_number[number]
        if dynamic_hc:
            spec["healthCheckNodePort"] = dynamic_values.pop(-1)
        if dynamic_values:
            # taken for ports that ended up sharing one node port: given back at once
            txn.allocated_ports = [p for p in txn.allocated_ports if p not in dynamic_values]
            if not dry_run:
                await self.release_values([], dynamic_values)
        # node ports the old Service held that the new one does not
        if old_svc is not None:
            keep = set(node_ports(new_svc))
            txn.release_ports = [
                p for p in node_ports(old_svc)
                if p not in keep and self.port_range.offset_of(p) is not None
            ]
        return txn

    async def allocate_create(self, obj: dict, dry_run: bool = False) -> Transaction:
        """
        L{allocate} for a create; the answer, called, reverts (the store's undo when the write
        fails); L{Transaction.commit} ends it after a successful write.
        """
        txn = await self.allocate(obj, None, dry_run)
        txn.on_call = "revert"
        return txn

    async def allocate_update(self, obj: dict, old: dict, dry_run: bool = False) -> Transaction:
        """
        L{allocate} for an update; the answer, called, commits (the store's commit after the
        write: it releases what the update gave up); L{Transaction.revert} ends it when the write
        fails.
        """
        txn = await self.allocate(obj, old, dry_run)
        txn.on_call = "commit"
        return txn

    # -- release -------------------------------------------------------------------------------

    async def release_values(self, ips: Iterable[str], ports: Iterable[int]) -> None:
        """
        Give back IPs and node ports (values out of range or not taken are ignored).
        """
        ip_offs = [o for o in (self.ip_range.offset_of(ip) for ip in ips) if o is not None]
        port_offs = [o for o in (self.port_range.offset_of(p) for p in ports) if o is not None]

        def clear(offs: list[int]) -> Callable[[Bitmap], None]:
            def change(bitmap: Bitmap) -> None:
                for o in offs:
                    bitmap.clear(o)

            return change

        if ip_offs:
            await self.ips.update(clear(ip_offs))
        if port_offs:
            await self.ports.update(clear(port_offs))

    async def release(self, svc: dict) -> None:
        """
        Give back everything a deleted Service held (kube's C{AfterDelete}).
        """
        ips = cluster_ips(svc) if needs_cluster_ip(svc) else []
        await self.release_values(ips, node_ports(svc))

    # -- repair --------------------------------------------------------------------------------

    async def repair(self) -> None:
        """
        Make the stored bitmaps cover every stored Service: a missing bitmap (or one written for
        another range) is rebuilt from the Services; values of Services that a stored bitmap misses
        are added. Nothing is released.
        """
        services = await self.list_services()
        for stored in (self.ips, self.ports):
            offs = stored.service_offsets(services)

            def change(bitmap: Bitmap, offs: list[int] = offs) -> None:
                for o in offs:
                    bitmap.set(o)

            await stored.update(change)


def _node_port_types(svc: Optional[dict]) -> bool:
    return service_type(svc) in ("NodePort", "LoadBalancer")


def patch_allocated_values(new: dict, old: dict) -> None:
    """
    kube's C{patchAllocatedValues} (Service C{PrepareForUpdate}): an update that leaves the cluster
    IPs, node ports (matched by port name) or health check node port unset keeps the old ones.
    """
    spec, old_spec = new.setdefault("spec", {}), _spec(old)
    if service_type(old) != "ExternalName" and service_type(new) != "ExternalName":
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
            spec["clusterIPs"] = list(old_spec["clusterIPs"])
    if _node_port_types(old) and _node_port_types(new):
        used = set(node_ports_of_ports(old)) & set(node_ports_of_ports(new))
        by_name = {p.get("name") or "": p.get("nodePort") for p in _ports(old)}
        for p in _ports(new):
            if not p.get("nodePort"):
                v = by_name.get(p.get("name") or "")
                if v and v not in used:
                    p["nodePort"] = v
    if needs_health_check(old) and needs_health_check(new):
        if not spec.get("healthCheckNodePort") and old_spec.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]


def node_ports_of_ports(svc: Optional[dict]) -> list[int]:
    """
    The node ports of C{spec.ports}.
    """
    return [p["nodePort"] for p in _ports(svc) if isinstance(p.get("nodePort"), int) and p["nodePort"]]


def drop_type_dependent_fields(new: dict, old: dict) -> None:
    """
    kube's C{dropTypeDependentFields}: an update to a type that no longer uses the cluster IPs,
    node ports or health check node port clears them when the user left them as they were (they
    are released once the update is stored).
    """
    spec, old_spec = new.setdefault("spec", {}), _spec(old)
    if service_type(old) != "ExternalName" and service_type(new) == "ExternalName":
        same_ips = (spec.get("clusterIP") or "") == (old_spec.get("clusterIP") or "") and (
            spec.get("clusterIPs") or []
        ) == (old_spec.get("clusterIPs") or [])
        if same_ips:
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        if spec.get("ipFamilyPolicy") == old_spec.get("ipFamilyPolicy"):
            spec.pop("ipFamilyPolicy", None)
        if spec.get("ipFamilies") == old_spec.get("ipFamilies"):
            spec.pop("ipFamilies", None)
    if _node_port_types(old) and not _node_port_types(new):
        if [p.get("nodePort") or 0 for p in _ports(new)] == [p.get("nodePort") or 0 for p in _ports(old)]:
            for p in _ports(new):
                p.pop("nodePort", None)
    if needs_health_check(old) and not needs_health_check(new):
        if spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort"):
            spec.pop("healthCheckNodePort", None)


def _not_in_range(rng_: Union[IPRange, PortRange], value: Any) -> str:
    if isinstance(rng_, IPRange):
        return f"the provided IP ({value}) is not in the valid range. The range of valid IPs is {rng_.text}"
    return f"provided port is not in the valid range. The range of valid ports is {rng_.text}"
