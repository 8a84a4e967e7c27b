"""Round trip of ``cost.json`` (what `hawkeye-bench cost --out` writes)."""

from __future__ import annotations

import json

from hawkeye_bench.commands.cost import CostReport, GpuCostRow, LoadCost
from hawkeye_bench.cost.gpu_view import StageCost


def test_cost_report_round_trip_and_old_form() -> None:
    stage = StageCost("hawkeye", 10, 2.0, usd_per_hour=4.0, ratio=0.5, unreliable=["lost"])
    row = GpuCostRow.of(stage)
    assert row.level == "c=10" and row.throughput == 5.0 and not row.reliable
    report = CostReport(
        prices=["--preset poster"],
        notes=["a note"],
        token_view=[{"run": "r", "usd": None, "why_unknown": ["no prices"]}],
        gpu_view=[LoadCost("load", [row])],
    )
    data = json.loads(json.dumps(report.to_json()))
    assert data["gpu_view"][0]["stages"][0]["reliable"] is False
    assert CostReport.from_json(data) == report
    old = {"prices": [], "notes": [], "token_view": [], "gpu_view": [
        {"load": "l", "stages": [{"target": "t", "concurrency": 4, "level": "c=4",
                                  "reliable": True}]}]}  # fmt: skip
    loaded = CostReport.from_json(old)
    assert loaded.gpu_view[0].stages[0].reliable and loaded.gpu_view[0].stages[0].ratio is None
