"""record.extra["overthinking"] (eval.analyses.Overthinking) through its JSON form."""

from __future__ import annotations

import json

from hawkeye_bench.eval.analyses import Overthinking


def test_overthinking_round_trips_through_json() -> None:
    measure = Overthinking(
        total=11, max_prefixes=8, prefixes_graded=2, first_correct_at=5,
        share_after_first_correct=6 / 11,
    )  # fmt: skip
    assert Overthinking.from_json(json.loads(json.dumps(measure.to_json()))) == measure
    never = Overthinking(total=20, max_prefixes=4, prefixes_graded=4)
    assert Overthinking.from_json(json.loads(json.dumps(never.to_json()))) == never


def test_overthinking_reads_the_form_written_before_the_type() -> None:
    old = {
        "unit": "words",
        "total": 11,
        "first_correct_at": 5,
        "share_after_first_correct": 0.5454545454545454,
        "prefixes_graded": 2,
        "max_prefixes": 8,
    }
    measure = Overthinking.from_json(old)
    assert measure.first_correct_at == 5 and measure.prefixes_graded == 2
    assert measure.to_json() == old
