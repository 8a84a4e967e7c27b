"""The compression study's figures (same conventions as :mod:`reporting.figures`): accuracy
against compression in the style of the paper's figure, and achieved against requested share."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

import matplotlib.pyplot as plt

from hawkeye_bench.eval.compress_sweep import CompressCounts, CompressRunCells
from hawkeye_bench.eval.sweep_folder import ReportedAccuracy
from hawkeye_bench.reporting.configs import with_config
from hawkeye_bench.reporting.figures import PANEL_SIZE, _save
from hawkeye_bench.reporting.model import Figure
from hawkeye_bench.reporting.rows import SourcedRow


class AccuracyRow(CompressRunCells, CompressCounts, ReportedAccuracy):
    """A row of the accuracy table (one run of the study): the sweep table's row of the run
    (:class:`~hawkeye_bench.eval.compress_sweep.CompressRow`) with its task and
    configuration, its interval as one pair, and the files it was read from."""

    task: str
    #: what else sets the run apart (the writer, the compressor, the preset)
    configuration: str
    sources: list[str]


class AchievedRow(TypedDict):
    """A row of the achieved-share table: per task, configuration, method and requested
    share, the distribution of the achieved kept share over the items (``achieved``: the
    values, drawn but not shown in the table)."""

    task: str
    configuration: str
    method: str
    kept_requested: float
    items: int
    mean: float | int | None
    p50: float | int | None
    min: float | int | None
    max: float | int | None
    over_request: int
    tokenizer: str
    achieved: list[float]
    sources: list[str]


ANCHOR_STYLES = {"full": ("--", "full CoT"), "none": (":", "no CoT")}
METHOD_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _sources(rows: Sequence[SourcedRow]) -> list[str]:
    return list(dict.fromkeys(path for row in rows for path in row["sources"]))


def _responder(row: AccuracyRow) -> str:
    """The responder's name with what else sets its run apart (the writer, ...): one line
    per configuration, never two configurations on one line."""
    return with_config(row["responder"], row.get("configuration", ""))


def _x_share(row: AccuracyRow, requested: bool = False) -> float:
    """The kept share a row is drawn at: achieved when measured (unless ``requested``), else
    requested."""
    achieved = None if requested else row.get("kept_achieved")
    return float(achieved if achieved is not None else row["kept_requested"])


def _accuracy_percent(row: AccuracyRow) -> float:
    """A drawn row's accuracy in % (only rows with an accuracy are drawn)."""
    return 100 * (row["accuracy"] or 0.0)


def accuracy_vs_compression(rows: Sequence[AccuracyRow], out: Path) -> Figure | None:
    """Per task, two panels with the same lines: x = compression rate (removed share, the
    paper's axis) and x = kept share. One line per responder and method (colour = responder,
    marker = method), with 95% intervals; the responder's full-CoT and no-CoT accuracies are
    horizontal lines."""
    usable = [r for r in rows if r.get("accuracy") is not None]
    curves = [r for r in usable if r["method"] not in ANCHOR_STYLES]
    if not curves:
        return None
    tasks = sorted({r["task"] for r in usable})
    responders = sorted({_responder(r) for r in usable})
    methods = sorted({r["method"] for r in curves})
    colours = {name: f"C{i % 10}" for i, name in enumerate(responders)}
    markers = {name: METHOD_MARKERS[i % len(METHOD_MARKERS)] for i, name in enumerate(methods)}
    fig, axes = plt.subplots(
        len(tasks), 3, figsize=(PANEL_SIZE[0] * 3, PANEL_SIZE[1] * len(tasks)), squeeze=False
    )
    for (left, right, grid), task in zip(axes, tasks, strict=True):
        lines: dict[tuple[str, str], list[AccuracyRow]] = defaultdict(list)
        for row in (r for r in usable if r["task"] == task):
            lines[(_responder(row), row["method"])].append(row)
        for ax, removed, requested in (
            (left, True, False),
            (right, False, False),
            (grid, True, True),
        ):
            for (responder, method), points in sorted(lines.items()):
                colour = colours[responder]
                if method in ANCHOR_STYLES:
                    style, what = ANCHOR_STYLES[method]
                    ax.axhline(
                        _accuracy_percent(points[0]),
                        linestyle=style,
                        color=colour,
                        alpha=0.7,
                        label=f"{responder} · {what}",
                    )
                    continue
                points = sorted(points, key=lambda p: _x_share(p, requested))
                shares = [_x_share(p, requested) for p in points]
                xs = [100 * (1 - s) if removed else 100 * s for s in shares]
                ys = [_accuracy_percent(p) for p in points]
                lows = [100 * (p["accuracy_ci"][0] or 0.0) for p in points]
                highs = [100 * (p["accuracy_ci"][1] or 1.0) for p in points]
                # clamp: float rounding can put a bound a hair past the estimate
                errors = [
                    [max(0.0, y - low) for y, low in zip(ys, lows, strict=True)],
                    [max(0.0, high - y) for y, high in zip(ys, highs, strict=True)],
                ]
                ax.errorbar(
                    xs,
                    ys,
                    yerr=errors,
                    marker=markers[method],
                    color=colour,
                    capsize=3,
                    label=f"{responder} · {method}",
                )
            ax.set_xlabel(
                "requested compression rate (%): the paper's grid"
                if requested
                else "compression rate: removed share of CoT tokens (%)"
                if removed
                else "kept share of CoT tokens (%)"
            )
            ax.set_ylabel("accuracy (%)")
            ax.set_xlim(-3, 103)
            ax.set_ylim(-2, 102)
            ax.set_title(task)
            ax.grid(alpha=0.3)
        right.legend(fontsize=7, loc="best", framealpha=0.6)
    name = _save(fig, out, "compress_accuracy.png")
    return Figure(
        name,
        "Accuracy (95% interval) of each responder answering from the writer's CoT compressed "
        "by each method, against the achieved share (left: compression rate, the removed share; "
        "middle: kept share) and against the requested compression rate (right: the paper's "
        "grid, where a compressor that misses its budget stays on its point); dashed: the full "
        "CoT, dotted: no CoT.",
        _sources(usable),
    )


def achieved_vs_requested(rows: Sequence[AchievedRow], out: Path) -> Figure | None:
    """One panel per task and method: the achieved kept share of each item (box per requested
    share) against the requested one; on the diagonal, a method hits its target exactly."""
    usable = [r for r in rows if r["achieved"]]
    if not usable:
        return None
    panels: dict[tuple[str, str], list[AchievedRow]] = defaultdict(list)
    for row in usable:
        panels[(row["task"], with_config(row["method"], row.get("configuration", "")))].append(row)
    cols = min(len(panels), 3)
    count = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(
        count, cols, figsize=(PANEL_SIZE[0] * cols, PANEL_SIZE[1] * count), squeeze=False
    )
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, ((task, method), group) in zip(axes.flat, sorted(panels.items()), strict=False):
        group = sorted(group, key=lambda r: r["kept_requested"])
        positions = [100 * r["kept_requested"] for r in group]
        ax.boxplot(
            [[100 * v for v in r["achieved"]] for r in group],
            positions=positions,
            widths=4,
            manage_ticks=False,
        )
        top = max(100.0, *(100 * max(r["achieved"]) for r in group))
        ax.plot([0, 100], [0, 100], "--", color="grey", alpha=0.6, label="achieved = requested")
        ax.set_xlim(-3, 103)
        ax.set_ylim(-3, top + 3)
        ax.set_xlabel("requested kept share (%)")
        ax.set_ylabel("achieved kept share (%)")
        ax.set_title(f"{task} · {method}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    name = _save(fig, out, "compress_achieved.png")
    return Figure(
        name,
        "Achieved against requested kept share per item (box: quartiles, whiskers 1.5 IQR, "
        "points beyond), one panel per compression method; dashed: exact target.",
        _sources(usable),
    )
