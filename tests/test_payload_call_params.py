"""One call's parameters (``endpoints/call_params.py``): what of them goes into the request."""

from __future__ import annotations

from hawkeye_bench.endpoints.call_params import CallParams, sampling_body


def test_only_the_sampling_parameters_set_are_sent_in_their_order() -> None:
    params: CallParams = {
        "role": "single",
        "max_tokens": 16,
        "temperature": None,
        "top_p": 0.9,
        "seed": 0,
        "stop": ["\n"],
        "extra": {"logprobs": 2},
        "on_delta": None,
    }
    assert sampling_body(params) == {"max_tokens": 16, "top_p": 0.9, "seed": 0, "stop": ["\n"]}
    assert list(sampling_body(params)) == ["max_tokens", "top_p", "seed", "stop"]


def test_a_call_with_only_the_required_parameters_sends_max_tokens() -> None:
    assert sampling_body({"role": "single", "max_tokens": 4}) == {"max_tokens": 4}
