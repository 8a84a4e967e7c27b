"""What one import is: :class:`ImportPlan`, resolved once from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.datasets.fingerprint import DatasetFingerprint
from hawkeye_bench.importing.mapping import FieldMap
from hawkeye_bench.importing.matching import MatchBy
from hawkeye_bench.importing.tokens import TokenizerChoice


@dataclass(frozen=True)
class ImportPlan:
    """Everything one import is, resolved once from the command line."""

    files: tuple[Path, ...]
    format: str  # "auto" or a registered format's name
    task: str
    problems: tuple[Problem, ...]
    dataset: DatasetFingerprint
    out: Path
    pipeline: str | None = None  # None: the pipeline whose roles the rows have
    mapping: FieldMap | None = None
    match: MatchBy = "auto"
    tokenizer: TokenizerChoice | None = None
    model: str = ""
    lm_eval_filter: str | None = None
    role: str = "single"
    skip_bad_lines: bool = False
    resume: bool = False
    baseline: tuple[Record, ...] | None = None
    progress: bool = True
