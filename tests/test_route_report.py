"""The route table shows the seed's headline: the relative accuracy gain over the small-only
anchor, (acc - acc_small) / acc_small, with a paired bootstrap interval over problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.axes
import numpy as np
import pytest
import report_fixtures as fx

from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.reporting import write_report


def _record(i: int, correct: bool, route: dict[str, object]) -> Record:
    stage = StageResult(
        role="small", model="s", content="x", completion_tokens=20, token_source="usage",
        finish_reason="stop", started_at=1000.0, ttft_s=0.1, latency_s=1.0,
    )  # fmt: skip
    trace = Trace("route", [stage])
    trace.extra["route"] = {"small_tokens": 19, "large_tokens": 1, "tokens": 20, **route}
    return Record(fx._problem("csqa", i), 0, trace, extracted="a", correct=correct)


def test_gain_over_the_small_only_anchor_with_a_paired_interval(tmp_path: Path) -> None:
    small = [True, False, True, False, False, True, False, False, True, False] * 2  # 8 of 20
    routed = [True, True, True, False, True, True, False, True, True, False] * 2  # 14 of 20
    runs = [
        fx.write_run(tmp_path / "anchor-small", "route", "csqa",
                     [_record(i, c, {"only": "small"}) for i, c in enumerate(small)]),
        fx.write_run(tmp_path / "top1-t0.5", "route", "csqa",
                     [_record(i, c, {"router": "top1", "threshold": 0.5})
                      for i, c in enumerate(routed)]),
    ]  # fmt: skip
    drawn: list[tuple[str, list[float]]] = []
    errorbar = matplotlib.axes.Axes.errorbar

    def spy(ax: matplotlib.axes.Axes, x: Any, y: Any, *args: Any, **kwargs: Any) -> Any:
        drawn.append((ax.get_ylabel(), [float(v) for v in np.atleast_1d(y)]))
        return errorbar(ax, x, y, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matplotlib.axes.Axes, "errorbar", spy)
        report = write_report(runs, tmp_path / "out")
    # the figure's second panel draws the gain (in %) against the routed share
    assert [pytest.approx(75.0)] in [y for _, y in drawn]
    table = next(t for s in report.sections for t in s.tables if t.name == "route_accuracy")
    row = next(r for r in table.rows if r["router"] == "top1")
    assert row["gain_vs_small"] == pytest.approx(7 / 4 - 1)
    low, high = row["gain_ci"]
    assert low is not None and high is not None and low < 0.75 < high
    assert row["routed_share"] == pytest.approx(0.05)  # the large model's share of tokens
    anchor = next(r for r in table.rows if r["router"] == "small only")
    assert anchor["gain_vs_small"] is None
    assert "gain vs small only" in (tmp_path / "out" / "report.md").read_text()
