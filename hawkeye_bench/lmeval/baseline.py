"""The lm-eval model's comparison with a baseline run (``model_args baseline_run=...,margin=2``).

The baseline is an eval run folder (``records.jsonl``) or the traces sidecar of an earlier
lm-eval run of a baseline pipeline; each dataset this run shares with it gets the paired
accuracy difference and non-inferiority verdict of :mod:`hawkeye_bench.eval.comparison`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from hawkeye_bench.core.jsonl import JsonlError, read_jsonl
from hawkeye_bench.core.record import Record
from hawkeye_bench.endpoints.settings import ConfigError
from hawkeye_bench.eval.comparison import AccuracyComparisonJson, compare_accuracy
from hawkeye_bench.eval.store import RunStore, RunStoreError
from hawkeye_bench.lmeval.sidecar import SidecarLine


def load_baseline_records(path: str | Path) -> tuple[Record, ...]:
    """The records of an eval run folder or of a traces sidecar file; a one-line error else."""
    path = Path(path)
    if path.is_dir():
        store = RunStore(path)
        if not store.has_records():
            raise ConfigError(f"model_args baseline_run={path}: no records.jsonl in that folder")
        try:
            return tuple(store.load_records())
        except RunStoreError as exc:
            raise ConfigError(f"model_args baseline_run: {exc}") from None
    if not path.is_file():
        raise ConfigError(f"model_args baseline_run={path}: no such run folder or traces file")
    try:
        rows = read_jsonl(path)
        return tuple(SidecarLine.from_json(row).record for row in rows)
    except (JsonlError, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"model_args baseline_run={path}: unreadable: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"model_args baseline_run={path}: not an eval run or a traces file ({exc!r} missing "
            "or malformed)"
        ) from None


def compare_by_dataset(
    records: Iterable[Record], baseline: Iterable[Record], margin_pp: float | None
) -> dict[str, AccuracyComparisonJson]:
    """Dataset -> ``accuracy_vs_baseline`` (as in summary.json), for every dataset both have."""
    ours: dict[str, list[Record]] = defaultdict(list)
    theirs: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        ours[record.problem.dataset].append(record)
    for record in baseline:
        theirs[record.problem.dataset].append(record)
    compared: dict[str, AccuracyComparisonJson] = {}
    for dataset in sorted(set(ours) & set(theirs)):
        result = compare_accuracy(ours[dataset], theirs[dataset], margin_pp=margin_pp)
        if result is not None:
            compared[dataset] = result.to_dict()
    return compared
