"""A reply's ``usage`` object as the client reads it (``endpoints/reply.ReplyUsage``)."""

from __future__ import annotations

from hawkeye_bench.endpoints.reply import ReplyUsage


def test_every_count_of_an_openai_usage_object_is_read() -> None:
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 30,
        "completion_tokens_details": {"reasoning_tokens": 20},
        "prompt_tokens_details": {"cached_tokens": 8},
    }
    assert ReplyUsage.from_reply(usage) == ReplyUsage(30, 12, 20, 8)


def test_a_field_that_is_not_a_count_is_no_count() -> None:
    usage = {
        "prompt_tokens": -1,
        "completion_tokens": True,
        "completion_tokens_details": "20",
        "prompt_tokens_details": {"cached_tokens": 2.0},
    }
    assert ReplyUsage.from_reply(usage) == ReplyUsage()
    assert ReplyUsage.from_reply({"completion_tokens": 0}).completion_tokens == 0
