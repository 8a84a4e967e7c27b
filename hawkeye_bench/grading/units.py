"""One quantity given in two units in one answer: ``\\boxed{1,200 seconds or 20 minutes}``.

Either value is the answer, but only when the two really are the same quantity: both units
are known, of one kind (time, length, mass, volume, money), and converting one gives the other
(to 1%, for rounded imperial conversions). ``3 apples or 5 oranges`` and ``3 or 5`` are not
this shape: they stay for the general rules (a hedge between two answers is not rewarded).
"""

from __future__ import annotations

import math
import re

from hawkeye_bench.grading.presentation import flatten_presentation, plain_number

#: kind -> unit words -> size in the kind's base unit
_KINDS: dict[str, dict[tuple[str, ...], float]] = {
    "time": {
        ("second", "seconds", "sec", "secs"): 1.0,
        ("minute", "minutes", "min", "mins"): 60.0,
        ("hour", "hours", "hr", "hrs"): 3600.0,
        ("day", "days"): 86400.0,
        ("week", "weeks"): 604800.0,
    },
    "length": {
        ("mm", "millimeter", "millimeters", "millimetre", "millimetres"): 0.001,
        ("cm", "centimeter", "centimeters", "centimetre", "centimetres"): 0.01,
        ("meter", "meters", "metre", "metres"): 1.0,
        ("km", "kilometer", "kilometers", "kilometre", "kilometres"): 1000.0,
        ("inch", "inches"): 0.0254,
        ("foot", "feet", "ft"): 0.3048,
        ("yard", "yards", "yd", "yds"): 0.9144,
        ("mile", "miles"): 1609.344,
    },
    "mass": {
        ("mg", "milligram", "milligrams"): 0.001,
        ("gram", "grams"): 1.0,
        ("kg", "kilogram", "kilograms"): 1000.0,
        ("ounce", "ounces", "oz"): 28.349523125,
        ("pound", "pounds", "lb", "lbs"): 453.59237,
    },
    "volume": {
        ("ml", "milliliter", "milliliters", "millilitre", "millilitres"): 0.001,
        ("liter", "liters", "litre", "litres"): 1.0,
        ("cup", "cups"): 0.2365882365,
        ("pint", "pints"): 0.473176473,
        ("quart", "quarts", "qt"): 0.946352946,
        ("gallon", "gallons", "gal"): 3.785411784,
    },
    "money": {("cent", "cents"): 0.01, ("dollar", "dollars"): 1.0},
}
#: unit word -> (kind, size in the kind's base unit)
UNITS: dict[str, tuple[str, float]] = {
    name: (kind, size)
    for kind, table in _KINDS.items()
    for names, size in table.items()
    for name in names
}

# "A or B", "A = B", "A (B)", "A, i.e. B"
_SEPARATOR = re.compile(r"\s+or\s+|\s*=\s*|\s*\(\s*|\s*\)\s*$|\s*,?\s+i\.e\.,?\s+", re.IGNORECASE)
_DOLLAR_SIGN = re.compile(r"^\\?\$\s*\d")
_UNIT_AFTER_NUMBER = re.compile(r"\d\s*([A-Za-z]+)\.?\s*$")


def _quantity(part: str) -> tuple[str, str, float] | None:
    """(number, kind, size in the base unit) of ``20 minutes``; None if not that shape."""
    number = plain_number(part)
    if number is None:
        return None
    if _DOLLAR_SIGN.match(part):
        return number, "money", float(number)
    unit = _UNIT_AFTER_NUMBER.search(part)
    if unit is None or unit.group(1).lower() not in UNITS:
        return None
    kind, size = UNITS[unit.group(1).lower()]
    return number, kind, float(number) * size


def two_unit_values(content: str | None) -> list[str] | None:
    """``1,200 seconds or 20 minutes`` -> ``["1200", "20"]``; None unless ``content`` is one
    quantity given in two units of one kind that convert into each other."""
    if not content:
        return None
    flat = flatten_presentation(content)
    parts = [part.strip() for part in _SEPARATOR.split(flat) if part and part.strip()]
    if len(parts) != 2:
        return None
    first, second = _quantity(parts[0]), _quantity(parts[1])
    if first is None or second is None or first[1] != second[1]:
        return None
    if not math.isclose(first[2], second[2], rel_tol=0.01):
        return None
    return [first[0], second[0]]
