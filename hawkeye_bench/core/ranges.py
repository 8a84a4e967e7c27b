"""Range-checked numbers, as argparse ``type=`` functions (config files reuse them).

A value out of range becomes an ordinary usage error (exit 2) that names the flag and the
allowed range, before any endpoint is contacted::

    hawkeye-bench eval: error: argument --samples: '0' is out of range; expected an integer >= 1

Floats must be finite: ``nan`` and ``inf`` are reported as "not a number", not as out of range.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _parse(text: str, kind: type[int] | type[float], expected: str) -> float:
    """``text`` as a finite int or float; ``expected`` describes the range for messages."""
    noun = "an integer" if kind is int else "a number"
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {noun}; expected {expected}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; expected {expected}")
    return value


def _out_of_range(text: str, expected: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{text!r} is out of range; expected {expected}")


def int_at_least(minimum: int) -> Callable[[str], int]:
    """A type for integers >= ``minimum``."""
    expected = f"an integer >= {minimum}"

    def convert(text: str) -> int:
        value = int(_parse(text, int, expected))
        if value < minimum:
            raise _out_of_range(text, expected)
        return value

    convert.__name__ = f"int_at_least_{minimum}".replace("-", "minus_")
    return convert


def int_between(low: int, high: int) -> Callable[[str], int]:
    """A type for integers from ``low`` to ``high``, both included."""
    expected = f"an integer from {low} to {high}"

    def convert(text: str) -> int:
        value = int(_parse(text, int, expected))
        if not low <= value <= high:
            raise _out_of_range(text, expected)
        return value

    convert.__name__ = f"int_between_{low}_{high}".replace("-", "minus_")
    return convert


positive_int = int_at_least(1)
positive_int.__name__ = "positive_int"
non_negative_int = int_at_least(0)
non_negative_int.__name__ = "non_negative_int"
port_number = int_between(0, 65535)
port_number.__name__ = "port_number"


def positive_float(text: str) -> float:
    """A finite number > 0."""
    expected = "a number > 0"
    value = float(_parse(text, float, expected))
    if value <= 0:
        raise _out_of_range(text, expected)
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    expected = "a number >= 0"
    value = float(_parse(text, float, expected))
    if value < 0:
        raise _out_of_range(text, expected)
    return value


def share(text: str) -> float:
    """A share (fraction) from 0 to 1, both included."""
    expected = "a number from 0 to 1"
    value = float(_parse(text, float, expected))
    if not 0.0 <= value <= 1.0:
        raise _out_of_range(text, expected)
    return value
