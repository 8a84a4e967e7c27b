"""What a load metric is: :class:`LoadMetric`, one statistic of ``hawkeye-bench load`` with
everything about it (name, unit, definition, how a raw record gives its samples, where it is
shown). The registry of them is :mod:`hawkeye_bench.load.registry`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from hawkeye_bench.load.records import RequestRecord

#: one value per request, None when the request has none (e.g. no content token)
PerRequest = Callable[[RequestRecord], float | int | None]
#: any number of values per request (e.g. one per chunk gap), pooled over the requests
Pooled = Callable[[RequestRecord], Sequence[float] | np.ndarray]

_STAT = re.compile(r"n|mean|min|max|p\d+")


@dataclass(frozen=True)
class LoadMetric:
    """One load statistic; give exactly one of ``per_request`` and ``pooled``.

    The samples of a stage are taken from its successful measured requests, in send order, and
    summarised by :func:`hawkeye_bench.load.metrics.distribution` (n, mean, p50/p90/p99, min,
    max) under ``metrics[name]`` of the stage.
    """

    name: str
    unit: str  # "ms" or "tokens"; "ms" values are shown in seconds in the report's table
    definition: str
    per_request: PerRequest | None = None
    pooled: Pooled | None = None
    #: ``<name>_n``, ``_mean``, ``_p50``, ``_p90``, ``_p99`` columns in ``load_table.csv``
    in_csv: bool = True
    #: position of those columns among the CSV's metric columns; unranked metrics follow the
    #: ranked ones in registry order
    csv_rank: int | None = None
    #: column key prefix in the report's latency-under-load table: cells ``<column>_<stat>_s``
    #: (unit ms, converted to seconds) or ``<column>_<stat>``, one per ``table_stats``
    table_column: str | None = None
    table_stats: tuple[str, ...] = ("mean",)
    #: in a reasoning target's "(CoT only)" row of that table, this metric fills that column
    #: (a column no metric fills there is empty)
    cot_only_column: str | None = None
    #: ``--slo NAME=MS`` may bound it (needs ``per_request``)
    slo: bool = False

    def __post_init__(self) -> None:
        if (self.per_request is None) == (self.pooled is None):
            raise ValueError(f"load metric {self.name!r}: give exactly one of per_request, pooled")
        if self.slo and self.per_request is None:
            raise ValueError(f"load metric {self.name!r}: an SLO bounds a per-request value")
        bad = [s for s in self.table_stats if not _STAT.fullmatch(s)]
        if bad:
            raise ValueError(f"load metric {self.name!r}: unknown table stats {bad}")

    def value(self, record: RequestRecord) -> float | int | None:
        """The per-request value of one record (None for a pooled metric)."""
        return None if self.per_request is None else self.per_request(record)

    def samples(self, records: Iterable[RequestRecord]) -> list[float | int] | np.ndarray:
        """The metric's raw samples over ``records``: their values, or their pooled arrays."""
        if self.per_request is not None:
            return [v for r in records if (v := self.per_request(r)) is not None]
        assert self.pooled is not None
        arrays = [np.asarray(self.pooled(r), dtype=float) for r in records]
        return np.concatenate(arrays) if arrays else np.empty(0)
