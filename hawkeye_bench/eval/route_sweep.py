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
from typing import Any

from hawkeye_bench.core.record import Record
from hawkeye_bench.core.stats import describe
from hawkeye_bench.eval import sweep_folder
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.eval.sweep_folder import ACCURACY_COLUMNS, accuracy_cells, write_table
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

    def options(self) -> dict[str, Any]:
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


def _mean(facts: Sequence[dict[str, Any]], key: str) -> float | None:
    mean = describe([f.get(key) for f in facts])["mean"]
    return None if mean is None else float(mean)


def run_row(records: Sequence[Record], run: RouteRun) -> dict[str, Any]:
    """One table row: a run's accuracy and routing facts."""
    facts = route_facts(records)
    return {
        "run": run.folder,
        "router": run.router or f"{run.anchor} only",
        # a target share's run: the threshold its calibration found (in every record)
        "threshold": run.threshold if run.target_share is None else _threshold(facts),
        **accuracy_cells(records),
        "routed_share": pooled_share(facts),
        "route_events_mean": _mean(facts, "route_events"),
        "tokens_mean": _mean(facts, "tokens"),
        "uploaded_context_mean": _mean(facts, "uploaded_context_tokens"),
        "calls_per_100_tokens_mean": _mean(facts, "calls_per_100_tokens"),
        "small_s_mean": _mean(facts, "small_s"),
        "large_s_mean": _mean(facts, "large_s"),
        "delay_s_mean": _mean(facts, "delay_s"),
        "end_to_end_s_mean": _mean(facts, "end_to_end_s"),
        "activated_params_per_token": _mean(facts, "activated_params_per_token"),
    }


def _threshold(facts: Sequence[dict[str, Any]]) -> float | None:
    found = {f.get("threshold") for f in facts}
    return found.pop() if len(found) == 1 else None


def collect(root: Path, runs: Sequence[RouteRun]) -> list[dict[str, Any]]:
    """The table rows of the runs that have records."""
    rows = []
    for run in runs:
        records = RunStore(root / "runs" / run.folder).load_records()
        if records:
            rows.append(run_row(records, run))
    return rows


def write_tables(root: Path, rows: Sequence[dict[str, Any]]) -> str:
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


def write_sweep_file(root: Path, runs: Sequence[RouteRun], settings: dict[str, Any]) -> None:
    listed = [
        {
            "router": r.router,
            "threshold": r.threshold,
            "target_share": r.target_share,
            "anchor": r.anchor,
            "folder": f"runs/{r.folder}",
        }
        for r in runs
    ]
    sweep_folder.write_sweep_file(root / SWEEP_FILE, "hawkeye-bench-route-sweep", listed, settings)


def read_sweep_runs(root: Path) -> list[RouteRun]:
    """The runs a sweep folder's route_sweep.json lists (empty when there is none)."""
    return sweep_folder.read_sweep_runs(root / SWEEP_FILE, route_run_from)


def route_run_from(entry: Mapping[str, Any]) -> RouteRun:
    """A run as route_sweep.json lists it (ValueError when it cannot be)."""
    router, threshold, anchor = entry.get("router"), entry.get("threshold"), entry.get("anchor")
    share = entry.get("target_share")
    if share is not None and isinstance(router, str) and isinstance(share, int | float):
        return RouteRun(router, target_share=float(share))
    if anchor is not None:
        if anchor not in ("small", "large"):
            raise ValueError(f"anchor must be small or large, not {anchor!r}")
        return RouteRun(anchor=anchor)
    if not isinstance(router, str) or isinstance(threshold, bool):
        raise ValueError(f"a run needs a router name and a threshold, not {dict(entry)!r}")
    if not isinstance(threshold, int | float):
        raise ValueError(f"threshold must be a number, not {threshold!r}")
    return RouteRun(router, float(threshold))
