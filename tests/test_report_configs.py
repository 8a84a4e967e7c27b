"""No row or series of the report merges two configurations: for every section that reads eval
runs (and the load section), two inputs that differ only in one role's model stay two rows and
two series, each labelled by that difference."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import matplotlib.axes
import matplotlib.figure
import pytest
import report_fixtures as fx

from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.eval.manifest import Manifest
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.reporting import read_inputs, write_report
from hawkeye_bench.reporting.configs import differing_labels, run_config, run_labels


def _with_model(folder: Path, role: str, model: str) -> Path:
    """Give ``role`` another model in the run's manifest (the answers stay the same)."""
    store = RunStore(folder)
    manifest = store.read_manifest() or Manifest()
    manifest.endpoints[role]["model"] = model
    store.write_manifest(manifest)
    return folder


def _stage(role: str, model: str, tokens: int) -> StageResult:
    return StageResult(
        role=role, model=model, content="x", completion_tokens=tokens, token_source="usage",
        finish_reason="stop", started_at=1000.0, ttft_s=0.1, latency_s=1.0,
    )  # fmt: skip


def _route_record(i: int, large_tokens: int) -> Record:
    trace = Trace("route", [_stage("small", "s", 20), _stage("large", "l", large_tokens)])
    trace.extra["route"] = {
        "router": "top1", "threshold": 0.5, "small_tokens": 20, "large_tokens": large_tokens,
        "route_events": 1, "tokens": 20 + large_tokens, "uploaded_context_tokens": 30,
    }  # fmt: skip
    return Record(fx._problem("csqa", i), 0, trace, extracted="a", correct=i % 2 == 0)


def _compress_record(i: int) -> Record:
    trace = Trace("compress", [_stage("writer", "w", 50), _stage("responder", "r", 10)])
    trace.extra["compress"] = {"method": "truncate", "requested_keep": 0.5, "achieved_keep": 0.5}
    return Record(fx._problem("gsm8k", i), 0, trace, extracted=str(i), correct=i % 2 == 0)


def _pair(
    root: Path, name: str, pipeline: str, task: str, records: list[Record], role: str
) -> tuple[Path, Path]:
    a = fx.write_run(root / f"{name}-a", pipeline, task, records)
    b = fx.write_run(root / f"{name}-b", pipeline, task, records)
    _with_model(a, role, f"{role}-model-A")
    _with_model(b, role, f"{role}-model-B")
    return a, b


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[list[str]]]:
    root = tmp_path_factory.mktemp("configs")
    aime = [fx.hawkeye_record("aime", i, sample=s) for i in range(2) for s in range(2)]
    inputs = [
        *_pair(
            root,
            "hawkeye",
            "hawkeye",
            "gsm8k",
            [fx.hawkeye_record("gsm8k", i) for i in range(4)],
            "responder",
        ),
        *_pair(root, "aime", "hawkeye", "aime", aime, "reasoner"),
        *_pair(root, "route", "route", "csqa", [_route_record(i, i) for i in range(4)], "large"),
        *_pair(
            root, "compress", "compress", "gsm8k", [_compress_record(i) for i in range(4)], "writer"
        ),
    ]
    for run in inputs[4:6]:  # aime: several samples per problem
        manifest = RunStore(run).read_manifest() or Manifest()
        manifest.identity["samples"] = 2
        RunStore(run).write_manifest(manifest)
    legends: list[list[str]] = []
    save = matplotlib.figure.Figure.savefig

    def record_legends(fig: matplotlib.figure.Figure, *args: Any, **kwargs: Any) -> None:
        legends.append(
            [t.get_text() for ax in fig.axes if (g := ax.get_legend()) for t in g.get_texts()]
        )
        save(fig, *args, **kwargs)

    out = root / "report"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matplotlib.figure.Figure, "savefig", record_legends)
        write_report([str(p) for p in inputs], out)
    return json.loads((out / "report.json").read_text()), legends


def _rows(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return next(t["rows"] for s in report["sections"] for t in s["tables"] if t["name"] == name)


@pytest.mark.parametrize(
    ("table", "match", "model"),
    [
        ("accuracy", {"dataset": "gsm8k", "method": "Hawkeye"}, "responder=responder-model-"),
        ("latency_eval", {"dataset": "gsm8k", "method": "Hawkeye (Full)"}, "responder=responder"),
        ("pass_at_k", {"dataset": "aime"}, "reasoner=reasoner-model-"),
        ("route_accuracy", {"task": "csqa"}, "large=large-model-"),
        ("compress_accuracy", {"task": "gsm8k"}, "writer=writer-model-"),
    ],
)
def test_each_table_keeps_two_configurations_apart_and_labels_them(
    report: tuple[dict[str, Any], list[list[str]]], table: str, match: dict[str, str], model: str
) -> None:
    rows = [r for r in _rows(report[0], table) if all(r[k] == v for k, v in match.items())]
    assert len(rows) == 2
    labels = sorted(r["configuration"] for r in rows)
    assert labels == [f"{model}A", f"{model}B"] or all(model in x for x in labels)
    assert labels[0] != labels[1]


def test_each_figure_draws_two_configurations_as_two_labelled_series(
    report: tuple[dict[str, Any], list[list[str]]],
) -> None:
    texts = [t for legend in report[1] for t in legend]
    for role in ("responder", "reasoner", "large", "writer"):
        for model in "AB":
            wanted = f"{role}={role}-model-{model}"
            assert any(wanted in t for t in texts), (wanted, texts)
    # the eval-latency CDF: one series per configuration and view
    assert sum("Hawkeye (Full) · gsm8k [responder=" in t for t in texts) >= 2 * 2


def test_a_label_names_only_what_differs(tmp_path: Path) -> None:
    records = [fx.hawkeye_record("gsm8k", i) for i in range(2)]
    a = fx.write_run(tmp_path / "a", "hawkeye", "gsm8k", records)
    b = fx.write_run(tmp_path / "b", "hawkeye", "gsm8k", records)
    same = fx.write_run(tmp_path / "same", "hawkeye", "gsm8k", records)
    _with_model(b, "reasoner", "other")
    runs = read_inputs([a, b, same]).runs
    labels = run_labels(runs)
    assert labels[runs[1].path] == "reasoner=other"
    assert labels[runs[0].path] == labels[runs[2].path] == "reasoner=r1-7b"
    # a server is named only where the models do not already tell the runs apart
    configs = {r.label: run_config(r) for r in runs}
    moved = replace(
        configs["same"],
        facets=tuple(
            (k, "http://elsewhere/v1" if k == "reasoner server" else v)
            for k, v in configs["same"].facets
        ),
    )
    assert differing_labels({"a": configs["a"], "moved": moved}) == {
        "a": "reasoner server=http://127.0.0.1:9/v1",
        "moved": "reasoner server=http://elsewhere/v1",
    }
    assert set(differing_labels({"a": configs["a"], "same": configs["same"]}).values()) == {""}


def test_latency_cdfs_start_at_zero(tmp_path: Path) -> None:
    """The empirical CDF of n samples is 0 left of the smallest one (not 1/n)."""
    import matplotlib.pyplot as plt
    import numpy as np

    from hawkeye_bench.reporting import figures

    drawn: list[np.ndarray] = []
    ecdf = plt.Axes.ecdf

    def spy(ax: plt.Axes, x: Any, *args: Any, **kwargs: Any) -> Any:
        line = ecdf(ax, x, *args, **kwargs)
        drawn.append(np.asarray(line.get_ydata()))
        return line

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plt.Axes, "ecdf", spy)
        figures.latency_cdfs({1: {"x": ([1.0, 2.0], [0.5, 0.6])}}, tmp_path, "t.png", "", [])
    assert drawn and all(y[0] == 0.0 and y[-1] == 1.0 for y in drawn)


def test_two_load_runs_stay_apart_each_against_its_own_baseline(tmp_path: Path) -> None:
    """Two load results with the same target names: rows and CDF series name their load run,
    and a row's speedup divides by its own run's baseline."""
    first = fx.write_load(tmp_path / "one").rename(tmp_path / "one" / "load-a")
    second = fx.write_load(tmp_path / "two").rename(tmp_path / "two" / "load-b")
    report = write_report([first, second], tmp_path / "out")
    table = next(t for s in report.sections for t in s.tables if t.name == "latency_load")
    assert "load" in [c.key for c in table.columns]
    rows = [r for r in table.rows if r["method"] == "hawkeye" and r["concurrency"] == 1]
    assert len(rows) == 2
    assert len({r["sources"][0].split("/")[1] for r in rows}) == 2  # one row per load folder
    for row in rows:
        assert row["speedup"] is not None
        base = next(
            r
            for r in table.rows
            if r["load"] == row["load"] and r["method"] == "baseline" and r["concurrency"] == 1
        )
        assert base["sources"][0].split("/")[1] == row["sources"][0].split("/")[1]


def test_compress_figure_has_a_panel_at_the_requested_share(tmp_path: Path) -> None:
    """A compressor that misses its budget: the requested-share panel keeps the point on the
    grid (50% requested), the achieved-share panels move it (to 30% kept)."""
    from hawkeye_bench.reporting.compress_figures import accuracy_vs_compression

    row = {
        "task": "gsm8k", "responder": "r", "method": "llm", "kept_requested": 0.5,
        "kept_achieved": 0.3, "accuracy": 0.5, "accuracy_ci": [0.2, 0.8], "sources": [],
    }  # fmt: skip
    drawn: list[tuple[str, list[float]]] = []
    errorbar = matplotlib.axes.Axes.errorbar

    def spy(ax: matplotlib.axes.Axes, x: Any, *args: Any, **kwargs: Any) -> Any:
        drawn.append((ax.get_xlabel(), list(x)))
        return errorbar(ax, x, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matplotlib.axes.Axes, "errorbar", spy)
        assert accuracy_vs_compression([row], tmp_path) is not None
    xs = sorted(round(x[0]) for _, x in drawn)
    assert xs == [30, 50, 70]  # kept achieved, requested compression, achieved compression


def test_a_preset_setting_that_differs_is_named(tmp_path: Path) -> None:
    """Two runs of one preset name whose responder's max_tokens differ: the label names that
    setting (a long template would be named by a digest)."""
    records = [fx.hawkeye_record("gsm8k", i) for i in range(2)]
    runs = []
    for name, max_tokens in (("short", 128), ("long", 256)):
        folder = fx.write_run(tmp_path / name, "hawkeye", "gsm8k", records)
        store = RunStore(folder)
        manifest = store.read_manifest() or Manifest()
        manifest.identity["preset"] = {
            "name": "default",
            "stages": {"responder": {"max_tokens": max_tokens, "template": "x" * 200}},
        }
        store.write_manifest(manifest)
        runs.append(folder)
    read = read_inputs(runs).runs
    labels = run_labels(read)
    assert labels[read[0].path] == "preset responder.max_tokens=128"
    assert labels[read[1].path] == "preset responder.max_tokens=256"


def test_extra_request_fields_of_a_role_tell_runs_apart(tmp_path: Path) -> None:
    records = [fx.hawkeye_record("gsm8k", i) for i in range(2)]
    plain = fx.write_run(tmp_path / "plain", "hawkeye", "gsm8k", records)
    thinking = fx.write_run(tmp_path / "thinking", "hawkeye", "gsm8k", records)
    store = RunStore(thinking)
    manifest = store.read_manifest() or Manifest()
    manifest.endpoints["responder"]["extra_body"] = {"enable_thinking": True}
    store.write_manifest(manifest)
    runs = read_inputs([plain, thinking]).runs
    labels = run_labels(runs)
    assert labels[runs[1].path] == 'responder request={"enable_thinking": true}'
    assert labels[runs[0].path] == "responder request={}"


# --------------------------------------------------------------------------- the other sections


def _figures_of(inputs: list[Path], out: Path, **kwargs: Any) -> tuple[Any, list[Any]]:
    """The report, and every figure it saved (its axes: titles and legends)."""
    saved: list[matplotlib.figure.Figure] = []
    save = matplotlib.figure.Figure.savefig

    def keep(fig: matplotlib.figure.Figure, *args: Any, **kw: Any) -> None:
        saved.append(fig)
        save(fig, *args, **kw)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matplotlib.figure.Figure, "savefig", keep)
        report = write_report(inputs, out, **kwargs)
    return report, saved


def _legend_texts(figs: list[Any]) -> list[str]:
    return [
        t.get_text() for f in figs for ax in f.axes if (g := ax.get_legend()) for t in g.get_texts()
    ]


def _table(report: Any, name: str) -> Any:
    return next(t for s in report.sections for t in s.tables if t.name == name)


def _gsm8k_pair(root: Path, role: str = "responder") -> tuple[Path, Path, Path]:
    """A baseline and two Hawkeye runs whose ``role`` models differ (A, B)."""
    base = fx.write_run(
        root / "gsm8k-baseline",
        "baseline",
        "gsm8k",
        [fx.baseline_record("gsm8k", i) for i in range(4)],
    )
    a, b = _pair(
        root, "hawkeye", "hawkeye", "gsm8k", [fx.hawkeye_record("gsm8k", i) for i in range(4)], role
    )
    return base, a, b


def _two(rows: list[dict[str, Any]], role: str, key: str = "configuration") -> None:
    """Two rows, labelled by the two models of ``role``."""
    assert len(rows) == 2, rows
    labels = sorted(str(r[key]) for r in rows)
    assert f"{role}={role}-model-A" in labels[0] and f"{role}={role}-model-B" in labels[1]


def test_judge_scores_keep_two_candidates_apart_and_label_them(tmp_path: Path) -> None:
    """Two judged Hawkeye runs whose responders differ: rows and bars name the responder."""
    base, a, b = _gsm8k_pair(tmp_path / "runs")
    judged = fx.write_judgements(tmp_path, [base, a, b])
    report, figs = _figures_of([judged], tmp_path / "out")
    table = _table(report, "judge_scores")
    assert "configuration" in [c.key for c in table.columns]
    rows = [r for r in table.rows if r["judge"] == "panel" and r["criterion"] == "clarity"]
    _two([r for r in rows if r["run"] != base.name], "responder")
    texts = _legend_texts(figs)
    for model in "AB":
        assert any(f"[responder=responder-model-{model}]" in t for t in texts), texts


def test_cost_rows_keep_two_configurations_apart(tmp_path: Path) -> None:
    """Token view: two runs whose responders differ are two labelled rows, each against the
    baseline it is named with; GPU-time view: two load runs in same-named folders are two rows
    per stage, named by their paths."""
    base, a, b = _gsm8k_pair(tmp_path / "runs")
    gpu = {"input": 0, "output": 1.0, "gpu_hour_usd": 2.0, "gpus": 1, "placement": "dedicated"}
    for run in (base, a, b):
        store = RunStore(run)
        manifest = store.read_manifest() or Manifest()
        for endpoint in manifest.endpoints.values():
            endpoint["prices"] = gpu
        store.write_manifest(manifest)
    loads = [fx.write_load(tmp_path / side) for side in ("a", "b")]
    report = write_report([base, a, b, *loads], tmp_path / "out")
    tokens = _table(report, "cost_tokens")
    rows = [r for r in tokens.rows if r["pipeline"] == "hawkeye"]
    _two(rows, "responder")
    assert {r["baseline"] for r in rows} == {base.name}
    gpu_rows = _table(report, "cost_gpu").rows
    stage = [r for r in gpu_rows if r["target"] == "hawkeye" and r["concurrency"] == 1]
    assert sorted(r["load"] for r in stage) == ["a/load-gsm8k", "b/load-gsm8k"]


def test_agreement_rows_of_two_imports_differing_in_model(tmp_path: Path) -> None:
    from hawkeye_bench.cli import main
    from hawkeye_bench.datasets import load_problems

    upstream = tmp_path / "upstream.json"
    upstream.write_text(json.dumps([
        {"model_output": f"So the answer is \\boxed{{{p.gold}}}.", "answer": f"#### {p.gold}",
         "score": 1}
        for p in load_problems("gsm8k", limit=2)
    ]))  # fmt: skip
    folders = []
    for model in "AB":
        folder = tmp_path / f"imported-{model}"
        args = ["import", str(upstream), "--task", "gsm8k", "--out", str(folder), "--no-progress"]
        assert main([*args, "--model", f"model-{model}"]) == 0
        folders.append(folder)
    table = _table(write_report(folders, tmp_path / "out"), "agreement")
    assert "configuration" in [c.key for c in table.columns]
    labels = sorted(r["configuration"] for r in table.rows)
    assert len(labels) == 2 and "model-A" in labels[0] and "model-B" in labels[1]


def test_training_logs_in_same_named_folders_stay_apart(tmp_path: Path) -> None:
    """Two TRL logs both in a folder named ``run``: two rows and two lines, named by path."""
    from test_report_training import write_state

    logs = [
        write_state(tmp_path / side / "run", [(5, reward, 100.0), (10, reward + 1, 50.0)])
        for side, reward in (("with-b", 1.0), ("without-b", -1.0))
    ]
    report, figs = _figures_of(logs, tmp_path / "out")
    rows = _table(report, "training").rows
    assert sorted(r["run"] for r in rows) == ["with-b/run", "without-b/run"]
    assert {r["reward_first"] for r in rows} == {1.0, -1.0}
    texts = _legend_texts(figs)
    assert texts.count("with-b/run") == texts.count("without-b/run") == 2  # CoT length, reward


def test_paired_comparison_rows_keep_two_configurations_apart(tmp_path: Path) -> None:
    base, a, b = _gsm8k_pair(tmp_path / "runs")
    report = write_report([base, a, b], tmp_path / "out", margin_pp=2.0)
    table = _table(report, "accuracy_vs_baseline")
    assert "configuration" in [c.key for c in table.columns]
    _two(table.rows, "responder")
    assert {r["baseline"] for r in table.rows} == {base.name}


def _rate_load(root: Path, model: str) -> Path:
    """A load run whose two stages per target are open loop at 1 and 2 requests/s, with a
    sustainable-rate sweep, against servers of ``model``."""
    folder = fx.write_load(root)
    results_file = folder / "load_results.json"
    results = json.loads(results_file.read_text())
    for stage in results["stages"]:
        stage["rate"] = {1: 1.0, 4: 2.0}[stage["concurrency"]]
    results["plan"]["model"] = model
    results["sweep"] = {"rates": [1.0, 2.0], "sustainable_per_s": {"baseline": 1.0}}
    results_file.write_text(json.dumps(results))
    return folder


def test_load_rate_section_keeps_same_named_load_runs_apart(tmp_path: Path) -> None:
    """Two load runs in folders of one name (a/load-gsm8k, b/load-gsm8k) against servers of
    two models: one row of panels and one sustainable-rate row each, named by path."""
    from hawkeye_bench.reporting.load_rate_section import FIGURE_FILE

    loads = [_rate_load(tmp_path / side, f"model-{side}") for side in ("a", "b")]
    report, figs = _figures_of(loads, tmp_path / "out")
    sustainable = _table(report, "sustainable_rate").rows
    assert sorted(r["load"] for r in sustainable) == ["a/load-gsm8k", "b/load-gsm8k"]
    assert any(f.file == FIGURE_FILE for s in report.sections for f in s.figures)
    titles = [ax.get_title() for f in figs for ax in f.axes if "TTFT, gsm8k (" in ax.get_title()]
    assert sorted(titles) == ["TTFT, gsm8k (a/load-gsm8k)", "TTFT, gsm8k (b/load-gsm8k)"]
    latency = _table(report, "latency_load").rows
    full = [r for r in latency if r["method"] == "hawkeye" and r["concurrency"] == 1]
    assert sorted(r["load"] for r in full) == ["a/load-gsm8k", "b/load-gsm8k"]


def test_path_labels_are_the_shortest_distinguishing_suffix(tmp_path: Path) -> None:
    from hawkeye_bench.reporting.inputs import path_labels

    paths = [tmp_path / "x" / "a" / "load", tmp_path / "y" / "a" / "load", tmp_path / "b" / "run"]
    assert path_labels(paths) == {paths[0]: "x/a/load", paths[1]: "y/a/load", paths[2]: "run"}


def test_each_pipeline_run_is_timed_against_the_baseline_of_its_configuration(
    tmp_path: Path,
) -> None:
    """Two baselines (reasoner A, reasoner B, the second twice as slow) and Hawkeye runs with
    each reasoner: each speedup divides by its own reasoner's baseline; a run whose reasoner
    has no baseline is compared with the first one, and the table says so."""
    records = [fx.hawkeye_record("gsm8k", i) for i in range(4)]
    slow = [fx.baseline_record("gsm8k", i) for i in range(4)]
    for record in slow:
        record.trace.stages[0] = replace(
            record.trace.stages[0], latency_s=2 * record.trace.stages[0].latency_s
        )
    bases = {
        "A": fx.write_run(
            tmp_path / "base-A",
            "baseline",
            "gsm8k",
            [fx.baseline_record("gsm8k", i) for i in range(4)],
        ),
        "B": fx.write_run(tmp_path / "base-B", "baseline", "gsm8k", slow),
    }
    hawks = {m: fx.write_run(tmp_path / f"hawk-{m}", "hawkeye", "gsm8k", records) for m in "ABC"}
    for model, folder in bases.items():
        _with_model(folder, "single", f"reasoner-{model}")
    for model, folder in hawks.items():
        _with_model(folder, "reasoner", f"reasoner-{model}")
    report = write_report([*bases.values(), *hawks.values()], tmp_path / "out", margin_pp=2.0)
    rows = _table(report, "latency_eval").rows
    time = {
        r["run"]: r["time_mean_s"]
        for r in rows
        if r["method"] in ("Baseline (Full)", "Hawkeye (Full)")
    }
    full = {r["run"]: r for r in rows if r["method"] == "Hawkeye (Full)"}
    assert time["base-B"] == pytest.approx(2 * time["base-A"])
    for model in "AB":
        row = full[f"hawk-{model}"]
        assert row["baseline_run"] == f"base-{model}"
        assert row["speedup"] == pytest.approx(time[f"base-{model}"] / time[f"hawk-{model}"])
    assert full["hawk-C"]["baseline_run"] == "base-A (configuration not matched)"
    assert full["hawk-C"]["speedup"] == pytest.approx(time["base-A"] / time["hawk-C"])
    md = (tmp_path / "out" / "report.md").read_text()
    assert "base-A (configuration not matched)" in md
    # the paired comparison pairs the same way
    paired = {r["run"]: r["baseline"] for r in _table(report, "accuracy_vs_baseline").rows}
    assert paired == {
        "hawk-A": "base-A", "hawk-B": "base-B", "hawk-C": "base-A (configuration not matched)"
    }  # fmt: skip
