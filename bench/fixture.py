"""
kapid as a test fixture, timed in a fresh Python process (one line of JSON on stdout):

  - C{startup_s}: from this process's start (before C{import kapid.testing}) to the first usable
    client call (C{GET /api/v1/namespaces/default} answering 200 with the admin kubeconfig's
    client certificate over HTTPS), through L{kapid.testing.KapidProcess} as the pytest fixture
    starts it (embedded store, temporary data dir).
  - C{import_s}, C{ready_s}: the same clock at the end of C{import kapid.testing} and when
    C{start_blocking} returned (kapid's banner seen and C{/readyz} answered 200), so a slow start-up
    shows where its time went (the rest of C{startup_s} is the first call).
  - C{roundtrip_ms}: each namespace round trip as C{kapid_namespace} does it (create, then delete),
    timed with the fixture's own blocking client.

Usage: C{python -m bench.fixture --roundtrips N [--kapid-flag=--storage-backend=memory ...]}. Envtest publishes 10-15 s for its start-up; the
goals here are start-up under 0.5 s and a round trip under 50 ms at the median.
"""

from __future__ import annotations

import time

T0 = time.monotonic()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402


def main(argv: list[str]) -> int:
    """
    Start, time, stop; print the figures.
    """
    parser = argparse.ArgumentParser(prog="bench.fixture")
    parser.add_argument("--roundtrips", type=int, default=100)
    parser.add_argument("--kapid-flag", action="append", default=[], help="a kapid flag (repeatable)")
    args = parser.parse_args(argv)
    from kapid.testing import KapidProcess

    imported = time.monotonic() - T0
    kapid = KapidProcess(args=args.kapid_flag)
    try:
        kapid.start_blocking()
        ready = time.monotonic() - T0
        code, body = kapid.request("GET", "/api/v1/namespaces/default")
        startup = time.monotonic() - T0
        if code != 200:
            raise SystemExit(f"first call answered {code}: {body}")
        roundtrips = []
        for i in range(args.roundtrips):
            name = f"bench-{uuid.uuid4().hex[:10]}"
            t = time.monotonic()
            created, answer = kapid.request(
                "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            )
            deleted, answer2 = kapid.request("DELETE", f"/api/v1/namespaces/{name}")
            roundtrips.append((time.monotonic() - t) * 1000.0)
            if created != 201 or deleted not in (200, 202):
                raise SystemExit(f"namespace round trip answered {created}, {deleted}: {answer} {answer2}")
    finally:
        kapid.stop_blocking(check=False)
    print(json.dumps({"startup_s": startup, "import_s": imported, "ready_s": ready, "roundtrip_ms": roundtrips}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
