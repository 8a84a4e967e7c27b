"""The input formats ``import`` reads, by name: each a :class:`InputFormat` registered by its
module (``generic``, ``openai_batch``, ``lm_eval``, ``upstream``).

A format says how to recognise a file from its first value (``--format auto``) and builds, per
file, a reader that turns each JSON value into :class:`ImportedRow` objects (several when one
line holds several samples), raising :class:`RowError` for a line it cannot read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hawkeye_bench.core.registry import Registry
from hawkeye_bench.importing.mapping import FieldMap
from hawkeye_bench.importing.rows import ImportedRow, ImportInputError

#: Modules that register the built-in formats, in detection order (generic never detects).
FORMAT_MODULES = ("openai_batch", "lm_eval", "upstream", "generic")


@dataclass(frozen=True)
class FormatOptions:
    """What the command line tells a format."""

    mapping: FieldMap | None = None
    #: the role of a one-stage output (the baseline's role unless the mapping names roles)
    role: str = "single"
    #: the model name recorded for stages whose file names none
    model: str = ""
    #: lm-eval: the filter whose lines are read (default: the first one in the file)
    lm_eval_filter: str | None = None


RowReader = Callable[[int, Any], list[ImportedRow]]


@dataclass(frozen=True)
class InputFormat:
    name: str
    description: str
    #: whether a file whose first value is this one is in the format (None: never guessed)
    detect: Callable[[Any], bool] | None
    #: a reader for one file; called once per file (a reader may keep state, e.g. a filter)
    reader: Callable[[FormatOptions], RowReader]
    #: what the file's own verdict is, where it has one (shown beside the agreement)
    verdict_source: str | None = None
    needs_mapping: bool = False


FORMATS: Registry[InputFormat] = Registry(
    "input format",
    modules=[f"hawkeye_bench.importing.{module}" for module in FORMAT_MODULES],
    error=ImportInputError,
    message="unknown --format {name!r}; valid: auto, {valid}",
)
register_format = FORMATS.register
format_names = FORMATS.names
get_format = FORMATS.lookup


def detect_format(first: Any, where: str) -> InputFormat:
    """The format whose layout ``first`` (a file's first value) has."""
    for spec in FORMATS.values():
        if spec.detect is not None and spec.detect(first):
            return spec
    keys = ", ".join(sorted(first)[:8]) if isinstance(first, dict) else type(first).__name__
    raise ImportInputError(
        f"{where}: no known layout (first value has: {keys}); give --format generic with "
        "--map text=FIELD,... naming the fields"
    )
