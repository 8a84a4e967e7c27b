"""route-sweep against two scripted servers: the anchors and every (router, threshold) run on
the same prompts, and the table of accuracy against routed share (hand-computed: the small
model is unsure at reply words 2 and 7, see test_route.py)."""

from __future__ import annotations

import csv
from pathlib import Path

from cli_helpers import read_json, run_cli
from test_route import LARGE_REPLY, SMALL_REPLY, _config

from hawkeye_bench.testing.scripted_server import ScriptedServer


def test_sweep_writes_anchor_and_threshold_rows(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    small = ScriptedServer(_config("small", SMALL_REPLY, [2, 7]))
    large = ScriptedServer(_config("large", LARGE_REPLY, []))
    with small, large:
        args = ["route-sweep", "--task", "gsm8k", "--limit", "1", "--out", str(out)]
        args += ["--no-progress", "--small-url", small.base_url, "--small-model", "small"]
        args += ["--large-url", large.base_url, "--large-model", "large"]
        args += ["--threshold", "0.3,0.5", "--chunk-tokens", "4", "--random-rates", "1"]
        result = run_cli(*args)
        again = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert again.returncode == 2 and "--resume" in again.stderr
    with (out / "route_table.csv").open(encoding="utf-8") as handle:
        rows = {row["run"]: row for row in csv.DictReader(handle)}
    assert list(rows) == ["anchor-small", "anchor-large", "top1-t0.3", "top1-t0.5", "random-t1"]
    measured = {r: (float(row["routed_share"]), float(row["accuracy"])) for r, row in rows.items()}
    assert measured == {  # run: (routed share, accuracy)
        "anchor-small": (0.0, 0.0),
        "anchor-large": (1.0, 1.0),
        "top1-t0.3": (0.0, 0.0),
        "top1-t0.5": (0.25, 1.0),
        "random-t1": (1.0, 1.0),  # every token routed: the large model writes the whole answer
    }
    assert float(rows["top1-t0.5"]["route_events_mean"]) == 2.0
    assert float(rows["top1-t0.5"]["ci95_low"]) < 1.0 == float(rows["top1-t0.5"]["ci95_high"])
    table = (out / "route_table.md").read_text(encoding="utf-8")
    assert "Routing sweep" in table and "top1-t0.5" in table
    sweep = read_json(out / "route_sweep.json")
    assert [r["folder"] for r in sweep["runs"]][:2] == ["runs/anchor-small", "runs/anchor-large"]
    manifest = read_json(out / "runs" / "top1-t0.5" / "manifest.json")
    assert manifest["identity"]["pipeline_options"] == {
        "chunk": 4,
        "router": "top1",
        "threshold": 0.5,
    }
    report = run_cli("report", str(out), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    markdown = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "Token routing (collaborative decoding)" in markdown
    assert "small only" in markdown and "large only" in markdown
    assert (tmp_path / "report" / "route_accuracy_vs_share.png").is_file()
    data = read_json(tmp_path / "report" / "report.json")
    (section,) = [s for s in data["sections"] if s["key"] == "route"]
    (table,) = section["tables"]
    shares = {(r["router"], r["threshold"]): r["routed_share"] for r in table["rows"]}
    assert shares[("top1", 0.5)] == 0.25 and shares[("large only", None)] == 1.0
