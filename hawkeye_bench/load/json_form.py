"""The load results' dataclasses to and from their JSON form, through pydantic.

A dataclass's JSON is its fields in order, nested dataclasses as objects; reading takes what
older versions wrote: a field they did not write gets its default, a key it does not know is
left out, a value of the wrong type is a ``pydantic.ValidationError`` (a ValueError). Numbers
keep their kind where a field allows both (``int | float``), so a file reads and writes back
unchanged.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(cls: type) -> TypeAdapter[Any]:
    """One adapter per class (building one is the slow part)."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def dump(value: object) -> dict[str, Any]:
    """``value`` (a dataclass) as its JSON object, ready for :func:`json.dumps`."""
    data: dict[str, Any] = _adapter(type(value)).dump_python(value, mode="json")
    return data


def load(cls: type[T], data: object) -> T:
    """A ``cls`` from its JSON form."""
    loaded: T = _adapter(cls).validate_python(data)
    return loaded
