"""The load metric registry: one ordered list of every statistic ``hawkeye-bench load`` reports.

A :class:`LoadMetric` entry holds everything about one metric: its name (the key in
``load_results.json`` and the prefix of its ``load_table.csv`` columns), unit, definition text
(the "Metric definitions" table of ``load_table.md``), how its samples are taken from raw
:class:`~hawkeye_bench.load.records.RequestRecord`\\ s, whether the CSV has it, which column of
the report's latency-under-load table shows it and whether ``--slo`` can bound it. Stage
statistics, the JSON definitions, the CSV columns and that table are all derived from here, so
adding a metric is one :func:`register_load_metric` call and no other edit.

The entry type is :class:`~hawkeye_bench.load.metric_spec.LoadMetric`; the built-in metrics
(:mod:`hawkeye_bench.load.builtin_metrics`) are registered on first use, before any other.
"""

from __future__ import annotations

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.registry import Registry
from hawkeye_bench.load.builtin_metrics import BUILTIN_LOAD_METRICS
from hawkeye_bench.load.metric_spec import LoadMetric, PerRequest, Pooled


class UnknownLoadMetric(HawkeyeError, KeyError):
    """No load metric has this name (a KeyError too, as before the registry type)."""

    def __str__(self) -> str:  # KeyError's would quote the message
        return str(self.args[0]) if self.args else ""


_REGISTRY: Registry[LoadMetric] = Registry(
    "load metric",
    builtins=lambda: BUILTIN_LOAD_METRICS,
    error=UnknownLoadMetric,
    message="no load metric {name!r} (known: {valid})",
)
load_metric = _REGISTRY.lookup


def register_load_metric(metric: LoadMetric, *, replace: bool = False) -> LoadMetric:
    """Add ``metric`` after the registered ones (or, with ``replace``, swap it in place)."""
    if metric.name in _REGISTRY and not replace:
        raise ValueError(f"load metric {metric.name!r} is already registered")
    if metric.table_column is not None:
        for other in _REGISTRY.values():
            if other.name != metric.name and other.table_column == metric.table_column:
                raise ValueError(
                    f"load metric {metric.name!r}: table column {metric.table_column!r} "
                    f"is already {other.name!r}'s"
                )
    return _REGISTRY.register(metric)


def unregister_load_metric(name: str) -> LoadMetric:
    """Remove a registered metric and return it."""
    return _REGISTRY.pop(name)


def load_metrics() -> tuple[LoadMetric, ...]:
    """Every registered metric, in registry order (the order of the JSON and the definitions)."""
    return tuple(_REGISTRY.values())


def csv_load_metrics() -> tuple[LoadMetric, ...]:
    """The metrics with CSV columns, in CSV order."""
    ranked = [m for m in load_metrics() if m.in_csv]
    return tuple(sorted(ranked, key=lambda m: (m.csv_rank is None, m.csv_rank or 0)))


def table_load_metrics() -> tuple[LoadMetric, ...]:
    """The metrics with a column in the report's latency-under-load table."""
    return tuple(m for m in load_metrics() if m.table_column is not None)


def slo_metric_names() -> tuple[str, ...]:
    """The metrics ``--slo`` can bound."""
    return tuple(m.name for m in load_metrics() if m.slo)


__all__ = [
    "LoadMetric",
    "PerRequest",
    "Pooled",
    "UnknownLoadMetric",
    "csv_load_metrics",
    "load_metric",
    "load_metrics",
    "register_load_metric",
    "slo_metric_names",
    "table_load_metrics",
    "unregister_load_metric",
]
