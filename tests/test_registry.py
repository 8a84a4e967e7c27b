"""The one registry type: entries by name, built-ins loaded on first use, entry-point plugins
loaded once (a broken one is a warning), and a lookup error that names the valid names."""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.registry import Registry, UnknownName


@dataclass(frozen=True)
class Thing:
    name: str
    size: int = 0


class FakeEntryPoint:
    def __init__(self, name: str, loaded: object, fails: bool = False) -> None:
        self.name = name
        self.value = f"plugins:{name}"
        self._loaded = loaded
        self._fails = fails

    def load(self) -> object:
        if self._fails:
            raise ImportError("no module named plugins")
        return self._loaded


def things(**kwargs: Any) -> tuple[Registry[Thing], list[str]]:
    calls: list[str] = []

    def builtins() -> list[Thing]:
        calls.append("builtins")
        return [Thing("a", 1), Thing("b", 2)]

    registry: Registry[Thing] = Registry("thing", builtins=builtins, **kwargs)
    return registry, calls


def test_builtins_load_once_on_first_use() -> None:
    registry, calls = things()
    assert calls == []  # nothing runs at construction
    assert registry.names() == ["a", "b"]
    assert registry.lookup("b") == Thing("b", 2)
    assert list(registry.items()) == [("a", Thing("a", 1)), ("b", Thing("b", 2))]
    assert "a" in registry and len(registry) == 2
    assert calls == ["builtins"]


def test_register_comes_after_the_builtins_and_works_as_a_decorator() -> None:
    registry: Registry[type[Any]] = Registry("kind", name_of=lambda cls: cls.__name__.lower())

    @registry.register
    class Widget:
        pass

    assert registry.lookup("widget") is Widget
    things_registry, _ = things()
    things_registry.register(Thing("c"))  # first use: the built-ins come first
    assert things_registry.names() == ["a", "b", "c"]
    things_registry.register(Thing("a", 9))  # same name: replaced in place
    assert things_registry.names() == ["a", "b", "c"] and things_registry["a"].size == 9


def test_lookup_names_the_kind_and_the_valid_names() -> None:
    registry, _ = things()
    with pytest.raises(UnknownName, match=r"^unknown thing 'x'; valid: a, b$") as caught:
        registry.lookup("x")
    assert isinstance(caught.value, HawkeyeError) and caught.value.exit_code == 2
    assert registry.find("x") is None and registry.find(None) is None
    assert registry.find("a") == Thing("a", 1)


def test_a_registry_may_raise_its_own_error() -> None:
    class UnknownThing(HawkeyeError):
        pass

    registry, _ = things(error=UnknownThing, message="no {kind} {name}; try {sorted}")
    registry.register(Thing("0"))
    with pytest.raises(UnknownThing, match=r"^no thing x; try 0, a, b$"):
        registry.lookup("x")


def test_it_is_a_mutable_mapping() -> None:
    registry, _ = things()
    registry["z"] = Thing("z")
    assert registry.pop("z") == Thing("z")
    del registry["a"]
    assert registry.names() == ["b"]


def test_builtin_modules_are_imported_once_and_register_their_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry: Registry[Thing] = Registry("thing", modules=["h2_things_a", "h2_things_b"])
    for name, thing in (("h2_things_a", "a"), ("h2_things_b", "b")):
        (tmp_path / f"{name}.py").write_text(
            "from tests_registry_target import REGISTRY, Thing\n"
            f"REGISTRY.register(Thing({thing!r}))\n"
        )
    target = types.ModuleType("tests_registry_target")
    target.REGISTRY = registry  # type: ignore[attr-defined]
    target.Thing = Thing  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tests_registry_target", target)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert registry.names() == ["a", "b"]
        assert registry.names() == ["a", "b"]  # imported once: nothing registered twice
    finally:
        for name in ("h2_things_a", "h2_things_b"):
            sys.modules.pop(name, None)


def test_plugins_load_once_and_a_broken_one_does_not_break_the_builtins(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    groups: list[str] = []
    entry_points = [
        FakeEntryPoint("good", Thing("good", 3)),
        FakeEntryPoint("broken", None, fails=True),
        FakeEntryPoint("wrong", "not a thing"),
    ]

    def fake_entry_points(*, group: str) -> list[FakeEntryPoint]:
        groups.append(group)
        return entry_points

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    registry, _ = things(
        entry_point_group="test.things",
        plugin_type=Thing,
    )
    with caplog.at_level(logging.WARNING, logger="hawkeye_bench.core.registry"):
        assert registry.names() == ["a", "b", "good"]
        registry.names()
    assert groups == ["test.things"]  # once
    messages = [r.getMessage() for r in caplog.records]
    assert any("thing plugin broken (plugins:broken) failed" in m for m in messages)
    assert any("thing plugin wrong is not a Thing" in m for m in messages)


def test_a_module_plugin_registers_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    registry, _ = things(entry_point_group="test.things")

    class Module:
        pass

    def load_module() -> object:
        registry.register(Thing("from_module"))
        return Module

    entry = FakeEntryPoint("module", Module)
    entry.load = load_module  # type: ignore[method-assign]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda *, group: [entry])
    assert registry.names() == ["a", "b", "from_module"]


def test_every_package_registry_is_one_registry() -> None:
    from hawkeye_bench.datasets.registry import DATASETS
    from hawkeye_bench.importing.formats import FORMATS
    from hawkeye_bench.load.registry import _REGISTRY as LOAD_METRICS
    from hawkeye_bench.pipelines import PIPELINES
    from hawkeye_bench.pipelines.compress_methods import COMPRESS_METHODS
    from hawkeye_bench.routing import ROUTERS

    for registry in (DATASETS, FORMATS, LOAD_METRICS, PIPELINES, COMPRESS_METHODS, ROUTERS):
        assert isinstance(registry, Registry)
        assert registry.names()  # built-ins loaded on first use


@pytest.mark.parametrize(
    ("lookup", "message"),
    [
        ("hawkeye_bench.pipelines:get_pipeline", "unknown pipeline 'nope'; valid: "),
        ("hawkeye_bench.datasets:get_spec", "unknown dataset 'nope'; valid names: "),
        ("hawkeye_bench.routing:get_router", "unknown router 'nope'; valid: "),
        (
            "hawkeye_bench.pipelines.compress_methods:get_compress_method",
            "unknown compression method 'nope'; valid: ",
        ),
        ("hawkeye_bench.importing.formats:get_format", "unknown --format 'nope'; valid: auto, "),
        ("hawkeye_bench.load.registry:load_metric", "no load metric 'nope' (known: "),
    ],
)
def test_each_registry_keeps_its_error_text(lookup: str, message: str) -> None:
    module, name = lookup.split(":")
    function = getattr(importlib.import_module(module), name)
    with pytest.raises(HawkeyeError) as caught:
        function("nope")
    assert str(caught.value).startswith(message)


def test_a_registry_of_classes_takes_subclasses_from_plugins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Base:
        name = "base"

    class Plugged(Base):
        name = "plugged"

    registry: Registry[type[Base]] = Registry(
        "base", entry_point_group="test.bases", plugin_type=Base
    )
    entries = [FakeEntryPoint("plugged", Plugged), FakeEntryPoint("other", int)]
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda *, group: entries)
    assert registry.names() == ["plugged"]
