"""
Driving Debian's C{wrk} (C{/usr/bin/wrk}): each run gets a generated Lua script (request shape plus
a C{done} hook that prints one JSON line with counts and latency percentiles), is bounded by C{-d}
in time and by a subprocess timeout, and is parsed into a sample.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from typing import Optional

WRK = shutil.which("wrk") or "/usr/bin/wrk"

_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"socket_errors":%d,"status_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def _lua_str(s: str) -> str:
    return "[==[" + s + "]==]"


def script_get(path: str) -> str:
    """
    A script that sends GET C{path}.
    """
    return f"wrk.method = 'GET'\nwrk.path = {_lua_str(path)}\n" + _DONE


def script_body(method: str, path: str, body: str, content_type: str = "application/json") -> str:
    """
    A script that sends the same body with C{method} to C{path}.
    """
    return (
        f"wrk.method = {_lua_str(method)}\nwrk.path = {_lua_str(path)}\n"
        f"wrk.body = {_lua_str(body)}\nwrk.headers['Content-Type'] = {_lua_str(content_type)}\n" + _DONE
    )


def script_create(path: str, body_template: str, name_prefix: str) -> str:
    """
    A script that POSTs C{body_template} to C{path} with C{@NAME@} replaced by a name unique to
    this run (prefix, wrk thread, counter).
    """
    return (
        "local counter = 0\nlocal threads = 0\n"
        "setup = function(thread) threads = threads + 1; thread:set('tid', threads) end\n"
        f"local template = {_lua_str(body_template)}\n"
        f"local prefix = {_lua_str(name_prefix)}\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        "  local name = prefix .. '-' .. tostring(tid or 0) .. '-' .. tostring(counter)\n"
        "  local body = string.gsub(template, '@NAME@', name)\n"
        f"  return wrk.format('POST', {_lua_str(path)}, {{['Content-Type']='application/json'}}, body)\n"
        "end\n" + _DONE
    )


def script_patch_cycle(path_template: str, names: list[str], body_template: str, content_type: str) -> str:
    """
    A script that PATCHes the objects C{names} in turn (C{@NAME@} in the path, C{@N@} in the body
    replaced by a counter) with C{content_type}.
    """
    names_lua = "{" + ",".join(_lua_str(n) for n in names) + "}"
    return (
        f"local names = {names_lua}\nlocal counter = 0\n"
        f"local ptemplate = {_lua_str(path_template)}\nlocal btemplate = {_lua_str(body_template)}\n"
        "request = function()\n"
        "  counter = counter + 1\n"
        "  local name = names[(counter % #names) + 1]\n"
        "  local path = string.gsub(ptemplate, '@NAME@', name)\n"
        "  local body = string.gsub(btemplate, '@N@', tostring(counter))\n"
        f"  return wrk.format('PATCH', path, {{['Content-Type']={_lua_str(content_type)}}}, body)\n"
        "end\n" + _DONE
    )


def run_wrk(url: str, script: str, connections: int, duration: float, threads: Optional[int] = None,
            timeout_s: float = 10.0) -> dict:
    """
    Run wrk against C{url} with C{script} for C{duration} seconds at C{connections} connections;
    return a sample: throughput (successful requests/s), p50_ms, p99_ms, requests, errors.
    """
    threads = threads or (1 if connections < 4 else 2)
    threads = min(threads, connections)
    with tempfile.TemporaryDirectory(prefix="kapid-wrk-") as d:
        path = os.path.join(d, "s.lua")
        with open(path, "w") as f:
            f.write(script)
        secs = max(1, int(round(duration)))
        argv = [WRK, "-t", str(threads), "-c", str(connections), "-d", f"{secs}s",
                "--timeout", f"{int(timeout_s)}s", "-s", path, url]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=secs + timeout_s + 20)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary (rc {out.returncode}): {out.stdout[-400:]} {out.stderr[-400:]}")
    d = json.loads(line[len("BENCHJSON "):])
    ok = d["requests"] - d["status_errors"]
    seconds = d["duration_us"] / 1e6
    return {
        "throughput": ok / seconds if seconds else 0.0,
        "p50_ms": d["p50_us"] / 1000.0,
        "p99_ms": d["p99_us"] / 1000.0,
        "requests": d["requests"],
        "errors": d["status_errors"] + d["socket_errors"],
    }
