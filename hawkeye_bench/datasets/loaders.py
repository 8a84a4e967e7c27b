"""Loading a registered benchmark as :class:`Problem` lists, and pinning what was loaded.

Two sources share the dataset's row normaliser:

- a local mirror, when ``data_dir`` or the ``HAWKEYE_DATA_DIR`` environment variable is set,
  laid out as ``<dir>/<name>/test.jsonl`` (``aime`` reads the ``aime24`` and ``aime25`` files);
- otherwise the Hugging Face hub through the ``datasets`` library (ids as in the data MANIFEST).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hawkeye_bench.core import jsonl as jsonl
from hawkeye_bench.core.problem import Problem
from hawkeye_bench.datasets.registry import DatasetError, DatasetSpec, get_spec

DATA_DIR_ENV = "HAWKEYE_DATA_DIR"
MIRROR_FILE = "test.jsonl"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path | None:
    """The explicit ``data_dir``, else ``$HAWKEYE_DATA_DIR``, else None (use the hub)."""
    if data_dir is not None:
        return Path(data_dir)
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env) if env else None


def mirror_path(data_dir: Path, name: str) -> Path:
    return data_dir / name / MIRROR_FILE


def existing_mirror_file(data_dir: Path, name: str) -> Path:
    path = mirror_path(data_dir, name)
    if not path.is_file():
        raise DatasetError(
            f"dataset {name!r}: expected mirror file {path} does not exist; point "
            f"{DATA_DIR_ENV} (or --data-dir) at a folder laid out as <dir>/<name>/{MIRROR_FILE}, "
            f"or unset it to load from the Hugging Face hub"
        )
    return path


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a dataset file; a malformed line is a DatasetError."""
    return iter(jsonl.read_jsonl(path, tolerate_torn_tail=False, error=DatasetError))


def normalise_rows(spec: DatasetSpec, rows: Iterable[dict[str, Any]], origin: str) -> list[Problem]:
    """Apply the spec's row normaliser; errors name ``origin`` and the 1-based row number."""
    assert spec.normalise is not None
    problems = []
    for index, row in enumerate(rows):
        try:
            problems.append(spec.normalise(row, index))
        except (KeyError, ValueError, TypeError) as exc:
            detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise DatasetError(f"{origin}:{index + 1}: bad {spec.name} row: {detail}") from exc
    return problems


def _load_mirror(spec: DatasetSpec, data_dir: Path) -> list[Problem]:
    path = existing_mirror_file(data_dir, spec.name)
    return normalise_rows(spec, read_jsonl(path), str(path))


def _load_hub(spec: DatasetSpec) -> list[Problem]:
    assert spec.hub is not None
    try:
        import datasets as hf_datasets
    except ImportError as exc:  # pragma: no cover - datasets is a dependency
        raise DatasetError(
            f"loading {spec.name!r} from the hub needs the 'datasets' package; "
            f"or set {DATA_DIR_ENV} to a local mirror"
        ) from exc
    hub = spec.hub
    try:
        rows = hf_datasets.load_dataset(
            hub.path, hub.config, split=hub.split, revision=hub.revision
        )
    except Exception as exc:
        raise DatasetError(
            f"dataset {spec.name!r}: could not load {hub.path} (split {hub.split}) from the "
            f"Hugging Face hub: {exc}; set {DATA_DIR_ENV} to a local mirror to work offline"
        ) from exc
    return normalise_rows(spec, rows, f"hf://{hub.path}/{hub.split}")


def load_problems(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    subjects: Sequence[str] | None = None,
) -> list[Problem]:
    """Load a benchmark as Problems, in file order.

    ``subjects`` keeps problems whose ``metadata["subject"]`` is listed (case-insensitive);
    ``limit`` then keeps the first N.
    """
    spec = get_spec(name)
    root = resolve_data_dir(data_dir)
    problems: list[Problem] = []
    for leaf in spec.leaves():
        problems.extend(_load_mirror(leaf, root) if root else _load_hub(leaf))
    if subjects:
        wanted = {s.lower() for s in subjects}
        problems = [p for p in problems if str(p.metadata.get("subject", "")).lower() in wanted]
    if limit is not None:
        if limit < 0:
            raise DatasetError(f"limit must be >= 0, got {limit}")
        problems = problems[:limit]
    return problems
