"""
Query-string parameters as kube-apiserver reads them.

Booleans parse like Go's C{strconv.ParseBool}; integers like C{strconv.ParseInt}; C{ListOptions} and
C{DeleteOptions} come from the query (and, for deletes, from the body).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from kapid.apimachinery.status import bad_request

_TRUE = frozenset(("1", "t", "T", "TRUE", "true", "True"))
_FALSE = frozenset(("0", "f", "F", "FALSE", "false", "False"))


def parse_bool(value: str) -> bool:
    """
    Go's C{strconv.ParseBool}: C{1 t T TRUE true True} and C{0 f F FALSE false False}; raises
    L{ValueError} otherwise.
    """
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')


_INT64 = (-(2**63), 2**63 - 1)


def parse_int(value: str, bits: int = 64) -> int:
    """
    Go's C{strconv.ParseInt(value, 10, bits)}: an optional sign and decimal digits only (no spaces,
    no underscores, not empty); raises a 400 C{BadRequest} with Go's error text otherwise, as kube's
    parameter codec answers a malformed integer parameter.
    """
    digits = value[1:] if value[:1] in ("+", "-") else value
    if not digits or not digits.isascii() or not digits.isdigit():
        raise bad_request(f"strconv.ParseInt: parsing {_go_quote(value)}: invalid syntax")
    n = int(value, 10)
    if not -(2 ** (bits - 1)) <= n <= 2 ** (bits - 1) - 1:
        raise bad_request(f"strconv.ParseInt: parsing {_go_quote(value)}: value out of range")
    return n


def _go_quote(s: str) -> str:
    """
    C{s} quoted as Go's C{strconv.Quote} writes it (for the printable text of query values).
    """
    import orjson

    return orjson.dumps(s).decode("utf-8")


_DURATION_UNITS = ("ns", "us", "\u00b5s", "\u03bcs", "ms", "s", "m", "h")


def duration_error(text: str) -> Optional[str]:
    """
    The error Go's C{time.ParseDuration} gives for C{text} (C{time: invalid duration "abc"},
    C{time: missing unit in duration "5"}, C{time: unknown unit "x" in duration "5x"}), or None
    when it parses.
    """
    invalid = f"time: invalid duration {_go_quote(text)}"
    s = text
    if s[:1] in ("-", "+"):
        s = s[1:]
    if s == "0":
        return None
    if not s:
        return invalid
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            return invalid
        i = 0
        while i < len(s) and "0" <= s[i] <= "9":
            i += 1
        pre = i > 0
        post = False
        if i < len(s) and s[i] == ".":
            i += 1
            j = i
            while i < len(s) and "0" <= s[i] <= "9":
                i += 1
            post = i > j
        if not pre and not post:
            return invalid
        s = s[i:]
        i = 0
        while i < len(s) and s[i] != "." and not "0" <= s[i] <= "9":
            i += 1
        if i == 0:
            return f"time: missing unit in duration {_go_quote(text)}"
        if s[:i] not in _DURATION_UNITS:
            return f"time: unknown unit {_go_quote(s[:i])} in duration {_go_quote(text)}"
        s = s[i:]
    return None


#: the integer fields of C{ListOptions} kube's parameter codec converts from a query string
LIST_OPTIONS_INTEGERS = ("timeoutSeconds", "limit")


class Query:
    """
    The decoded query string of a request (C{request.args}), with typed accessors that raise
    400 C{BadRequest} the way kube's parameter codec does.
    """

    __slots__ = ("args",)

    def __init__(self, args: Mapping[bytes, Sequence[bytes]]) -> None:
        self.args: dict[str, list[str]] = {
            k.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in vs]
            for k, vs in args.items()
        }

    @classmethod
    def from_text(cls, args: Mapping[str, Sequence[str]]) -> "Query":
        """
        A query from already-decoded text parameters (e.g. Go's C{url.Query()} view, which keeps
        C{?watch} without a value).
        """
        q = cls({})
        q.args = {k: list(v) for k, v in args.items()}
        return q

    def has(self, name: str) -> bool:
        """
        Whether C{name} is in the query string.
        """
        return name in self.args

    def get(self, name: str, default: str = "") -> str:
        """
        The first value of C{name}, or C{default}.
        """
        vs = self.args.get(name)
        return vs[0] if vs else default

    def get_all(self, name: str) -> list[str]:
        """
        Every value of C{name}.
        """
        return list(self.args.get(name, ()))

    def bool(self, name: str, default: bool = False) -> bool:
        """
        A query boolean as kube's parameter codec reads it (C{Convert_Slice_string_To_bool}): absent
        is C{default}; C{0}, C{f} and C{false} (any case) are false; every other value, the empty one
        included, is true. It agrees with Go's C{strconv.ParseBool} on the values ParseBool accepts.
        """
        vs = self.args.get(name)
        if not vs:
            return default
        v = vs[0]
        return not (v == "0" or v.lower() in ("f", "false"))

    def optional_bool(self, name: str) -> Optional[bool]:
        """
        A boolean, or None when absent.
        """
        if not self.args.get(name):
            return None
        return self.bool(name)

    def int(self, name: str, default: int = 0) -> int:
        """
        A Go-parsed integer (L{parse_int}); C{default} when absent. A present but empty or malformed
        value is kube's 400 (C{strconv.ParseInt: parsing "abc": invalid syntax}).
        """
        vs = self.args.get(name)
        if not vs:
            return default
        return parse_int(vs[0])

    def optional_int(self, name: str) -> Optional[int]:
        """
        An integer, or None when absent.
        """
        if not self.args.get(name):
            return None
        return self.int(name)

    def check_list_options(self) -> None:
        """
        Convert the query's C{ListOptions} as kube's parameter codec does before a list or watch is
        served: a malformed integer (C{timeoutSeconds}, C{limit}) is a 400 C{BadRequest}, even where
        the request would not use it. Booleans (C{watch}, C{allowWatchBookmarks},
        C{sendInitialEvents}) cannot be malformed: every value but C{0}/C{false} is true.
        """
        for name in LIST_OPTIONS_INTEGERS:
            self.int(name)

    def dry_run(self, options_kind: str = "CreateOptions") -> bool:
        """
        Whether C{dryRun=All} was asked; other values are kube's 422 on C{options_kind}
        (C{CreateOptions}, C{UpdateOptions}, C{PatchOptions}).
        """
        values = self.get_all("dryRun")
        return check_dry_run(values, options_kind)


def options_invalid(options_kind: str, errors: list) -> Exception:
    """
    kube's 422 for invalid request options: C{CreateOptions.meta.k8s.io "" is invalid: ...}.
    """
    from kapid.apimachinery.status import invalid

    return invalid(options_kind, "", errors, "meta.k8s.io")


def check_dry_run(values: Sequence[str], options_kind: str = "CreateOptions") -> bool:
    """
    Validate C{dryRun} values: only C{All} is allowed (kube's C{ValidateDryRun} otherwise).
    """
    if not values:
        return False
    from kapid.apimachinery import field

    for v in values:
        if v != "All":
            quoted = ", ".join(field._go_value(x) for x in values)
            bad = field.GoValue("[]string{" + quoted + "}")
            raise options_invalid(options_kind, [field.not_supported("dryRun", bad, ("All",))])
    return True


_PROPAGATION = ("Orphan", "Background", "Foreground")


def delete_options(query: Query, body: Optional[dict[str, Any]]) -> dict[str, Any]:
    """
    C{DeleteOptions} from the body (when present) else the query string, as a dict with the
    fields C{gracePeriodSeconds}, C{preconditions}, C{orphanDependents}, C{propagationPolicy},
    C{dryRun}.
    """
    opts: dict[str, Any] = {}
    if body:
        kind = body.get("kind")
        if kind not in (None, "", "DeleteOptions"):
            raise bad_request(f'got unexpected object of kind "{kind}", expected DeleteOptions')
        for k in ("gracePeriodSeconds", "preconditions", "orphanDependents", "propagationPolicy", "dryRun"):
            if body.get(k) is not None:
                opts[k] = body[k]
    else:
        gp = query.optional_int("gracePeriodSeconds")
        if gp is not None:
            opts["gracePeriodSeconds"] = gp
        od = query.optional_bool("orphanDependents")
        if od is not None:
            opts["orphanDependents"] = od
        pp = query.get("propagationPolicy")
        if pp:
            opts["propagationPolicy"] = pp
        dr = query.get_all("dryRun")
        if dr:
            opts["dryRun"] = dr
    if opts.get("dryRun"):
        check_dry_run(opts["dryRun"], "DeleteOptions")
    pp = opts.get("propagationPolicy")
    from kapid.apimachinery import field

    errs = []
    if pp is not None and opts.get("orphanDependents") is not None:
        errs.append(field.invalid("propagationPolicy", pp, "orphanDependents and deletionPropagation cannot be both set"))
    if pp is not None and pp not in _PROPAGATION:
        errs.append(field.not_supported("propagationPolicy", pp, ("Foreground", "Background", "Orphan", "nil")))
    if errs:
        raise options_invalid("DeleteOptions", errs)
    gp = opts.get("gracePeriodSeconds")
    if gp is not None and not isinstance(gp, int):
        raise bad_request("gracePeriodSeconds must be an integer")
    return opts
