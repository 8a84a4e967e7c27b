"""PNG figures for the report (matplotlib, Agg backend): one function per figure.

Each function draws from the same rows or raw values the tables use, writes ``<out>/<file>``
and returns a :class:`Figure` (file, caption, sources), or None when there is nothing to draw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from hawkeye_bench.reporting.configs import run_labels, with_config
from hawkeye_bench.reporting.inputs import EvalRun
from hawkeye_bench.reporting.load_inputs import LoadStage
from hawkeye_bench.reporting.methods import method_name, trace_timing, views_for
from hawkeye_bench.reporting.model import Figure
from hawkeye_bench.reporting.rows import AccuracyRow, JudgeScoreRow, PassAtKRow, SourcedRow

DPI = 110
PANEL_SIZE = (5.6, 4.2)  # inches per subplot
POSITION_BINS = 20


def _grid(n: int, max_cols: int = 3) -> tuple[plt.Figure, np.ndarray]:
    cols = min(n, max_cols)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(PANEL_SIZE[0] * cols, PANEL_SIZE[1] * rows), squeeze=False
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _save(fig: plt.Figure, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=DPI)
    plt.close(fig)
    return name


def _sources(rows: Sequence[SourcedRow]) -> list[str]:
    return list(dict.fromkeys(path for row in rows for path in row["sources"]))


# --------------------------------------------------------------------------- accuracy vs tokens


def accuracy_vs_tokens(rows: Sequence[AccuracyRow], out: Path) -> Figure | None:
    """Accuracy (with its 95% interval) against mean tokens, one panel per dataset."""
    usable = [r for r in rows if r.get("accuracy") is not None and r.get("full_tokens")]
    if not usable:
        return None
    datasets = sorted({r["dataset"] for r in usable})
    fig, axes = _grid(len(datasets))
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        points = []
        for row in (r for r in usable if r["dataset"] == dataset):
            accuracy, full_tokens = row["accuracy"], row["full_tokens"]
            assert accuracy is not None and full_tokens is not None  # as usable rows have
            acc = accuracy * 100
            low, high = row.get("accuracy_ci") or [None, None]
            yerr = None
            if low is not None and high is not None:
                # clamp: float rounding can put a bound a hair past the estimate
                yerr = [[max(0.0, acc - low * 100)], [max(0.0, high * 100 - acc)]]
            name = with_config(row["method"], row.get("configuration", ""))
            label = f"{name} Full ({row['run']})"
            full = ax.errorbar(full_tokens, acc, yerr=yerr, fmt="o", capsize=4, label=label)
            color = full[0].get_color()
            points.append((full_tokens, acc))
            if row.get("cot_only_tokens"):
                ax.errorbar(
                    row["cot_only_tokens"],
                    acc,
                    yerr=yerr,
                    fmt="s",
                    mfc="none",
                    color=color,
                    capsize=4,
                    alpha=0.8,
                    label=f"{name} CoT only ({row['run']})",
                )
                ax.plot([row["cot_only_tokens"], full_tokens], [acc, acc], ":", color=color)
        frontier = _pareto(points)
        if len(frontier) > 1:
            xs, ys = zip(*frontier, strict=True)
            ax.step(xs, ys, where="post", color="black", alpha=0.3, label="Pareto frontier")
        ax.set_title(dataset)
        ax.set_xlabel("mean completion tokens per answer")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(-2, 102)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best", framealpha=0.6)
    name = _save(fig, out, "accuracy_vs_tokens.png")
    return Figure(
        name,
        "Accuracy (95% interval) against mean tokens per answer; filled = Full tokens, hollow = "
        "Hawkeye's CoT-only tokens. Up and to the left is better.",
        _sources(usable),
    )


def _pareto(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten by another with fewer (or equal) tokens and higher accuracy."""
    frontier: list[tuple[float, float]] = []
    for x, y in sorted(points, key=lambda p: (p[0], -p[1])):
        if not frontier or y > frontier[-1][1]:
            frontier.append((x, y))
    return frontier


# --------------------------------------------------------------------------- token distributions


def token_distributions(
    runs: Sequence[EvalRun], out: Path, rel: Callable[[Path], str]
) -> Figure | None:
    """Completion tokens per stage, one panel per dataset, one histogram per (run, stage)."""
    series: dict[str, dict[str, list[int]]] = defaultdict(dict)
    sources: dict[str, list[str]] = defaultdict(list)
    labels = run_labels(runs)
    for run in runs:
        by_role: dict[str, list[int]] = defaultdict(list)
        for record in run.records:
            for stage in record.trace.stages:
                if stage.ok and stage.completion_tokens is not None:
                    by_role[stage.role].append(stage.completion_tokens)
        for role, counts in by_role.items():
            name = with_config(f"{method_name(run.pipeline)} {role}", labels[run.path])
            series[run.dataset][f"{name} ({run.label})"] = counts
        sources[run.dataset].append(rel(run.records_file))
    if not series:
        return None
    datasets = sorted(series)
    fig, axes = _grid(len(datasets))
    for ax, dataset in zip(axes.flat, datasets, strict=False):
        values = [v for counts in series[dataset].values() for v in counts]
        bins = np.histogram_bin_edges(values, bins=min(30, max(5, len(values) // 2)))
        for label, counts in series[dataset].items():
            ax.hist(counts, bins=bins, histtype="step", linewidth=1.8, label=label)
        ax.set_title(dataset)
        ax.set_xlabel("completion tokens per call")
        ax.set_ylabel("calls")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    name = _save(fig, out, "token_distributions.png")
    return Figure(
        name,
        "Completion tokens per call, by stage (baseline: single; Hawkeye: reasoner and responder).",
        [p for d in datasets for p in sources[d]],
    )


# --------------------------------------------------------------------------- latency CDFs

#: concurrency (eval runs) or LoadLevel (load stages) -> series label -> (time per request s,
#: TTFT s)
LatencySamples = dict[Any, dict[str, tuple[list[float], list[float]]]]


def latency_cdfs(
    samples: LatencySamples, out: Path, name: str, caption: str, sources: list[str]
) -> Figure | None:
    """CDFs of time per request and TTFT, one row of two panels per concurrency."""
    groups = [
        c
        for c in sorted(samples, key=lambda c: (c is None, c or 0))
        if any(times or ttfts for times, ttfts in samples[c].values())  # imported: no times
    ]
    if not groups:
        return None
    fig, axes = plt.subplots(
        len(groups), 2, figsize=(PANEL_SIZE[0] * 2, PANEL_SIZE[1] * len(groups)), squeeze=False
    )
    for row, concurrency in enumerate(groups):
        for col, (index, what) in enumerate(((0, "time per request"), (1, "TTFT"))):
            ax = axes[row, col]
            drawn = 0
            for label, values in samples[concurrency].items():
                data = np.asarray(values[index], dtype=float)
                if data.size:
                    ax.ecdf(data, label=f"{label} (n={data.size})")
                    drawn += 1
            group = f"concurrency {concurrency}" if isinstance(concurrency, int) else concurrency
            ax.set_title(f"{what}, {group}")
            ax.set_xlabel(f"{what} (s)")
            ax.set_ylabel("share of requests ≤ x")
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            if drawn:
                ax.legend(fontsize=7)
            else:  # e.g. imported runs that recorded no times
                ax.text(0.5, 0.5, "no samples", ha="center", va="center", transform=ax.transAxes)
    return Figure(_save(fig, out, name), caption, sources)


def load_stage_name(stage: LoadStage, stages: Sequence[LoadStage]) -> str:
    """A stage's target and dataset, and its load run where several are shown."""
    name = f"{stage.target} · {stage.dataset}"
    if len({s.load_label for s in stages}) > 1:
        name += f" ({stage.load_label})"
    return name


def load_latency_samples(stages: Sequence[LoadStage]) -> LatencySamples:
    samples: LatencySamples = defaultdict(dict)
    for stage in stages:
        e2e_ms, ttft_ms = stage.e2e_ttft_ms  # of the successful measured requests
        times, ttfts = list(e2e_ms / 1000), list(ttft_ms / 1000)
        if times or ttfts:
            samples[stage.level][load_stage_name(stage, stages)] = (times, ttfts)
    return dict(samples)


def eval_latency_samples(runs: Sequence[EvalRun]) -> LatencySamples:
    """One series per run and view, labelled by what sets the run's configuration apart (and
    by the run's folder where two runs share one configuration)."""
    samples: LatencySamples = defaultdict(dict)
    labels = run_labels(runs)
    for run in runs:
        for view in views_for(run.pipeline):
            timings = [t for r in run.records if (t := trace_timing(r.trace, view)) is not None]
            times = [t.time_s for t in timings if t.time_s is not None]
            ttfts = [t.ttft_s for t in timings if t.ttft_s is not None]
            name = with_config(f"{view} · {run.dataset}", labels[run.path])
            if name in samples[run.concurrency]:
                name += f" ({run.label})"
            samples[run.concurrency][name] = (times, ttfts)
    return dict(samples)


# --------------------------------------------------------------------------- TBT by position


def tbt_by_position(
    stages: Sequence[LoadStage], out: Path, rel: Callable[[Path], str]
) -> Figure | None:
    """Mean time per token against output position, from the raw per-chunk arrival times."""
    curves = {}
    sources: list[str] = []
    for stage in stages:
        positions, sums, counts = stage.tbt_positions  # summed while the raw files were read
        if positions.size:
            curves[f"{load_stage_name(stage, stages)} · {stage.level}"] = (positions, sums, counts)
            sources += [rel(p) for p in stage.sources]
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(PANEL_SIZE[0] * 1.6, PANEL_SIZE[1] * 1.2))
    for label, (pos, sums, counts) in curves.items():
        edges = np.linspace(pos.min(), pos.max() + 1, POSITION_BINS + 1)
        which = np.digitize(pos, edges) - 1
        centres, means = [], []
        for b in range(POSITION_BINS):
            in_bin = which == b
            if counts[in_bin].sum():
                centres.append((edges[b] + edges[b + 1]) / 2)
                means.append(sums[in_bin].sum() / counts[in_bin].sum())
        ax.plot(centres, means, marker=".", label=label)
    ax.set_xlabel("output position (tokens)")
    ax.set_ylabel("mean time per token (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title("Time between tokens over the output")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return Figure(
        _save(fig, out, "tbt_by_position.png"),
        f"Mean per-token gap (chunk gap / tokens in the chunk) in {POSITION_BINS} position bins, "
        "from the raw per-chunk arrival times of the load run.",
        list(dict.fromkeys(sources)),
    )


# --------------------------------------------------------------------------- judges


def _key(row: JudgeScoreRow) -> tuple[str, str]:
    return (row["judge_output"], row["run"])


def judged_series(rows: Sequence[JudgeScoreRow]) -> dict[tuple[str, str], str]:
    """(judgement folder, run) -> its series name: the run with its configuration label, and
    the folder where several were given."""
    outputs = {r["judge_output"] for r in rows}
    names = {}
    for row in sorted(rows, key=_key):
        name = with_config(row["run"], row.get("configuration", ""))
        names[_key(row)] = f"{name} ({row['judge_output']})" if len(outputs) > 1 else name
    return names


def judge_scores(rows: Sequence[JudgeScoreRow], out: Path) -> Figure | None:
    """Mean score per criterion with its 95% interval, bars per run, one panel per judge."""
    if not rows:
        return None
    judges = sorted({r["judge"] for r in rows}, key=lambda j: (j == "panel", j))
    fig, axes = _grid(len(judges))
    criteria = sorted({r["criterion"] for r in rows})
    runs = judged_series(rows)
    width = 0.8 / max(len(runs), 1)
    for ax, judge in zip(axes.flat, judges, strict=False):
        for i, (series, run) in enumerate(runs.items()):
            by_c = {r["criterion"]: r for r in rows if r["judge"] == judge and _key(r) == series}
            xs = [c + (i - (len(runs) - 1) / 2) * width for c in range(len(criteria))]
            means = [by_c[c]["mean"] if c in by_c else np.nan for c in criteria]
            errs: list[list[float]] = [[], []]
            for c, mean in zip(criteria, means, strict=True):
                low, high = by_c[c]["ci95"] if c in by_c else (None, None)
                errs[0].append(mean - low if low is not None else 0)
                errs[1].append(high - mean if high is not None else 0)
            ax.bar(xs, means, width=width, yerr=errs, capsize=3, label=run)
        ax.set_xticks(range(len(criteria)))
        ax.set_xticklabels(criteria, rotation=20)
        ax.set_ylabel("mean score (rubric scale)")
        tops = [scale[1] for r in rows if (scale := r["scale"])]
        if tops:
            ax.set_ylim(0, max(tops) * 1.05)
        ax.set_title(f"judge: {judge}")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    return Figure(
        _save(fig, out, "judge_scores.png"),
        "Mean judge score per criterion with 95% bootstrap intervals; `panel` = mean over judges.",
        _sources(rows),
    )


# --------------------------------------------------------------------------- avg@k / pass@k


def pass_at_k(rows: Sequence[PassAtKRow], out: Path) -> Figure | None:
    usable = [r for r in rows if r["pass_at"]]
    if not usable:
        return None
    fig, ax = plt.subplots(figsize=PANEL_SIZE)
    for row in usable:
        ks = sorted(row["pass_at"])
        line = ax.plot(
            ks,
            [np.nan if (v := row["pass_at"][k]) is None else v * 100 for k in ks],
            marker="o",
            label=f"{with_config(row['method'], row.get('configuration', ''))} pass@j "
            f"({row['dataset']}, {row['run']})",
        )
        avg = row["avg_at_k"]
        if avg is not None:
            ax.axhline(
                avg * 100,
                linestyle="--",
                color=line[0].get_color(),
                label=f"avg@{row['k']} ({row['run']})",
            )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("j (samples drawn per problem)")
    ax.set_ylabel("pass@j (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return Figure(
        _save(fig, out, "pass_at_k.png"),
        "pass@j (unbiased estimator) for j up to k, with avg@k dashed.",
        _sources(usable),
    )


def judge_radars(rows: Sequence[JudgeScoreRow], out: Path) -> Figure | None:
    """One radar per judge over its criteria, every run (baseline and pipelines) overlaid."""
    judges = sorted({r["judge"] for r in rows if r["judge"] != "panel"})
    if not judges:
        return None
    fig, axes = plt.subplots(
        1,
        len(judges),
        figsize=(PANEL_SIZE[0] * len(judges), PANEL_SIZE[1] * 1.2),
        subplot_kw={"projection": "polar"},
        squeeze=False,
    )
    drawn = False
    for ax, judge in zip(axes.flat, judges, strict=True):
        mine = [r for r in rows if r["judge"] == judge]
        criteria = sorted({r["criterion"] for r in mine})
        if len(criteria) < 3:  # a radar needs three axes; the bar chart shows fewer
            ax.set_axis_off()
            ax.set_title(f"judge: {judge} (fewer than 3 criteria)")
            continue
        angles = [2 * np.pi * i / len(criteria) for i in range(len(criteria))]
        for series, run in judged_series(mine).items():
            by_c = {r["criterion"]: r["mean"] for r in mine if _key(r) == series}
            values = [by_c.get(c, np.nan) for c in criteria]
            ax.plot([*angles, angles[0]], [*values, values[0]], marker="o", label=run)
            ax.fill([*angles, angles[0]], [*values, values[0]], alpha=0.1)
            drawn = True
        ax.set_xticks(angles)
        ax.set_xticklabels(criteria)
        tops = [scale[1] for r in mine if (scale := r["scale"])]
        if tops:
            ax.set_ylim(0, max(tops))
        ax.set_title(f"judge: {judge}")
        ax.legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.25, -0.1))
    if not drawn:
        plt.close(fig)
        return None
    return Figure(
        _save(fig, out, "judge_radar.png"),
        "Mean judge score per criterion, one radar per judge (no average over judges), runs "
        "overlaid.",
        _sources(rows),
    )
