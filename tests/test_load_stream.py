"""StreamMeter: SSE lines -> per-chunk timing and token counts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hawkeye_bench.load.records import RequestRecord
from hawkeye_bench.load.stream import WRONG_SHAPE, StreamMeter


def sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n".encode()


def delta(usage: int | None = None, **fields: str) -> dict[str, Any]:
    event: dict[str, Any] = {"choices": [{"index": 0, "delta": fields, "finish_reason": None}]}
    if usage is not None:
        event["usage"] = {"prompt_tokens": 3, "completion_tokens": usage}
    return event


def feed_all(meter: StreamMeter, lines: list[tuple[float, bytes]]) -> bool:
    done = False
    for t, line in lines:
        done = meter.feed(line, t) or done
    return done


def test_role_chunk_is_ack_not_ttft_and_channels_are_split() -> None:
    meter = StreamMeter(t_send=10.0)
    done = feed_all(
        meter,
        [
            (10.001, sse(delta(role="assistant", content=""))),
            (10.001, b"\n"),
            (10.100, sse(delta(reasoning_content="think"))),
            (10.120, sse(delta(reasoning="more"))),  # the other reasoning field name
            (10.140, sse(delta(content="answer"))),
            (10.160, sse({"choices": [], "usage": {"completion_tokens": 5, "prompt_tokens": 3}})),
            (10.161, sse("[DONE]")),
        ],
    )
    assert done
    assert round(meter.tt_ack_ms, 3) == 1.0
    assert round(meter.first_ms(), 3) == 100.0
    assert round(meter.first_ms("r"), 3) == 100.0
    assert round(meter.first_ms("c"), 3) == 140.0
    assert round(meter.last_token_ms(), 3) == 140.0  # the usage-only chunk is not a token
    assert round(meter.done_ms, 3) == 161.0
    assert meter.output_tokens() == (5, "usage")
    assert meter.reasoning_tokens() == (2, "chunks")  # usage has no details: counted
    assert [c.channel for c in meter.chunks] == ["r", "r", "c"]


def test_continuous_usage_gives_tokens_per_chunk() -> None:
    meter = StreamMeter(t_send=0.0)
    feed_all(
        meter,
        [
            (0.001, sse(delta(usage=0, role="assistant"))),
            (0.1, sse(delta(usage=3, content="a b c"))),
            (0.2, sse(delta(usage=3, content=""))),  # empty delta: no token, no chunk
            (0.3, sse(delta(usage=5, content="d e"))),
        ],
    )
    assert [c.tokens for c in meter.chunks] == [3, 2]
    assert meter.continuous_usage
    assert meter.output_tokens() == (5, "usage")


def test_without_usage_tokens_are_counted_chunks() -> None:
    meter = StreamMeter(t_send=0.0)
    feed_all(meter, [(0.1, sse(delta(content="a b"))), (0.2, sse(delta(content="c d")))])
    assert meter.output_tokens() == (2, "chunks")
    assert [c.tokens for c in meter.chunks] == [1, 1]
    assert meter.done_ms is None


def test_inline_think_counts_as_reasoning_until_closed() -> None:
    meter = StreamMeter(t_send=0.0)
    feed_all(
        meter,
        [
            (0.1, sse(delta(content="<thi"))),
            (0.2, sse(delta(content="nk> step"))),
            (0.3, sse(delta(content=" done</think>"))),
            (0.4, sse(delta(content="42"))),
        ],
    )
    assert [c.channel for c in meter.chunks] == ["r", "r", "r", "c"]
    assert round(meter.first_ms("c"), 3) == 400.0


def test_error_event_and_malformed_line_are_errors() -> None:
    meter = StreamMeter(t_send=0.0)
    feed_all(meter, [(0.1, sse({"error": {"message": "upstream cut"}}))])
    assert meter.error == "upstream cut"
    meter = StreamMeter(t_send=0.0)
    feed_all(meter, [(0.1, b'data: {"choices": [\n')])
    assert meter.error is not None and "malformed" in meter.error


def test_server_stamp_gives_delivery_lag() -> None:
    meter = StreamMeter(t_send=5.0)
    event = delta(content="x") | {"x_sent_perf": 5.0995}
    meter.feed(sse(event), 5.1)
    assert abs(meter.chunks[0].lag_ms - 0.5) < 1e-6


def test_record_fill_from_meter_round_trips_json() -> None:
    meter = StreamMeter(t_send=1.0)
    feed_all(
        meter,
        [
            (1.002, sse(delta(role="assistant"))),
            (1.1, sse(delta(usage=1, content="a"))),
            (1.12, sse(delta(usage=2, content="b"))),
            (1.13, sse("[DONE]")),
        ],
    )
    record = RequestRecord(t_send_wall=0.0, t_send_perf=1.0, pid=1, seq=0)
    record.fill_from(meter)
    again = RequestRecord.from_dict(json.loads(record.to_json()))
    assert again == record
    assert again.chunk_tokens_source == "usage"
    assert again.output_tokens == 2 and again.output_tokens_source == "usage"
    assert again.chunks == [[100.0, 1, "c"], [120.0, 1, "c"]]
    assert round(again.ttft_content_ms, 3) == 100.0 and again.ttft_reasoning_ms is None


WRONG_SHAPES = [
    '{"choices": "nope"}',
    '{"choices": [null]}',
    '{"choices": [{"delta": "str"}]}',
    '{"choices": [{"delta": {"content": 5}}]}',
    '{"choices": [{"delta": {"reasoning_content": ["a"]}}]}',
    '{"choices": [{"delta": {}, "finish_reason": 3}]}',
]


@pytest.mark.parametrize("payload", WRONG_SHAPES)
def test_a_chunk_of_the_wrong_shape_is_an_error_not_an_exception(payload: str) -> None:
    meter = StreamMeter(t_send=0.0)
    done = feed_all(
        meter,
        [
            (0.01, sse(delta(content="a"))),
            (0.02, sse(payload)),
            (0.03, sse(delta(content="b"))),
            (0.04, sse("[DONE]")),
        ],
    )
    assert done  # read to the end: the connection stays usable
    assert meter.error is not None and meter.error.startswith(WRONG_SHAPE)
    assert [c.t_ms for c in meter.chunks] == pytest.approx([10.0, 30.0])  # the bad one skipped
