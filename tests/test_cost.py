"""Cost: token view, the poster preset, GPU-time view, the `cost` command, endpoint prices."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_fixtures import baseline_record, hawkeye_record, write_load, write_run

from hawkeye_bench.cli import main
from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.cost.gpu_view import load_costs, stage_cost
from hawkeye_bench.cost.prices import PriceBook, PricesError, RolePrices, poster_preset
from hawkeye_bench.cost.token_view import compare_with_baselines, run_cost
from hawkeye_bench.endpoints.pool import client_key
from hawkeye_bench.endpoints.settings import ConfigError, _endpoint_from_mapping


def _record(pipeline: str, tokens: dict[str, tuple[int | None, int]], correct: bool) -> Record:
    stages = [
        StageResult(role=role, model=f"m-{role}", prompt_tokens=p, completion_tokens=c)
        for role, (p, c) in tokens.items()
    ]
    problem = Problem(id="p", dataset="gsm8k", question="q", gold="1")
    return Record(problem, 0, Trace(pipeline, stages), correct=correct)


# --------------------------------------------------------------------------- token view


def test_token_view_hand_computed() -> None:
    book = PriceBook.from_mapping(
        {
            "single": {"input": 1.0, "output": 2.0},
            "reasoner": {"input": 1.0, "output": 2.0},
            # LiteLLM's per-token names: 0.5 and 1.0 USD per 1M tokens
            "m-responder": {"input_cost_per_token": 5e-7, "output_cost_per_token": 1e-6},
        },
        "test",
    )
    base = [
        _record("baseline", {"single": (100, 1000)}, True),
        _record("baseline", {"single": (100, 3000)}, False),
    ]
    hawk = [
        _record("hawkeye", {"reasoner": (100, 400), "responder": (500, 100)}, True),
        _record("hawkeye", {"reasoner": (100, 600), "responder": (700, 100)}, True),
    ]
    b = run_cost("b", base, [book])
    h = run_cost("h", hawk, [book])
    compare_with_baselines([b, h])
    # baseline: (200 x 1 + 4000 x 2) / 1e6 = 0.0082 USD for 2 problems, 1 correct
    assert b.usd == pytest.approx(0.0082)
    assert b.per_1k_problems == pytest.approx(4.1)
    assert b.per_correct == pytest.approx(0.0082)
    # hawkeye: reasoner (200 + 2000) / 1e6 = 0.0022; responder by model name:
    # (1200 x 0.5 + 200 x 1) / 1e6 = 0.0008 -> 0.003 for 2 problems, 2 correct
    assert h.usd == pytest.approx(0.003)
    assert h.per_correct == pytest.approx(0.0015)
    assert h.baseline == "b"
    assert h.ratio == pytest.approx(1.5 / 4.1)


def test_token_view_never_makes_up_a_number() -> None:
    book = PriceBook.from_mapping({"reasoner": {"input": 1.0, "output": 2.0}}, "test")
    hawk = [_record("hawkeye", {"reasoner": (None, 400), "responder": (5, 100)}, True)]
    cost = run_cost("h", hawk, [book])
    assert cost.usd is None and cost.per_1k_problems is None and cost.per_correct is None
    assert "responder: no prices given" in cost.reasons
    assert "reasoner: 1 calls have no prompt token count" in cost.reasons
    # a missing count does not matter when its price is zero
    free_input = PriceBook.from_mapping(
        {"reasoner": {"input": 0, "output": 2.0}, "responder": {"input": 0, "output": 1.0}}, "t"
    )
    assert run_cost("h", hawk, [free_input]).usd == pytest.approx(900e-6)


def test_prices_validation() -> None:
    with pytest.raises(PricesError, match="unknown price keys"):
        RolePrices.parse({"inpt": 1.0}, "x")
    with pytest.raises(PricesError, match="needs share"):
        RolePrices.parse({"gpu_hour_usd": 2.0, "placement": "shared"}, "x")
    with pytest.raises(PricesError, match="greater than or equal to 0"):
        RolePrices.parse({"input": -1, "output": 1}, "x")
    both = RolePrices.parse({"input": 1, "output": 2, "gpu_hour_usd": 3, "gpus": 2}, "x")
    assert both.tokens is not None and both.gpu is not None and both.gpu.usd_per_hour == 6


# --------------------------------------------------------------------------- poster preset

#: The poster's published figures: (dataset, c) -> (baseline, CoT only, Full) tokens, and cost %
POSTER = {
    ("gsm8k", 10): (297.0, 165.7, 301.7, 62.0),
    ("math500", 10): (1136.54, 471.0, 771.4, 44.0),
    ("math", 10): (942.08, 361.23, 565.33, 41.5),
    ("aime", 10): (5943.90, 4168.20, 4722.50, 70.0),
    ("gsm8k", 100): (331.0, 171.0, 332.0, 58.0),
    ("math500", 100): (1463.80, 474.9, 765.8, 35.0),
    ("math", 100): (908.08, 332.50, 582.10, 40.0),
}
POSTER_TOLERANCE_POINTS = 3.0


@pytest.mark.parametrize(("dataset", "c"), sorted(POSTER))
def test_poster_preset_reproduces_the_reconstruction(dataset: str, c: int) -> None:
    baseline, cot, full, poster = POSTER[(dataset, c)]
    book = poster_preset(0.1)
    base = [_record("baseline", {"single": (0, round(baseline * 100))}, True)]
    # responder tokens = Full - CoT only; x100 keeps the poster's decimals in integer counts
    tokens = {"reasoner": (0, round(cot * 100)), "responder": (0, round((full - cot) * 100))}
    hawk = [_record("hawkeye", tokens, True)]
    costs = [run_cost("b", base, [book]), run_cost("h", hawk, [book])]
    compare_with_baselines(costs)
    ratio = costs[1].ratio
    assert ratio is not None
    expected = (cot + 0.1 * (full - cot)) / baseline
    assert ratio == pytest.approx(expected, rel=1e-4)
    assert abs(ratio * 100 - poster) <= POSTER_TOLERANCE_POINTS


def test_poster_preset_states_its_ratio() -> None:
    book = poster_preset(0.07)
    assert "r = 0.07" in book.notes[0] and "does not state its formula" in book.notes[0]
    with pytest.raises(PricesError):
        poster_preset(2.0)


# --------------------------------------------------------------------------- GPU-time view

#: The poster's published MATH-500 latencies at c=10: mean time per request (s)
MATH500_BASELINE_S, MATH500_HAWKEYE_S = 14.95, 8.31


def _gpu_book(reasoner: dict[str, object], responder: dict[str, object]) -> PriceBook:
    return PriceBook.from_mapping(
        {
            "single": {"gpu_hour_usd": 2.0},
            "reasoner": reasoner,
            "responder": responder,
            "load_targets": {"baseline": ["single"], "hawkeye": ["reasoner", "responder"]},
        },
        "test",
    )


@pytest.mark.parametrize(
    ("reasoner", "responder", "expected_percent"),
    [
        # two dedicated equal GPUs: 2 x 8.31 / 14.95
        ({"gpu_hour_usd": 2.0}, {"gpu_hour_usd": 2.0}, 111.2),
        # the responder on a GPU at a quarter of the price: 1.25 x 8.31 / 14.95
        ({"gpu_hour_usd": 2.0}, {"gpu_hour_usd": 0.5}, 69.5),
        # both co-located on one GPU: 8.31 / 14.95
        (
            {"gpu_hour_usd": 2.0, "placement": "colocated"},
            {"gpu_hour_usd": 2.0, "placement": "colocated"},
            55.6,
        ),
    ],
)
def test_gpu_view_placements(
    reasoner: dict[str, object], responder: dict[str, object], expected_percent: float
) -> None:
    book = _gpu_book(reasoner, responder)
    base = stage_cost("baseline", 10, MATH500_BASELINE_S, book)
    hawk = stage_cost("hawkeye", 10, MATH500_HAWKEYE_S, book)
    # X = 10 / 14.95 req/s; 2 USD/h / (3600 X) per request
    assert base.usd_per_request == pytest.approx(2.0 / (3600 * 10 / 14.95))
    assert hawk.usd_per_request is not None and base.usd_per_request is not None
    ratio = hawk.usd_per_request / base.usd_per_request
    assert ratio * 100 == pytest.approx(expected_percent, abs=0.05)


def test_gpu_view_shared_fleet_and_missing_prices() -> None:
    book = _gpu_book(
        {"gpu_hour_usd": 4.0, "gpus": 2}, {"gpu_hour_usd": 2.0, "placement": "shared", "share": 0.1}
    )
    hawk = stage_cost("hawkeye", 4, 2.0, book)
    assert hawk.usd_per_hour == pytest.approx(8.2)
    assert hawk.usd_per_1k_requests == pytest.approx(8.2 / (3600 * 2.0) * 1000)
    nothing = stage_cost("other", 4, 2.0, book)
    assert nothing.usd_per_request is None and "no prices given" in nothing.reasons[0]


def test_gpu_view_from_load_results(tmp_path: Path) -> None:
    folder = write_load(tmp_path)
    results = json.loads((folder / "load_results.json").read_text())
    book = _gpu_book({"gpu_hour_usd": 2.0}, {"gpu_hour_usd": 2.0})
    costs = load_costs(results, book)
    by = {(c.target, c.concurrency): c for c in costs}
    stage = next(s for s in results["stages"] if s["target"] == "hawkeye" and s["concurrency"] == 4)
    mean_s = stage["metrics"]["e2e_ms"]["mean"] / 1000
    assert by[("hawkeye", 4)].throughput == pytest.approx(4 / mean_s)
    assert by[("hawkeye", 4)].ratio is not None and by[("baseline", 4)].ratio is None


# --------------------------------------------------------------------------- endpoints, command


def test_endpoint_prices_in_config_and_pool() -> None:
    data = {"base_url": "http://h/v1", "model": "m", "prices": {"input": 0.15, "output": 0.6}}
    endpoint = _endpoint_from_mapping("reasoner", data, timeout_s=10, retries=1)
    assert endpoint.prices == {"input": 0.15, "output": 0.6}
    assert endpoint.to_dict()["prices"] == {"input": 0.15, "output": 0.6}
    other = _endpoint_from_mapping("responder", {**data, "prices": None}, timeout_s=10, retries=1)
    assert client_key(endpoint) == client_key(other)  # prices do not split the connection pool
    with pytest.raises(ConfigError, match="prices must map"):
        _endpoint_from_mapping("r", {**data, "prices": [1]}, timeout_s=10, retries=1)
    manifest = {"endpoints": {"reasoner": endpoint.to_dict()}}
    book = PriceBook.from_manifest(manifest, "run")
    found = book.lookup("reasoner")
    assert found is not None and found.tokens is not None and found.tokens.output == 0.6


def test_cost_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_run(
        tmp_path / "b", "baseline", "gsm8k", [baseline_record("gsm8k", i) for i in range(4)]
    )
    hawk = write_run(
        tmp_path / "h", "hawkeye", "gsm8k", [hawkeye_record("gsm8k", i) for i in range(4)]
    )
    load = write_load(tmp_path)
    assert main(["cost", str(base), str(hawk), str(load)]) == 0
    out = capsys.readouterr().out
    assert "no prices given" in out and "Little's law" in out

    prices = tmp_path / "prices.yaml"
    prices.write_text(
        "r1-7b: {input: 0, output: 1.0}\nqwen-0.5b: {input: 0, output: 0.5}\n"
        "single: {gpu_hour_usd: 2}\nreasoner: {gpu_hour_usd: 2, placement: colocated}\n"
        "responder: {gpu_hour_usd: 2, placement: colocated}\n"
        "load_targets: {baseline: [single], hawkeye: [reasoner, responder]}\n"
    )
    out_dir = tmp_path / "cost"
    args = ["cost", str(base), str(hawk), str(load), "--prices", str(prices), "--out", str(out_dir)]
    assert main(args) == 0
    data = json.loads((out_dir / "cost.json").read_text())
    rows = {r["run"]: r for r in data["token_view"]}
    # baseline 1000 output tokens at 1 USD/1M over 4 problems; hawkeye 280 + 0.5 x 80 = 320
    assert rows["b"]["usd_per_1k_problems"] == pytest.approx(1000e-6 / 4 * 1000)
    assert rows["h"]["ratio"] == pytest.approx(320 / 1000)
    assert (out_dir / "cost.md").read_text().startswith("# Cost")
    assert all(s["usd_per_hour"] is not None for s in data["gpu_view"][0]["stages"])

    assert main(["cost", str(base), str(hawk), "--preset", "poster"]) == 0
    out = capsys.readouterr().out
    assert "r = 0.1" in out and "28.8% of b" in out  # (280 + 0.1 x 80) / 1000, of run b


def test_cost_command_rejects_other_folders(tmp_path: Path) -> None:
    assert main(["cost", str(tmp_path)]) == 2


def test_gpu_view_pipeline_targets_hand_computed() -> None:
    """One GPU at 2 USD/h per role; mean 1 s per request at c = 10: X = 10 req/s."""
    from hawkeye_bench.pipelines import find_pipeline

    def stage(target: str) -> dict[str, object]:
        return {"target": target, "concurrency": 10, "metrics": {"e2e_ms": {"mean": 1000.0}}}

    results = {"plan": {"baseline": "baseline"}, "stages": [stage("baseline"), stage("hawkeye")]}
    targets = {}
    for name in ("baseline", "hawkeye"):
        cls = find_pipeline(name)
        assert cls is not None
        targets[name] = tuple(cls.roles)
    assert targets == {"baseline": ("single",), "hawkeye": ("reasoner", "responder")}
    one_gpu = RolePrices.parse({"gpu_hour_usd": 2.0}, "t")
    book = PriceBook(entries=dict.fromkeys(("single", "reasoner", "responder"), one_gpu),
                     load_targets=targets)  # fmt: skip
    base, hawk = load_costs(results, book)
    assert base.throughput == pytest.approx(10.0)
    assert base.usd_per_request == pytest.approx(2.0 / 36000)  # 1 GPU x 2 USD/h / (3600 x 10)
    assert hawk.usd_per_request == pytest.approx(2 * 2.0 / 36000)  # two dedicated GPUs
    assert hawk.usd_per_1k_requests == pytest.approx(4000 / 36000)
    assert hawk.ratio == pytest.approx(2.0)
    colocated = RolePrices.parse({"gpu_hour_usd": 2.0, "placement": "colocated"}, "t")
    book = PriceBook(entries={"single": one_gpu, "reasoner": colocated, "responder": colocated},
                     load_targets=targets)  # fmt: skip
    _, hawk = load_costs(results, book)
    assert hawk.usd_per_request == pytest.approx(2.0 / 36000) and hawk.ratio == pytest.approx(1.0)


def test_summary_cost_token_view_or_nothing() -> None:
    from hawkeye_bench.cost.token_view import summary_cost
    from hawkeye_bench.eval.summary_table import cost_line

    records = [
        _record("hawkeye", {"reasoner": (100, 50), "responder": (200, 10)}, True),
        _record("hawkeye", {"reasoner": (100, 150), "responder": (200, 30)}, False),
    ]
    priced = {"endpoints": {
        "reasoner": {"model": "r", "prices": {"input": 1.0, "output": 2.0}},
        "responder": {"model": "s", "prices": {"input": 0.5, "output": 1.0}},
    }}  # fmt: skip
    cost = summary_cost(records, priced, "hawkeye")
    assert cost is not None
    # reasoner: 200 x 1 + 200 x 2 = 600; responder: 400 x 0.5 + 40 x 1 = 240 (per 1M tokens)
    assert cost.usd == pytest.approx(840e-6)
    assert cost.usd_per_1k_problems == pytest.approx(840e-6 / 2 * 1000)
    assert cost.usd_per_correct == pytest.approx(840e-6) and cost.not_priced == []
    assert "USD 0.42 / 1k problems" in cost_line(cost)
    del priced["endpoints"]["responder"]["prices"]
    half = summary_cost(records, priced, "hawkeye")
    assert half is not None and half.usd is None
    assert half.not_priced == ["responder: no prices given"]
    assert "not priced: responder: no prices given" in cost_line(half)
    del priced["endpoints"]["reasoner"]["prices"]
    assert summary_cost(records, priced, "hawkeye") is None
    assert summary_cost(records, {}, "hawkeye") is None


def test_cost_command_says_when_a_load_stage_is_unreliable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    load = write_load(tmp_path)
    results_file = load / "load_results.json"
    results = json.loads(results_file.read_text())
    for stage in results["stages"]:
        if stage["target"] == "hawkeye" and stage["concurrency"] == 4:
            stage.update(reliable=False, unreliable_reasons=["load generator CPU at 100%"])
    results_file.write_text(json.dumps(results))
    prices = tmp_path / "prices.yaml"
    prices.write_text("baseline: {gpu_hour_usd: 2}\nhawkeye: {gpu_hour_usd: 2}\n")
    out_dir = tmp_path / "cost"
    assert main(["cost", str(load), "--prices", str(prices), "--out", str(out_dir)]) == 0
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if line.startswith("| hawkeye (unreliable)"))
    assert "| c=4 |" in row  # the load column: closed loop at concurrency 4
    assert "- unreliable: hawkeye at c=4: the load runner marked this stage unreliable " \
        "(load generator CPU at 100%)" in printed  # fmt: skip
    stages = json.loads((out_dir / "cost.json").read_text())["gpu_view"][0]["stages"]
    flagged = [(s["target"], s["concurrency"]) for s in stages if not s["reliable"]]
    assert flagged == [("hawkeye", 4)]
    assert sum("(unreliable)" in line for line in printed.splitlines()) == 1


def test_a_prices_file_that_is_not_yaml_text_is_a_one_line_error(tmp_path: Path) -> None:
    binary = tmp_path / "prices.bin"
    binary.write_bytes(b"\xff\xfe\x00price")
    with pytest.raises(PricesError, match="not a text file") as caught:
        PriceBook.from_file(binary)
    assert "\n" not in str(caught.value)
    broken = tmp_path / "prices.yaml"
    broken.write_text("reasoner: {input: [1\n")
    with pytest.raises(PricesError, match=r"not valid YAML: line \d+, column \d+") as caught:
        PriceBook.from_file(broken)
    assert "\n" not in str(caught.value)


def test_open_loop_stages_are_priced_at_their_measured_throughput_and_paired_by_rate() -> None:
    """An open-loop stage sets its own load: X is what it measured, not cap / latency, and it
    pairs with the baseline at the same rate (every rate stage shares one cap)."""
    book = PriceBook.from_mapping(
        {"baseline": {"gpu_hour_usd": 2.0}, "hawkeye": {"gpu_hour_usd": 2.0}}, "test"
    )

    def stage(target: str, rate: float, measured: float, mean_ms: float) -> dict:
        return {
            "target": target,
            "concurrency": 64,
            "rate": rate,
            "throughput": {"requests_per_s": measured},
            "metrics": {"e2e_ms": {"mean": mean_ms}},
        }

    results = {
        "plan": {"baseline": "baseline"},
        "stages": [
            stage("baseline", 1.0, 0.98, 4000.0),
            stage("baseline", 2.0, 1.96, 9000.0),
            stage("hawkeye", 1.0, 1.0, 1000.0),
            stage("hawkeye", 2.0, 2.0, 1500.0),
        ],
    }
    costs = {(c.target, c.rate_per_s): c for c in load_costs(results, book)}
    slow = costs[("baseline", 2.0)]
    assert slow.throughput == pytest.approx(1.96)  # not 64 / 9 s
    assert slow.level == "2/s (<= 64 in flight)"
    assert slow.usd_per_request == pytest.approx(2.0 / (3600 * 1.96))
    assert costs[("hawkeye", 1.0)].ratio == pytest.approx(0.98 / 1.0)  # same rate: 1/s
    assert costs[("hawkeye", 2.0)].ratio == pytest.approx(1.96 / 2.0)
