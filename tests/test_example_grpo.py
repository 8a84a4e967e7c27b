"""examples/grpo_hawkeye.py without TRL: its argument checks, the reward it builds and the
rows it gives the trainer, called as GRPOTrainer calls a reward (TRL needs torch: not in CI)."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "grpo_hawkeye.py"
RATIONALE = "Janet sells 16 - 3 - 4 = 9 eggs at 2 each: 9 * 2 = 18. #### 18"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("grpo_hawkeye", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_recipe_builds_both_rewards_of_the_ablation() -> None:
    example = _example()
    with pytest.raises(SystemExit):
        example.parse_args(["--out", "x"])  # neither a responder nor --no-responder
    responder = ["--responder-url", "http://127.0.0.1:9/v1", "--responder-model", "m"]
    with_b = example.build_reward(example.parse_args(["--out", "x", *responder]))
    assert with_b.__name__ == "hawkeye_upstream_reward" and with_b.responder is not None
    without_b = example.build_reward(example.parse_args(["--out", "x", "--no-responder"]))
    assert without_b.__name__ == "hawkeye_self_upstream_reward"
    assert not inspect.iscoroutinefunction(without_b)  # TRL calls it synchronously

    row = example.to_example({"question": "Janet's eggs?", "answer": RATIONALE})
    assert row["prompt"][-1] == {"role": "user", "content": "Janet's eggs?"}
    # as GRPOTrainer calls a reward: every column but "prompt", conversational completions
    columns = {k: [v] for k, v in row.items() if k != "prompt"}
    completion = [{"role": "assistant", "content": "9 eggs at 2 each: she makes 18 dollars"}]
    try:
        out = without_b(prompts=[row["prompt"]], completions=[completion],
                        completion_ids=[[1] * 12], trainer_state=None, **columns)  # fmt: skip
    finally:
        without_b.close()
    # 9 words against int(0.3 * 20) = 6 (the rationale's words): EM 1 - 0.01 * 3^2
    assert out == pytest.approx([1 - 0.09])
