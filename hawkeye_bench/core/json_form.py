"""The one JSON form of the package's payload dataclasses, through pydantic.

A payload declares only its fields: ``@dataclass class X(JsonPayload): ...`` gets ``to_json()``
(the fields in order, nested dataclasses as objects, ready for :func:`json.dumps`) and
``X.from_json(data)``. :func:`dump` and :func:`load` do the same for any dataclass.

Reading takes what older versions wrote: a field they did not write gets its default, a key the
class does not know is dropped, a number keeps its kind where a field allows both
(``int | float``), so a file reads and writes back unchanged. It refuses what cannot be the
payload (a value of the wrong type, a required field missing, not an object): a
:class:`JsonFormError`, a ValueError whose one-line message names each bad field by its path,
so a reader that turns ValueError into its own user error still prints one line.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self, TypeVar

from pydantic import SerializerFunctionWrapHandler, TypeAdapter, ValidationError, model_serializer

T = TypeVar("T")


class JsonFormError(ValueError):
    """JSON that cannot be read as the payload asked for; one line naming the bad fields."""


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(cls: type) -> TypeAdapter[Any]:
    """One adapter per class (building one is the slow part)."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


def _one_line(cls: type, exc: ValidationError, most: int = 3) -> str:
    """The first ``most`` problems, each as ``where: what (got value)``; a field that may be
    of several types names each type it tried after its path (``value.int``)."""
    problems = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(the whole object)"
        problems.append(f"{where}: {error['msg']} (got {error.get('input')!r:.60})")
    more = f"; and {len(problems) - most} more" if len(problems) > most else ""
    return f"not a {cls.__name__}: " + "; ".join(problems[:most]) + more


def dump(value: object) -> dict[str, Any]:
    """``value`` (a dataclass) as its JSON object, ready for :func:`json.dumps`."""
    data: dict[str, Any] = _adapter(type(value)).dump_python(value, mode="json")
    return data


def load(cls: type[T], data: object) -> T:
    """A ``cls`` from its JSON form; a :class:`JsonFormError` when it cannot be one."""
    try:
        loaded: T = _adapter(cls).validate_python(data)
    except ValidationError as exc:
        raise JsonFormError(_one_line(cls, exc)) from None
    return loaded


class JsonPayload:
    """The base of a payload dataclass: ``to_json``/``from_json`` through :func:`dump` and
    :func:`load` (see the module's docstring for what reading tolerates and refuses).

    ``OMITTED_WHEN_NONE`` names the fields written only when set, as older versions wrote
    them (a None is left out of the JSON, wherever the payload sits, and reads back as None).
    """

    OMITTED_WHEN_NONE: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _json_form(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in self.OMITTED_WHEN_NONE:
            if name in data and data[name] is None:
                del data[name]
        return data

    def to_json(self) -> dict[str, Any]:
        """The payload as its JSON object."""
        return dump(self)

    @classmethod
    def from_json(cls, data: object) -> Self:
        """The payload from its JSON object; a :class:`JsonFormError` when it cannot be."""
        return load(cls, data)
