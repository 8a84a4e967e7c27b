"""Round trip of a line of ``rewards.jsonl`` (what `hawkeye-bench reward` writes)."""

from __future__ import annotations

import json

from hawkeye_bench.commands.reward_scores import RewardRow, Scores


def test_reward_row_round_trip_and_old_form() -> None:
    scores = Scores(values={"kimi": [0.5, None]}, extra={"hawkeye_em": [1.0, 0.0]})
    rows = scores.rows(["gsm8k/0", "gsm8k/1"], [0, 1], [12, None])
    data = rows[0].to_json()
    assert list(data) == ["id", "sample", "completion_tokens", "hawkeye_em", "kimi"]
    assert RewardRow.from_json(json.loads(json.dumps(data))) == rows[0]
    old = {"id": "gsm8k/1", "sample": 1, "completion_tokens": None, "think": 1.0}
    loaded = RewardRow.from_json(old)
    assert loaded.scores == {"think": 1.0} and loaded.to_json() == old
