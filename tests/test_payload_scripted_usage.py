"""The scripted server's ``usage`` object (``ScriptedUsage``) round-trips through its JSON."""

from __future__ import annotations

import json

from hawkeye_bench.testing.scripted_server import ScriptedUsage


def test_usage_round_trips_and_keeps_the_openai_form() -> None:
    for usage in (ScriptedUsage(5, 7), ScriptedUsage(5, 7, reasoning_tokens=3)):
        assert ScriptedUsage.from_json(json.loads(json.dumps(usage.to_json()))) == usage
    assert ScriptedUsage(5, 7).to_json() == {
        "prompt_tokens": 5,
        "completion_tokens": 7,
        "total_tokens": 12,
    }
    assert ScriptedUsage(5, 7, 3).to_json()["completion_tokens_details"] == {"reasoning_tokens": 3}


def test_usage_as_the_server_wrote_it_before_loads() -> None:
    old = {
        "prompt_tokens": 4,
        "completion_tokens": 9,
        "total_tokens": 13,
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    assert ScriptedUsage.from_json(old) == ScriptedUsage(4, 9, 2)
    assert ScriptedUsage.from_json(old).to_json() == old
