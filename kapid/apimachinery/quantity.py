"""
Quantities (C{resource.Quantity}) as kube-apiserver encodes them after decoding.

kube parses a quantity into a number and a format (C{DecimalSI} for C{m}, C{k}, C{M}, ... or no
suffix, C{BinarySI} for C{Ki}, C{Mi}, ..., C{DecimalExponent} for C{e3}), rounds it up to
nano precision, and writes it back in its canonical form: C{1000m} is C{1}, C{1.5} is C{1500m},
C{1000} is C{1k}, C{0.5Gi} is C{512Mi}, C{1536Ki} is C{1536Ki}. A string that is already canonical
(and a few others kube's fast path keeps, such as C{+1}) comes back as sent.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Optional

_NUMBER = re.compile(r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$")

#: decimal suffix -> power of ten
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
#: binary suffix -> power of two
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}

_NANO = Fraction(1, 10**9)
_INT64_MAX = 2**63 - 1
_MAX_INT64_FACTORS = 18


def _parse(text: str) -> Optional[tuple[bool, str, str, str, int, str]]:
    """
    C{(positive, integer digits, fraction digits, format, exponent, suffix)}, or None.
    """
    m = _NUMBER.match(text)
    if m is None:
        return None
    sign, num, denom, suffix = m.group(1), m.group(2), m.group(3) or "", m.group(4)
    if not num and not denom:
        return None
    if suffix in _DECIMAL:
        return sign != "-", num, denom, "DecimalSI", _DECIMAL[suffix], suffix
    if suffix in _BINARY:
        return sign != "-", num, denom, "BinarySI", _BINARY[suffix], suffix
    if len(suffix) > 1 and suffix[0] in "eE":
        try:
            return sign != "-", num, denom, "DecimalExponent", int(suffix[1:]), suffix
        except ValueError:
            return None
    return None


def canonical(text: str) -> str:
    """
    The text kube encodes for the quantity C{text} (a valid quantity); C{text} itself when it
    cannot be parsed here.
    """
    parsed = _parse(text.strip())
    if parsed is None:
        return text
    positive, num, denom, fmt, exponent, _ = parsed
    if _kept_as_sent(num, denom, fmt, exponent):
        return text.strip()
    value = Fraction(int(num or "0") * 10 ** len(denom) + int(denom or "0"), 10 ** len(denom))
    value *= Fraction(2) ** exponent if fmt == "BinarySI" else Fraction(10) ** exponent
    if not positive:
        value = -value
    # more precise than a nanounit: rounded up (away from zero)
    scaled = value / _NANO
    if scaled.denominator != 1:
        whole = -(-abs(scaled.numerator) // scaled.denominator)
        value = Fraction(whole if value > 0 else -whole) * _NANO
    if value == 0:
        return "0"
    if fmt == "BinarySI" and (-1024 < value < 1024 or value.denominator != 1):
        fmt = "DecimalSI"
    if fmt == "BinarySI":
        mantissa, power = int(value), 0
        while mantissa % 1024 == 0 and power < 60:
            mantissa //= 1024
            power += 10
        return f"{mantissa}{_BINARY_SUFFIX.get(power, '')}"
    mantissa, power = _decimal(value)
    if fmt == "DecimalSI" and power in _DECIMAL_SUFFIX:
        return f"{mantissa}{_DECIMAL_SUFFIX[power]}"
    return f"{mantissa}" if power == 0 else f"{mantissa}e{power}"


def _decimal(value: Fraction) -> tuple[int, int]:
    """
    C{value} as C{mantissa * 10**power}: trailing zeros taken out of the mantissa, then the power
    lowered to a multiple of three (kube's C{AsCanonicalBytes}).
    """
    power = -9
    mantissa = int(value / _NANO)
    while mantissa and mantissa % 10 == 0:
        mantissa //= 10
        power += 1
    while power % 3:
        mantissa *= 10
        power -= 1
    return mantissa, power


def _kept_as_sent(num: str, denom: str, fmt: str, exponent: int) -> bool:
    """
    Whether kube's parsing fast path keeps the string as sent (it is already canonical, or close
    enough that kube does not rewrite it).
    """
    if fmt == "BinarySI":
        if exponent < 0 or denom:
            return False
        precision = 15 - len(num) - int(exponent * 3 / 10) - 1
        scale = 0
        mantissa = 1 << exponent
    else:
        precision = _MAX_INT64_FACTORS - (len(num) + len(denom))
        scale = exponent
        mantissa = 1
    if precision < 0:
        return False
    scale -= len(denom)
    if scale < -9:
        return False
    shifted = num + denom
    try:
        value = int(shifted, 10)
    except ValueError:
        return False
    if value > _INT64_MAX or value * mantissa > _INT64_MAX:
        return False
    if fmt == "BinarySI":
        return exponent % 10 == 0 and value & 0x07 != 0
    return scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
