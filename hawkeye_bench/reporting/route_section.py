"""The report's token-routing section: accuracy against routed share (large-model tokens / all
generated tokens), one line per router, with the small-only and large-only anchors, and the
cost side of each point (route events, uploaded context, calls, time split).

Inputs: every ``eval --pipeline route`` run given, including the runs of a route-sweep folder
(``hawkeye-bench report <sweep folder>`` reads its ``runs/``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import matplotlib.pyplot as plt
import numpy as np

from hawkeye_bench.eval.route_sweep import RouteCostCells, RouteRun, RouteRunCells, run_row
from hawkeye_bench.eval.sweep_folder import ReportedAccuracy
from hawkeye_bench.reporting.configs import run_labels, with_config, without_empty_configuration
from hawkeye_bench.reporting.figures import PANEL_SIZE, _save
from hawkeye_bench.reporting.inputs import EvalRun, Inputs
from hawkeye_bench.reporting.model import Column, Figure, Section, Table
from hawkeye_bench.reporting.rows import Interval
from hawkeye_bench.reporting.tables import Rel
from hawkeye_bench.routing.facts import RouteFacts

NO_ROUTE = (
    "No route run (`hawkeye-bench eval --pipeline route` or `hawkeye-bench route-sweep`) was "
    "given, so there is no token-routing curve."
)
FIGURE_FILE = "route_accuracy_vs_share.png"
ANCHOR_STYLES = {"small": ("--", "small only"), "large": (":", "large only")}

COLUMNS = [
    Column("task", "task"),
    Column("configuration", "configuration"),
    Column("router", "router"),
    Column("threshold", "threshold", "float3"),
    Column("target_share", "target share (%)", "percent"),
    Column("n", "n", "int"),
    Column("accuracy", "accuracy (%) [95% CI]", "percent", interval_key="accuracy_ci"),
    Column("errors", "errors", "int"),
    Column("gain_vs_small", "gain vs small only (%) [95% CI]", "percent", interval_key="gain_ci"),
    Column("routed_share", "routed share (%)", "percent"),
    Column("route_events_mean", "route events", "float1"),
    Column("tokens_mean", "tokens", "float1"),
    Column("uploaded_context_mean", "uploaded context (tokens)", "float1"),
    Column("calls_per_100_tokens_mean", "calls / 100 tokens", "float1"),
    Column("small_s_mean", "small s", "float2"),
    Column("large_s_mean", "large s", "float2"),
    Column("delay_s_mean", "injected delay s", "float2"),
    Column("end_to_end_s_mean", "end-to-end s", "float2"),
    Column("activated_params_per_token", "activated params / token", "float3"),
]


#: facets the table shows in their own columns, left out of the configuration label
SHOWN_FACETS = ("router", "threshold", "only", "target_share", "calibration_problems")


def route_run_of(run: EvalRun) -> RouteRun:
    """The router and threshold (or anchor) a route run ran with, from its records."""
    info = next((f for r in run.records if (f := RouteFacts.of(r.trace)) is not None), None)
    if info is None:
        return RouteRun(target_share=_target_share(run))
    if info.only:
        return RouteRun(anchor=info.only)
    return RouteRun(info.router, info.threshold, target_share=_target_share(run))


def _target_share(run: EvalRun) -> float | None:
    share = (run.identity.get("pipeline_options") or {}).get("target_share")
    return float(share) if isinstance(share, int | float) else None


class RouteRow(RouteRunCells, RouteCostCells, ReportedAccuracy):
    """A row of the route table (one route run): the sweep table's row of the run
    (:class:`~hawkeye_bench.eval.route_sweep.RouteRow`) with its task, configuration, anchor
    and target share, its interval as one pair, the files it was read from, and its gain over
    the small-only anchor (None without one)."""

    task: str
    #: what else sets the run apart (the models, the preset, ...)
    configuration: str
    anchor: str | None
    target_share: float | None
    sources: list[str]
    gain_vs_small: float | None
    gain_ci: Interval


def route_rows(runs: Sequence[EvalRun], rel: Rel) -> list[RouteRow]:
    """One row per route run, anchors first within a task, then by router and threshold."""
    labels = run_labels(runs, hide=SHOWN_FACETS)
    rows = [_route_row(run, labels[run.path], rel) for run in runs]
    _add_gains(rows, runs, rel)
    rows.sort(
        key=lambda r: (
            r["task"],
            r["configuration"],
            r["anchor"] is None,
            r["router"],
            r["threshold"] or 0.0,
        )
    )
    return rows


def _route_row(run: EvalRun, configuration: str, rel: Rel) -> RouteRow:
    route_run = route_run_of(run)
    cells = run_row(run.records, route_run)
    return {
        "task": run.dataset,
        "configuration": configuration,
        "anchor": route_run.anchor,
        "target_share": route_run.target_share,
        "run": cells["run"],
        "router": cells["router"],
        "threshold": cells["threshold"],
        "n": cells["n"],
        "correct": cells["correct"],
        "accuracy": cells["accuracy"],
        "errors": cells["errors"],
        "routed_share": cells["routed_share"],
        "route_events_mean": cells["route_events_mean"],
        "tokens_mean": cells["tokens_mean"],
        "uploaded_context_mean": cells["uploaded_context_mean"],
        "calls_per_100_tokens_mean": cells["calls_per_100_tokens_mean"],
        "small_s_mean": cells["small_s_mean"],
        "large_s_mean": cells["large_s_mean"],
        "delay_s_mean": cells["delay_s_mean"],
        "end_to_end_s_mean": cells["end_to_end_s_mean"],
        "activated_params_per_token": cells["activated_params_per_token"],
        "accuracy_ci": [cells["ci95_low"], cells["ci95_high"]],
        "sources": [rel(run.records_file)],
        # filled in once every row is known (see _add_gains)
        "gain_vs_small": None,
        "gain_ci": [None, None],
    }


def _scores(run: EvalRun) -> dict[str, float]:
    """Per problem, the share of its answers graded correct (failed answers count as wrong)."""
    by_problem: dict[str, list[float]] = defaultdict(list)
    for record in run.records:
        by_problem[record.problem.id].append(1.0 if record.correct else 0.0)
    return {problem: sum(v) / len(v) for problem, v in by_problem.items()}


def _add_gains(rows: list[RouteRow], runs: Sequence[EvalRun], rel: Rel) -> None:
    """The seed's headline per row: (acc - acc_small) / acc_small against the small-only anchor
    of the same task and configuration, over the problems both answered, with a paired
    bootstrap 95% interval over problems (None without such an anchor, or at acc_small = 0)."""
    by_run = {rel(run.records_file): run for run in runs}
    anchors = {
        (row["task"], row["configuration"]): by_run[row["sources"][0]]
        for row in rows
        if row["anchor"] == "small"
    }
    for row in rows:
        row["gain_vs_small"], row["gain_ci"] = None, [None, None]
        anchor = anchors.get((row["task"], row["configuration"]))
        if anchor is None or row["anchor"] == "small":
            continue
        small, routed = _scores(anchor), _scores(by_run[row["sources"][0]])
        shared = sorted(set(small) & set(routed))
        gain = relative_gain(
            np.array([routed[p] for p in shared]), np.array([small[p] for p in shared])
        )
        if gain is not None:
            row["gain_vs_small"], row["gain_ci"] = gain[0], [gain[1], gain[2]]
            row["sources"].append(rel(anchor.records_file))


def relative_gain(
    candidate: np.ndarray, anchor: np.ndarray, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float | None, float | None] | None:
    """mean(candidate) / mean(anchor) - 1 over paired problems, with a 95% percentile interval
    from resampling problems; a resample whose anchor mean is 0 has no ratio and is left out
    (None: no problems, or an anchor mean of 0)."""
    if not anchor.size or anchor.mean() == 0:
        return None
    estimate = float(candidate.mean() / anchor.mean() - 1)
    if anchor.size < 2:
        return estimate, None, None
    idx = np.random.default_rng(seed).integers(0, anchor.size, size=(n_resamples, anchor.size))
    base, cand = anchor[idx].mean(axis=1), candidate[idx].mean(axis=1)
    ratios = cand[base > 0] / base[base > 0] - 1
    low, high = np.percentile(ratios, [2.5, 97.5])
    return estimate, float(low), float(high)


def _errorbars(
    ax: Any,
    points: Sequence[RouteRow],
    key: Literal["accuracy", "gain_vs_small"],
    ci: Literal["accuracy_ci", "gain_ci"],
    **style: Any,
) -> None:
    """``key`` (a share, drawn in %) with its interval ``ci`` against the routed share."""
    drawn = [
        (100 * share, 100 * value, p[ci])
        for p in sorted(points, key=lambda p: p["routed_share"] or 0.0)
        if (share := p["routed_share"]) is not None and (value := p[key]) is not None
    ]
    if not drawn:
        return
    xs = [x for x, _, _ in drawn]
    ys = [y for _, y, _ in drawn]
    lows = [y if low is None else 100 * low for _, y, (low, _) in drawn]
    highs = [y if high is None else 100 * high for _, y, (_, high) in drawn]
    errors = [
        [max(0.0, y - low) for y, low in zip(ys, lows, strict=True)],
        [max(0.0, high - y) for y, high in zip(ys, highs, strict=True)],
    ]
    ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, **style)


def accuracy_vs_share(rows: Sequence[RouteRow], out: Path) -> Figure | None:
    """Per task, accuracy (95% intervals) against routed share, one line per router and
    configuration, the anchors as horizontal lines; below it the seed's headline, the relative
    gain over the small-only anchor (paired 95% intervals), against the same share."""
    usable = [r for r in rows if r.get("accuracy") is not None]
    curves = [r for r in usable if r["anchor"] is None and r.get("routed_share") is not None]
    if not curves:
        return None
    tasks = sorted({r["task"] for r in usable})
    fig, axes = plt.subplots(
        2, len(tasks), figsize=(PANEL_SIZE[0] * len(tasks), PANEL_SIZE[1] * 2), squeeze=False
    )
    for column, task in enumerate(tasks):
        top, bottom = axes[0][column], axes[1][column]
        lines: dict[str, list[RouteRow]] = defaultdict(list)
        for row in (r for r in usable if r["task"] == task):
            if row["anchor"] in ANCHOR_STYLES:
                style, label = ANCHOR_STYLES[row["anchor"]]
                label = with_config(label, row["configuration"])
                accuracy = 100 * (row["accuracy"] or 0.0)  # usable rows have one
                top.axhline(accuracy, linestyle=style, color="grey", label=label)
            elif row.get("routed_share") is not None:
                lines[with_config(row["router"], row["configuration"])].append(row)
        bottom.axhline(0.0, linestyle="--", color="grey", label="small only")
        for index, (router, points) in enumerate(sorted(lines.items())):
            _errorbars(top, points, "accuracy", "accuracy_ci", color=f"C{index}", label=router)
            _errorbars(bottom, points, "gain_vs_small", "gain_ci", color=f"C{index}", label=router)
        top.set_title(task)
        top.set_ylabel("accuracy (%)")
        bottom.set_ylabel("gain over the small model alone (%)")
        for ax in (top, bottom):
            ax.set_xlabel("routed share: large-model tokens / all tokens (%)")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
    name = _save(fig, out, FIGURE_FILE)
    return Figure(
        name,
        "Top: accuracy (95% Wilson intervals) against the routed share, one line per router; "
        "dashed: the small model alone, dotted: the large model alone, on the same prompts. "
        "Bottom: the relative gain over the small model alone, (acc - acc_small) / acc_small, "
        "with paired bootstrap 95% intervals over problems.",
        list(dict.fromkeys(path for row in usable for path in row["sources"])),
    )


def route_section(inputs: Inputs, out: Path, rel: Rel) -> Section:
    section = Section("route", "Token routing (collaborative decoding)")
    runs = [run for run in inputs.runs if run.pipeline == "route"]
    if not runs:
        section.missing = NO_ROUTE
        return section
    section.intro.append(
        "A small model decodes and a router sends the tokens it is unsure of to a large model. "
        "*routed share* = large-model tokens / all generated tokens (pooled over answers); "
        "*uploaded context* = prefix tokens sent to the large model per answer; *calls / 100 "
        "tokens* counts small and large calls; times are per answer. 95% Wilson intervals. "
        "*gain vs small only* = (accuracy - small-only accuracy) / small-only accuracy over the "
        "problems both answered, with a paired bootstrap 95% interval over problems: the "
        "seed's headline (60% on CommonsenseQA with under 7% of tokens from the large model) "
        "is this column beside *routed share*. "
        "Entropy routers see only the returned top-k (a lower bound of the entropy)."
    )
    rows = route_rows(runs, rel)
    columns = without_empty_configuration(COLUMNS, rows)
    section.tables.append(Table("route_accuracy", "Accuracy against routed share", columns, rows))
    figure = accuracy_vs_share(rows, out)
    if figure is not None:
        section.figures.append(figure)
    return section
