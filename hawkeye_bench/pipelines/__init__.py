"""Pipelines by name.

A new pipeline is one module in this package with a :class:`Pipeline` subclass that declares
its roles and what they mean (every module here is loaded and its pipelines registered), or a
class in another installed package, registered through the ``hawkeye_bench.pipelines``
entry-point group (``name = "package.module:PipelineClass"``).
Everything else (command-line flags and config keys per role, preset validation, lm-eval
``model_args``, the server's streams, summary columns, report views) is derived from here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.registry import Registry
from hawkeye_bench.pipelines.base import DeltaCallback, Pipeline, RoleSpec, StageClient

ENTRY_POINT_GROUP = "hawkeye_bench.pipelines"


class UnknownPipeline(HawkeyeError, ValueError):
    """A pipeline name that no installed package registers."""


def _builtin_pipelines() -> Iterator[type[Pipeline]]:
    """The pipelines of this package's modules."""
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Pipeline)
                and "name" in cls.__dict__
                and cls.__module__ == module.__name__
            ):
                yield cls


PIPELINES: Registry[type[Pipeline]] = Registry(
    "pipeline",
    builtins=_builtin_pipelines,
    entry_point_group=ENTRY_POINT_GROUP,
    plugin_type=Pipeline,
    error=UnknownPipeline,
    message="unknown pipeline {name!r}; valid: {sorted}",
)
register_pipeline = PIPELINES.register
get_pipeline = PIPELINES.lookup
find_pipeline = PIPELINES.find


def registered() -> Registry[type[Pipeline]]:
    return PIPELINES


def pipeline_names() -> list[str]:
    return sorted(PIPELINES.names())


def all_roles() -> tuple[str, ...]:
    """Every role of every registered pipeline, in registration order, without repeats."""
    roles: dict[str, None] = {}
    for cls in PIPELINES.values():
        roles.update(dict.fromkeys(cls.roles))
    return tuple(roles)


def role_meanings() -> dict[str, str]:
    """Role name -> meaning, for help texts."""
    meanings: dict[str, str] = {}
    for cls in PIPELINES.values():
        for spec in cls.role_specs:
            meanings.setdefault(spec.name, spec.meaning)
    return meanings


def single_model_role() -> str | None:
    """The role of the (first registered) one-model baseline: whose prompt a foreign model,
    answering alone, is sent."""
    return next(
        (cls.roles[0] for cls in PIPELINES.values() if cls.is_baseline and len(cls.roles) == 1),
        None,
    )


def cot_role_of(pipeline: str | None) -> str | None:
    cls = find_pipeline(pipeline)
    return cls.cot_role if cls is not None else None


def chunked_roles_of(pipeline: str | None) -> tuple[str, ...]:
    cls = find_pipeline(pipeline)
    return cls.chunked_roles if cls is not None else ()


def is_baseline(pipeline: str | None) -> bool:
    cls = find_pipeline(pipeline)
    return bool(cls is not None and cls.is_baseline)


def display_name(pipeline: str) -> str:
    cls = find_pipeline(pipeline)
    return cls.display_name if cls is not None else pipeline


__all__ = [
    "ENTRY_POINT_GROUP",
    "PIPELINES",
    "DeltaCallback",
    "Pipeline",
    "RoleSpec",
    "StageClient",
    "UnknownPipeline",
    "all_roles",
    "cot_role_of",
    "display_name",
    "find_pipeline",
    "get_pipeline",
    "is_baseline",
    "pipeline_names",
    "register_pipeline",
    "role_meanings",
    "single_model_role",
]
