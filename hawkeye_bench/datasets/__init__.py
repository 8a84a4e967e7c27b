"""Benchmarks: which ones exist (``registry``; one module each: ``gsm8k``, ``hendrycks_math``,
``aime``), how they load (``loaders``: a local mirror or the Hugging Face hub) and what pins
the data a run used (``fingerprint``)."""

from __future__ import annotations

from hawkeye_bench.datasets.fingerprint import DatasetFingerprint, dataset_fingerprint, fingerprint
from hawkeye_bench.datasets.loaders import DATA_DIR_ENV, load_problems, resolve_data_dir
from hawkeye_bench.datasets.registry import (
    DatasetError,
    DatasetSpec,
    HubSource,
    dataset_names,
    get_spec,
    gold_format_of,
    register_dataset,
)

__all__ = [
    "DATA_DIR_ENV",
    "DatasetError",
    "DatasetFingerprint",
    "DatasetSpec",
    "HubSource",
    "dataset_fingerprint",
    "dataset_names",
    "fingerprint",
    "get_spec",
    "gold_format_of",
    "load_problems",
    "register_dataset",
    "resolve_data_dir",
]
