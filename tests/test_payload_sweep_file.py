"""The sweep files (compress-sweep's sweep.json, route-sweep's route_sweep.json) round-trip
through their JSON form, and files written before they were typed still load."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hawkeye_bench.eval.compress_sweep import (
    CompressSweepFile,
    SweepRun,
    read_sweep_file,
    read_sweep_runs,
    write_sweep_file,
)
from hawkeye_bench.eval.route_sweep import RouteRun, RouteSweepFile
from hawkeye_bench.eval.route_sweep import read_sweep_runs as read_route_runs
from hawkeye_bench.eval.sweep_folder import SweepFileError, SweepModel, SweepSettings

SETTINGS = SweepSettings(
    task="gsm8k",
    limit=2,
    preset=None,
    seed=7,
    options={"strip_answer": True},
    responders=[SweepModel("small-a", "small-a", "http://a"), SweepModel("small--b", "small/b")],
    writers=[SweepModel("", "big", None)],
)


def _round_trip(payload: Any) -> Any:
    return type(payload).from_json(json.loads(json.dumps(payload.to_json())))


def test_a_compress_sweep_file_round_trips() -> None:
    runs = [SweepRun("none", 0.0, "small-a"), SweepRun("llm", 0.5, "small--b", "w")]
    sweep = CompressSweepFile.of(runs, SETTINGS)
    assert _round_trip(sweep) == sweep
    assert sweep.kind == "hawkeye-bench-compress-sweep"


def test_a_route_sweep_file_round_trips() -> None:
    runs = [RouteRun(anchor="small"), RouteRun("top1", 0.5), RouteRun("top1", target_share=0.1)]
    sweep = RouteSweepFile.of(runs, SweepSettings(task="gsm8k", options={"chunk": 4}))
    assert _round_trip(sweep) == sweep
    assert "responders" not in sweep.to_json()  # a route sweep has no swept roles


def test_the_parts_round_trip() -> None:
    for part in (SETTINGS, SETTINGS.responders[0], SweepRun("truncate", 0.3), RouteRun("x", 1)):
        assert _round_trip(part) == part


def test_the_written_file_keeps_its_form(tmp_path: Path) -> None:
    write_sweep_file(tmp_path, [SweepRun("llm", 0.5, "small-a")], SETTINGS)
    data = json.loads((tmp_path / "sweep.json").read_text(encoding="utf-8"))
    assert data["kind"] == "hawkeye-bench-compress-sweep"
    assert data["runs"] == [
        {
            "writer": "",
            "responder": "small-a",
            "method": "llm",
            "keep": 0.5,
            "folder": "runs/small-a/llm-keep0.5",
        }
    ]
    assert (data["task"], data["limit"], data["seed"]) == ("gsm8k", 2, 7)
    assert data["options"] == {"strip_answer": True}
    assert data["responders"][1] == {"folder": "small--b", "model": "small/b", "url": None}
    assert read_sweep_file(tmp_path) == CompressSweepFile.of(
        [SweepRun("llm", 0.5, "small-a")], SETTINGS
    )


def test_an_old_compress_sweep_file_loads(tmp_path: Path) -> None:
    """Before several responders and writers: runs without them, no options, no role lists;
    a folder edited by hand is where the report looks."""
    old = {
        "kind": "hawkeye-bench-compress-sweep",
        "runs": [
            {"method": "none", "keep": 0},
            {"method": "llm", "keep": 0.5, "folder": "elsewhere/llm"},
        ],
        "task": "gsm8k",
        "limit": None,
        "preset": "default",
        "seed": 0,
    }
    (tmp_path / "sweep.json").write_text(json.dumps(old), encoding="utf-8")
    sweep = read_sweep_file(tmp_path)
    assert sweep is not None
    assert sweep.runs == [SweepRun("none", 0.0), SweepRun("llm", 0.5)]
    assert [r.path_in_sweep for r in sweep.runs] == ["runs/none-keep0", "elsewhere/llm"]
    assert sweep.settings == SweepSettings(task="gsm8k", preset="default", seed=0)
    assert read_sweep_runs(tmp_path) == sweep.runs


def test_an_old_route_sweep_file_loads(tmp_path: Path) -> None:
    old = {
        "kind": "hawkeye-bench-route-sweep",
        "runs": [
            {"router": None, "threshold": None, "anchor": "small", "folder": "runs/anchor-small"},
            {"router": "top1", "threshold": 0.5, "anchor": None, "folder": "runs/top1-t0.5"},
        ],
        "task": "gsm8k",
        "limit": 1,
        "preset": None,
        "seed": 0,
        "options": {"chunk": 4},
    }
    (tmp_path / "route_sweep.json").write_text(json.dumps(old), encoding="utf-8")
    assert read_route_runs(tmp_path) == [RouteRun(anchor="small"), RouteRun("top1", 0.5)]
    assert RouteSweepFile.from_json(old).to_json() == {
        **old,
        "runs": [{**run, "target_share": None} for run in old["runs"]],
    }


def test_no_file_is_none_and_no_runs(tmp_path: Path) -> None:
    assert read_sweep_file(tmp_path) is None
    assert read_sweep_runs(tmp_path) == [] == read_route_runs(tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a sweep file"),
        ('{"runs": [1]}', "not a sweep file"),
        ('{"runs": [{"keep": 0.3}]}', "runs[0]: no 'method'"),
        ('{"runs": [{"method": "llm", "keep": "a"}]}', "runs[0]: keep must be a number"),
        ('{"runs": [], "responders": [{"model": "m"}]}', "responders: an entry without"),
    ],
)
def test_a_bad_file_is_one_error_naming_it(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "sweep.json").write_text(text, encoding="utf-8")
    with pytest.raises(SweepFileError, match=r"sweep\.json: ") as caught:
        read_sweep_file(tmp_path)
    assert message in str(caught.value)
