"""A routing sweep: one route run per (router, threshold) in one folder, plus the small-only and
large-only anchors on the same prompts, and its table of accuracy against routed share.

Layout of a sweep folder::

    route_sweep.json           what was asked (routers, thresholds) and the runs
    runs/anchor-small/, runs/anchor-large/, runs/<router>-t<threshold>/,
    runs/<router>-s<target share>/ (the threshold found before the run, see routing.calibrate)
                               an ordinary eval run folder each
    route_table.md / .csv      accuracy (95% Wilson interval) against the routed share (large
                               tokens / all tokens, pooled over answers), with route events,
                               uploaded context and calls per answer

The anchors answer with one call to one model on the route prompt, so every row of the table
is measured on the same prompts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from hawkeye_bench.core.record import Record
from hawkeye_bench.core.stats import describe
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.eval.sweep_folder import (
    ACCURACY_COLUMNS,
    AccuracyCells,
    SweepFile,
    accuracy_cells,
    write_table,
)
from hawkeye_bench.routing.facts import RouteFacts
from hawkeye_bench.routing.summary import pooled_share, route_facts

SWEEP_FILE = "route_sweep.json"
DEFAULT_THRESHOLDS = (0.2, 0.4, 0.6, 0.8)
ANCHORS = ("small", "large")
TABLE_COLUMNS = (
    "run",
    "router",
    "threshold",
    *ACCURACY_COLUMNS,
    "routed_share",
    "route_events_mean",
    "tokens_mean",
    "uploaded_context_mean",
    "calls_per_100_tokens_mean",
    "small_s_mean",
    "large_s_mean",
    "delay_s_mean",
    "end_to_end_s_mean",
    "activated_params_per_token",
)


class RouteRunCells(TypedDict):
    """The cells of a route table's row that name the run."""

    run: str
    router: str
    #: a target share's run: the threshold its calibration found
    threshold: float | None


class RouteCostCells(TypedDict):
    """The cells of a route table's row that measure what routing cost; the per-answer facts
    are means over the answers."""

    #: large-model tokens / all tokens, pooled over answers
    routed_share: float | None
    route_events_mean: float | None
    tokens_mean: float | None
    uploaded_context_mean: float | None
    calls_per_100_tokens_mean: float | None
    small_s_mean: float | None
    large_s_mean: float | None
    delay_s_mean: float | None
    end_to_end_s_mean: float | None
    activated_params_per_token: float | None


class RouteRow(RouteRunCells, AccuracyCells, RouteCostCells):
    """One row of the sweep's table: a run's accuracy and routing facts (the order of
    :data:`TABLE_COLUMNS`)."""


class RouteRunJson(TypedDict):
    """A run as route_sweep.json lists it (an anchor's router and threshold are None)."""

    router: str | None
    threshold: float | None
    target_share: float | None
    anchor: str | None
    folder: str


@dataclass(frozen=True)
class RouteRun:
    """One run of the sweep: an anchor (``anchor`` set) or a router at a threshold."""

    router: str | None = None
    threshold: float | None = None
    anchor: str | None = None
    #: instead of a threshold: the share of tokens to route (its threshold found before the run)
    target_share: float | None = None

    @property
    def folder(self) -> str:
        if self.anchor is not None:
            return f"anchor-{self.anchor}"
        if self.target_share is not None:
            return f"{self.router}-s{self.target_share:g}"
        return f"{self.router}-t{self.threshold:g}"

    def to_json(self) -> RouteRunJson:
        return {
            "router": self.router,
            "threshold": self.threshold,
            "target_share": self.target_share,
            "anchor": self.anchor,
            "folder": f"runs/{self.folder}",
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RouteRun:
        """A run as route_sweep.json lists it (ValueError when it cannot be)."""
        router, threshold, anchor = data.get("router"), data.get("threshold"), data.get("anchor")
        share = data.get("target_share")
        if share is not None and isinstance(router, str) and isinstance(share, int | float):
            return cls(router, target_share=float(share))
        if anchor is not None:
            if anchor not in ANCHORS:
                raise ValueError(f"anchor must be small or large, not {anchor!r}")
            return cls(anchor=anchor)
        if not isinstance(router, str) or isinstance(threshold, bool):
            raise ValueError(f"a run needs a router name and a threshold, not {dict(data)!r}")
        if not isinstance(threshold, int | float):
            raise ValueError(f"threshold must be a number, not {threshold!r}")
        return cls(router, float(threshold))

    def options(self) -> dict[str, str | float | None]:
        """The pipeline options of this run (beside those every run of the sweep shares)."""
        if self.anchor is not None:
            return {"only": self.anchor}
        if self.target_share is not None:
            return {"router": self.router, "target_share": self.target_share}
        return {"router": self.router, "threshold": self.threshold}


def sweep_runs(
    routers: Sequence[str], thresholds: Sequence[float], shares: Sequence[float] = ()
) -> list[RouteRun]:
    """The anchors first, then every router at every threshold and every target share."""
    runs = [RouteRun(anchor=anchor) for anchor in ANCHORS]
    runs += [RouteRun(router, threshold) for router in routers for threshold in thresholds]
    runs += [RouteRun(router, target_share=share) for router in routers for share in shares]
    return list(dict.fromkeys(runs))


def _mean(values: Sequence[float | int | None]) -> float | None:
    mean = describe(values)["mean"]
    return None if mean is None else float(mean)


def run_row(records: Sequence[Record], run: RouteRun) -> RouteRow:
    """One table row: a run's accuracy and routing facts."""
    facts = route_facts(records)
    return {
        "run": run.folder,
        "router": run.router or f"{run.anchor} only",
        # a target share's run: the threshold its calibration found (in every record)
        "threshold": run.threshold if run.target_share is None else _threshold(facts),
        **accuracy_cells(records),
        "routed_share": pooled_share(facts),
        "route_events_mean": _mean([f.route_events for f in facts]),
        "tokens_mean": _mean([f.tokens for f in facts]),
        "uploaded_context_mean": _mean([f.uploaded_context_tokens for f in facts]),
        "calls_per_100_tokens_mean": _mean([f.calls_per_100_tokens for f in facts]),
        "small_s_mean": _mean([f.small_s for f in facts]),
        "large_s_mean": _mean([f.large_s for f in facts]),
        "delay_s_mean": _mean([f.delay_s for f in facts]),
        "end_to_end_s_mean": _mean([f.end_to_end_s for f in facts]),
        "activated_params_per_token": _mean([f.activated_params_per_token for f in facts]),
    }


def _threshold(facts: Sequence[RouteFacts]) -> float | None:
    found = {f.threshold for f in facts}
    return found.pop() if len(found) == 1 else None


def collect(root: Path, runs: Sequence[RouteRun]) -> list[RouteRow]:
    """The table rows of the runs that have records."""
    rows = []
    for run in runs:
        records = RunStore(root / "runs" / run.folder).load_records()
        if records:
            rows.append(run_row(records, run))
    return rows


def write_tables(root: Path, rows: Sequence[RouteRow]) -> str:
    """Write route_table.md/.csv; return the markdown."""
    heading = [
        "# Routing sweep",
        "",
        "Accuracy against the routed share (large-model tokens / all generated tokens, pooled "
        "over answers); 95% Wilson intervals. Anchors: the small model alone and the large "
        "model alone on the same prompts. Uploaded context = the prefix tokens sent to the "
        "large model per answer.",
    ]
    return write_table(root, "route_table", heading, TABLE_COLUMNS, rows)


class RouteSweepFile(SweepFile[RouteRun]):
    """A route sweep's ``route_sweep.json``."""

    KIND = "hawkeye-bench-route-sweep"
    NAME = SWEEP_FILE
    RUN = RouteRun


#: Write a sweep folder's route_sweep.json (its runs and what was asked); read it back (None when
#: there is none), or only its runs (none when there is none).
write_sweep_file = RouteSweepFile.write_runs
read_sweep_runs = RouteSweepFile.read_runs
