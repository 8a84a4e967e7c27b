"""Token usage as a provider reported it (``cost/pricing.Usage``) through its JSON form."""

from __future__ import annotations

import json

from hawkeye_bench.cost.pricing import Usage


def test_usage_round_trips_through_json() -> None:
    usage = Usage(prompt_tokens=10, completion_tokens=5, cached_tokens=None, reasoning_tokens=2)
    assert Usage.from_dict(json.loads(json.dumps(usage.to_dict()))) == usage


def test_usage_as_written_before_and_with_fields_missing_or_unknown_still_loads() -> None:
    assert Usage.from_dict({"prompt_tokens": 3, "completion_tokens": 1}) == Usage(3, 1)
    assert Usage.from_dict({"prompt_tokens": 3, "audio_tokens": 7}) == Usage(prompt_tokens=3)
    assert Usage.from_dict(None) is None
