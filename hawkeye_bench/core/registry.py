"""One registry type for every "things by name" table of the package.

Pipelines, datasets, token routers, compression methods, load metrics and import formats are
each a :class:`Registry`: entries by name in registration order, the built-ins loaded on first
use (modules that register their entries when imported, or a function returning them), then
the entry-point plugins of one group, loaded once. A plugin that fails to load, or loads something
that is not an entry, is logged as a warning and skipped: it never breaks the built-ins.
:meth:`Registry.lookup` raises the registry's user error, naming the valid names.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from operator import attrgetter
from typing import TypeVar

from hawkeye_bench.core.errors import HawkeyeError

T = TypeVar("T")
logger = logging.getLogger(__name__)
#: an entry's name, by default
BY_NAME: Callable[[object], str] = attrgetter("name")


class UnknownName(HawkeyeError, ValueError):
    """A name that nothing registers (the default error of :meth:`Registry.lookup`)."""


class Registry(MutableMapping[str, T]):
    """Entries of one kind by name.

    ``name_of`` gives an entry's name (``register`` files it there; default: its ``name``).
    The built-ins are loaded once, on the first read or registration: the ``modules`` named
    are imported (each registers its entries), then what ``builtins()`` returns is registered.
    With ``entry_point_group``, the installed plugins of that group are loaded once, after the
    built-ins: with ``plugin_type`` an entry point loads an entry (an instance of it, or a
    subclass for a registry of classes; anything else is a warning), without it a module that
    registers its entries itself when imported. :meth:`lookup` raises ``error(message)``,
    the message formatted with ``kind``, ``name``, ``valid`` (the names in registration
    order, comma-separated) and ``sorted`` (the same, sorted).

    As a mapping it loads the built-ins first, so ``registry[name]``, ``in``, iteration and
    ``pop`` see them.
    """

    def __init__(
        self,
        kind: str,
        *,
        name_of: Callable[[T], str] = BY_NAME,
        modules: Iterable[str] | Callable[[], Iterable[str]] = (),
        builtins: Callable[[], Iterable[T]] | None = None,
        entry_point_group: str | None = None,
        plugin_type: type | None = None,
        error: Callable[[str], Exception] = UnknownName,
        message: str = "unknown {kind} {name!r}; valid: {valid}",
    ) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.plugin_type = plugin_type
        self._name_of = name_of
        self._modules = modules
        self._builtins = builtins
        self._error = error
        self._message = message
        self._entries: dict[str, T] = {}
        self._loaded = False

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {list(self._entries)})"

    # ----------------------------------------------------------------------------- loading

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        self._loaded = True  # first: the built-in modules register while this runs
        for module in self._modules() if callable(self._modules) else self._modules:
            importlib.import_module(module)
        for entry in self._builtins() if self._builtins is not None else ():
            self.register(entry)
        if self.entry_point_group is not None:
            self._load_plugins(self.entry_point_group)

    def _load_plugins(self, group: str) -> None:
        for entry in importlib.metadata.entry_points(group=group):
            try:
                loaded = entry.load()
            except Exception as exc:  # a broken plugin must not break the built-ins
                logger.warning(
                    "%s plugin %s (%s) failed: %s", self.kind, entry.name, entry.value, exc
                )
                continue
            if self.plugin_type is None:
                continue  # a module that registered its entries on import
            if self._is_entry(loaded):
                self.register(loaded)
            else:
                logger.warning(
                    "%s plugin %s is not a %s: %r",
                    self.kind,
                    entry.name,
                    self.plugin_type.__name__,
                    loaded,
                )

    def _is_entry(self, loaded: object) -> bool:
        """An instance of ``plugin_type``, or a subclass of it (a registry of classes)."""
        kind = self.plugin_type
        assert kind is not None
        return isinstance(loaded, kind) or (isinstance(loaded, type) and issubclass(loaded, kind))

    # ---------------------------------------------------------------------------- the table

    def register(self, entry: T) -> T:
        """File ``entry`` under its name (replacing one of that name); usable as a decorator."""
        self._ensure_loaded()
        self._entries[self._name_of(entry)] = entry
        return entry

    def lookup(self, name: str) -> T:
        """The entry called ``name``; the registry's error, naming the valid names, if none."""
        self._ensure_loaded()
        try:
            return self._entries[name]
        except KeyError:
            names = self.names()
            text = self._message.format(
                kind=self.kind, name=name, valid=", ".join(names), sorted=", ".join(sorted(names))
            )
            raise self._error(text) from None

    def find(self, name: str | None) -> T | None:
        """The entry called ``name``, or None (a name read from a file may be anything)."""
        self._ensure_loaded()
        return self._entries.get(name or "")

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        self._ensure_loaded()
        return list(self._entries)

    # --------------------------------------------------------------------- MutableMapping

    def __getitem__(self, name: str) -> T:
        self._ensure_loaded()
        return self._entries[name]

    def __setitem__(self, name: str, entry: T) -> None:
        self._ensure_loaded()
        self._entries[name] = entry

    def __delitem__(self, name: str) -> None:
        self._ensure_loaded()
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        self._ensure_loaded()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._entries)
