"""
kube-apiserver's flags, one module per section (generic, etcd, secure serving, ...).

Each section module defines C{SECTION} (a L{Section}: its title and L{Flag}s with kube-apiserver's
names and defaults), C{complete(values)} (fill derived defaults into the raw flag values, no I/O
beyond reading the host name) and C{validate(values) -> (config, errors)} (parse every value,
collect every problem as a sentence naming the flag, never stop at the first). L{kapid.tap.Options}
puts the sections together.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

import attr


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Flag:
    """
    One C{--name=value} flag: its default (a string, as typed on the command line) and help text.
    """

    name: str
    default: Optional[str]
    help: str


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Section:
    """
    A named group of flags, as kube-apiserver's C{--help} prints them.
    """

    title: str
    flags: tuple[Flag, ...]


_GO_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """
    Parse a Go duration (C{1m0s}, C{5m}, C{300ms}, C{1h2m3.5s}, C{0}) into seconds; raise
    L{ValueError} for anything else (a bare number other than 0 is not a duration in Go either).
    """
    s = text.strip()
    sign = 1.0
    if s[:1] in ("-", "+"):
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total = 0.0
    pos = 0
    for m in _GO_DURATION.finditer(s):
        if m.start() != pos:
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f"invalid duration {text!r}")
    return sign * total


def format_duration(seconds: float) -> str:
    """
    Seconds as Go prints a C{time.Duration} (C{1m0s}, C{5m0s}, C{1h0m0s}, C{0s}, C{1.5s}).
    """
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    sec = f"{s:g}s"
    if h:
        return f"{int(h)}h{int(m)}m{sec}"
    if m:
        return f"{int(m)}m{sec}"
    return sec


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(text: str) -> bool:
    """
    Go's C{strconv.ParseBool}; raise L{ValueError} for anything else.
    """
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"invalid boolean {text!r}")


def split_list(text: Optional[str]) -> list[str]:
    """
    A comma-separated flag value as a list, blanks dropped (pflag's C{StringSlice}).
    """
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class Checker:
    """
    Collects problems while a section converts its raw values: each C{get_*} method returns the
    parsed value (or a fallback) and records a sentence naming the flag when the value is bad.
    """

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values
        self.errors: list[str] = []

    def error(self, message: str) -> None:
        """
        Record one problem.
        """
        self.errors.append(message)

    def raw(self, name: str) -> Any:
        """
        The raw value of C{--name}.
        """
        return self.values.get(name)

    def text(self, name: str) -> str:
        """
        The value of C{--name} as a string (C{""} when unset).
        """
        value = self.values.get(name)
        return "" if value is None else str(value)

    def _parse(self, name: str, parse: Callable[[str], Any], what: str, fallback: Any) -> Any:
        value = self.text(name)
        try:
            return parse(value)
        except (ValueError, TypeError):
            self.error(f"--{name}: invalid {what} {value!r}")
            return fallback

    def integer(self, name: str, minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
        """
        C{--name} as an int within C{[minimum, maximum]}.
        """
        value = self._parse(name, int, "integer", None)
        if value is None:
            return 0
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            low = "" if minimum is None else str(minimum)
            high = "" if maximum is None else str(maximum)
            if minimum is not None and maximum is not None:
                self.error(f"--{name}: {value} must be between {low} and {high}, inclusive")
            elif minimum is not None:
                self.error(f"--{name}: {value} must be at least {low}")
            else:
                self.error(f"--{name}: {value} must be at most {high}")
        return int(value)

    def port(self, name: str) -> int:
        """
        C{--name} as a TCP port, 0 to 65535 (0 turns the listener off, as in kube-apiserver).
        """
        return self.integer(name, 0, 65535)

    def duration(self, name: str, allow_negative: bool = False) -> float:
        """
        C{--name} as a Go duration, in seconds.
        """
        value = self._parse(name, parse_duration, "duration (want e.g. 1m0s, 30s, 500ms)", 0.0)
        if value < 0 and not allow_negative:
            self.error(f"--{name}: duration {self.text(name)!r} must not be negative")
        return float(value)

    def boolean(self, name: str) -> bool:
        """
        C{--name} as a boolean (C{true}/C{false}).
        """
        return bool(self._parse(name, parse_bool, "boolean (want true or false)", False))

    def readable_file(self, name: str) -> Optional[str]:
        """
        C{--name} as the path of a readable file, or None when unset.
        """
        import os

        path = self.text(name)
        if not path:
            return None
        if os.path.isdir(path):
            self.error(f"--{name}: {path!r} is a directory, not a file")
        elif not os.path.isfile(path):
            self.error(f"--{name}: file {path!r} does not exist")
        elif not os.access(path, os.R_OK):
            self.error(f"--{name}: file {path!r} is not readable")
        return path

    def ip_address(self, name: str, allow_empty: bool = True) -> Optional[str]:
        """
        C{--name} as an IP address (v4 or v6), or None when unset and C{allow_empty}.
        """
        import ipaddress

        value = self.text(name)
        if not value:
            if not allow_empty:
                self.error(f"--{name}: an IP address is required")
            return None
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            self.error(f"--{name}: invalid IP address {value!r}")
            return None


#: Endpoint types kapid accepts for its listeners (the TLS wrapper is added by kapid itself).
LISTEN_ENDPOINT_TYPES = ("tcp", "tcp6", "unix", "systemd")


def check_listen_endpoint(check: Checker, name: str) -> Optional[str]:
    """
    C{--name} as a Twisted server endpoint string of a stream type kapid accepts, or None.
    """
    value = check.text(name)
    if not value:
        return None
    kind = value.split(":", 1)[0]
    if kind not in LISTEN_ENDPOINT_TYPES or ":" not in value:
        check.error(
            f"--{name}: {value!r} is not a server endpoint string of type "
            + ", ".join(LISTEN_ENDPOINT_TYPES)
            + " (e.g. tcp:6443:interface=127.0.0.1 or systemd:domain=INET:index=0)"
        )
        return None
    return value
