"""The benchmarks hawkeye-bench knows: one :class:`DatasetSpec` each, registered by the module
that defines it (every module of this package is loaded: ``gsm8k.py``, ``hendrycks_math.py``,
``aime.py``, ...), or by another installed package through the ``hawkeye_bench.datasets``
entry point (a module that calls :func:`register_dataset`).

A spec says where the data lives (mirror file name, hub id), how a row becomes a
:class:`Problem` (question, gold, metadata), and how its gold answers are written (the grader
compares plain numbers and LaTeX differently).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.registry import Registry

ENTRY_POINT_GROUP = "hawkeye_bench.datasets"
#: Modules of this package that are machinery, not datasets.
_NOT_DATASETS = frozenset({"registry", "loaders", "fingerprint"})
#: How a dataset writes its gold answers: plain numbers, LaTeX without ``$``, either (decided
#: per string), or a multiple-choice letter with its text (``(A) bank``, see grading/choices).
GoldFormat = Literal["number", "latex", "auto", "choice"]
RowNormaliser = Callable[[dict[str, Any], int], Problem]


class DatasetError(HawkeyeError):
    """A dataset could not be loaded: unknown name, missing file or malformed row."""


@dataclass(frozen=True)
class HubSource:
    """Where a dataset lives on the Hugging Face hub."""

    path: str
    split: str
    config: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    """One loadable benchmark: its mirror file name, hub source, row normaliser and gold format.

    A spec with ``parts`` (``aime``) is the concatenation of other specs.
    """

    name: str
    description: str
    normalise: RowNormaliser | None = None
    hub: HubSource | None = None
    gold_format: GoldFormat = "auto"
    parts: tuple[str, ...] = ()

    def leaves(self) -> tuple[DatasetSpec, ...]:
        if not self.parts:
            return (self,)
        return tuple(leaf for part in self.parts for leaf in get_spec(part).leaves())


def _dataset_modules() -> list[str]:
    """Every dataset module of this package (each registers its specs)."""
    package = importlib.import_module("hawkeye_bench.datasets")
    found = pkgutil.iter_modules(package.__path__)
    return [f"{package.__name__}.{m.name}" for m in found if m.name not in _NOT_DATASETS]


#: a plugin is a module that calls :func:`register_dataset` when imported
DATASETS: Registry[DatasetSpec] = Registry(
    "dataset",
    modules=_dataset_modules,
    entry_point_group=ENTRY_POINT_GROUP,
    error=DatasetError,
    message="unknown dataset {name!r}; valid names: {valid}",
)
register_dataset = DATASETS.register
get_spec = DATASETS.lookup


def dataset_names() -> list[str]:
    """Names accepted by ``load_problems``."""
    return DATASETS.names()


def gold_format_of(name: str | None) -> GoldFormat:
    """How dataset ``name`` writes its gold answers ("auto" for an unknown name)."""
    spec = DATASETS.find(name)
    return spec.gold_format if spec is not None else "auto"
