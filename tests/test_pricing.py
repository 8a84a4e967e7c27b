"""Token prices and call costs (hawkeye_bench.cost.pricing), with values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hawkeye_bench.cost.pricing import TokenPrices, Usage, cost_usd
from hawkeye_bench.judging.config import JudgeConfigError, load_panel
from hawkeye_bench.judging.ledger import JudgeEstimate, worst_case_usd

JUDGES_DIR = Path(__file__).resolve().parent.parent / "judges"

ALL_FOUR = TokenPrices(input=2.50, cached_input=1.25, output=10.00, reasoning=20.00)
#: 1000 prompt tokens of which 400 cached; 500 completion tokens of which 300 reasoning.
MIXED = Usage(prompt_tokens=1000, completion_tokens=500, cached_tokens=400, reasoning_tokens=300)


def test_each_kind_of_token_at_its_own_price() -> None:
    # 600 * 2.50 + 400 * 1.25 + 200 * 10.00 + 300 * 20.00 = 1500 + 500 + 2000 + 6000 = 10000
    assert cost_usd(MIXED, ALL_FOUR) == pytest.approx(0.010)


def test_cached_and_reasoning_fall_back_to_input_and_output_prices() -> None:
    prices = TokenPrices(input=2.50, output=10.00)
    # 1000 * 2.50 + 500 * 10.00 = 2500 + 5000 = 7500
    assert cost_usd(MIXED, prices) == pytest.approx(0.0075)
    # only the reasoning price given: 1000 * 2.50 + 200 * 10.00 + 300 * 40.00 = 16500
    dear_thinking = TokenPrices(input=2.50, output=10.00, reasoning=40.00)
    assert cost_usd(MIXED, dear_thinking) == pytest.approx(0.0165)


def test_plain_usage_without_details() -> None:
    # 120 * 3.00 + 80 * 15.00 = 360 + 1200 = 1560
    prices = TokenPrices(input=3.00, cached_input=0.30, output=15.00)
    assert cost_usd(Usage(120, 80), prices) == pytest.approx(0.00156)
    assert cost_usd(Usage(0, 0), prices) == 0.0


def test_unknown_cost_is_none_never_a_guess() -> None:
    assert cost_usd(MIXED, None) is None
    assert cost_usd(MIXED, TokenPrices()) is None
    assert cost_usd(MIXED, TokenPrices(input=2.50)) is None  # output price unknown
    assert cost_usd(MIXED, TokenPrices(output=10.00)) is None  # input price unknown
    assert cost_usd(None, ALL_FOUR) is None
    assert cost_usd(Usage(prompt_tokens=10), ALL_FOUR) is None
    assert cost_usd(Usage(completion_tokens=10), ALL_FOUR) is None


def test_litellm_per_token_names_are_converted_to_per_million() -> None:
    litellm = TokenPrices.model_validate(
        {
            "input_cost_per_token": 2.5e-06,
            "cache_read_input_token_cost": 1.25e-06,
            "output_cost_per_token": 1e-05,
            "output_cost_per_reasoning_token": 2e-05,
        }
    )
    assert litellm == ALL_FOUR  # exact: the conversion is decimal, not binary float
    assert cost_usd(MIXED, litellm) == pytest.approx(0.010)
    mixed_names = TokenPrices.model_validate({"input": 3.0, "output_cost_per_token": 1.5e-05})
    assert (mixed_names.input, mixed_names.output) == (3.0, 15.0)


def test_bad_prices_are_rejected() -> None:
    with pytest.raises(ValidationError, match="not both"):
        TokenPrices.model_validate({"input": 2.5, "input_cost_per_token": 2.5e-06})
    with pytest.raises(ValidationError):
        TokenPrices(input=-1.0, output=1.0)
    with pytest.raises(ValidationError):
        TokenPrices.model_validate({"input": 1.0, "cache_creation_input_token_cost": 1e-06})


def test_usage_from_an_openai_usage_object() -> None:
    usage = Usage.from_openai(
        {
            "prompt_tokens": 1000,
            "completion_tokens": 500,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 400},
            "completion_tokens_details": {"reasoning_tokens": 300},
        }
    )
    assert usage == MIXED
    assert Usage.from_openai({"prompt_tokens": 7, "completion_tokens": 3}) == Usage(7, 3)
    assert Usage.from_openai(None) is None
    assert Usage.from_dict(MIXED.to_dict()) == MIXED


def test_judge_ledger_worst_case_and_estimate() -> None:
    prices = TokenPrices(input=3.00, cached_input=0.30, output=15.00)
    # no prompt token cached, every output token at the output price: 300 + 15000
    assert worst_case_usd(prices, 100, 1000) == pytest.approx(0.0153)
    # a dearer reasoning price makes every output token potentially reasoning: 300 + 60000
    thinking = TokenPrices(input=3.00, output=15.00, reasoning=60.00)
    assert worst_case_usd(thinking, 100, 1000) == pytest.approx(0.0603)
    assert worst_case_usd(TokenPrices(), 100, 1000) is None
    estimate = JudgeEstimate()
    estimate.add(prices, 100, 1000, cached=False)
    estimate.add(prices, 100, 1000, cached=True)  # free
    assert estimate.cost_low_usd == pytest.approx(0.0003)
    assert estimate.cost_high_usd == pytest.approx(0.0153)


def test_panel_prices_in_either_naming(tmp_path: Path) -> None:
    shipped = {j.name: j.prices for j in load_panel(JUDGES_DIR, "default").judges}
    assert shipped["gpt-4o"] == TokenPrices(input=2.50, cached_input=1.25, output=10.00)
    (tmp_path / "panels").mkdir()
    judge = "  - {name: j, provider: p, base_url: 'http://h/v1', model: m, prices: %s}\n"
    (tmp_path / "panels" / "litellm.yaml").write_text(
        "name: litellm\njudges:\n"
        + judge % "{input_cost_per_token: 3.0e-06, output_cost_per_token: 1.5e-05}"
    )
    prices = load_panel(tmp_path, "litellm").judges[0].prices
    assert prices == TokenPrices(input=3.0, output=15.0)
    (tmp_path / "panels" / "typo.yaml").write_text(
        "name: typo\njudges:\n" + judge % "{input: 3.0, outptu: 15.0}"
    )
    with pytest.raises(JudgeConfigError, match="outptu"):
        load_panel(tmp_path, "typo")
