"""The route pipeline's flags (``eval --pipeline route`` and ``route-sweep``), range-checked,
and the pipeline options they give."""

from __future__ import annotations

import argparse
from typing import Any

from hawkeye_bench.commands.arguments import comma_list
from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.ranges import (
    int_between,
    non_negative_float,
    positive_float,
    positive_int,
    share,
)

#: The most top-k alternatives servers return by default (vLLM's --max-logprobs is 20).
MAX_TOP_LOGPROBS = 20


class RouteOptionsError(HawkeyeError):
    """Route flags that ``eval`` cannot run as given."""


def threshold_list(text: str) -> list[float]:
    """Comma-separated thresholds, each a finite number >= 0."""
    return comma_list(text, non_negative_float)


def open_share(text: str) -> float:
    """A share above 0 and below 1 (a routed share to aim at)."""
    value = share(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number above 0 and below 1, got {text!r}")
    return value


def open_share_list(text: str) -> list[float]:
    """Comma-separated shares, each above 0 and below 1."""
    return comma_list(text, open_share)


def add_route_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("route pipeline (token-level routing)")
    group.add_argument(
        "--router",
        help="which tokens the large model writes: top1, entropy, margin, random, or a "
        "plugin's (default top1)",
    )
    group.add_argument(
        "--threshold",
        type=threshold_list,
        help="the router's threshold (top1/margin: a probability; entropy: nats; random: the "
        "rate); route-sweep: several, comma-separated",
    )
    group.add_argument(
        "--target-share",
        type=open_share_list,
        help="instead of --threshold: find, before the run, the threshold that routes this "
        "share of tokens (0 to 1, exclusive) on a calibration subset; recorded in the manifest "
        "(route-sweep: several, comma-separated)",
    )
    group.add_argument(
        "--calibration-problems",
        type=positive_int,
        help="--target-share: the first N questions to calibrate on (default 8)",
    )
    group.add_argument(
        "--chunk-tokens", type=positive_int, help="tokens per small-model call (default 8)"
    )
    group.add_argument(
        "--span-tokens",
        type=positive_int,
        help="tokens the large model writes per route event (default 1)",
    )
    group.add_argument(
        "--top-logprobs",
        type=int_between(1, MAX_TOP_LOGPROBS),
        help=f"alternatives per token asked of the small model, 1 to {MAX_TOP_LOGPROBS} "
        "(default 5)",
    )
    group.add_argument(
        "--rtt-ms",
        type=non_negative_float,
        help="a fixed delay before each large-model call, emulating a device-to-cloud link",
    )
    group.add_argument(
        "--prompt-ids",
        action="store_true",
        default=None,
        help="send token ids instead of text (refused unless both servers share a tokenizer)",
    )
    group.add_argument(
        "--anchor",
        choices=["small", "large"],
        help="an anchor run: the whole answer from one model on the same prompt",
    )
    group.add_argument(
        "--small-params", type=positive_float, help="small model size, for activated parameters"
    )
    group.add_argument(
        "--large-params", type=positive_float, help="large model size (same unit as small)"
    )


def route_options(args: argparse.Namespace, *, sweep: bool = False) -> dict[str, Any]:
    """The route options the flags give (only those set). ``sweep``: leave the thresholds out
    (route-sweep runs each)."""
    thresholds = getattr(args, "threshold", None)
    if thresholds and len(thresholds) > 1 and not sweep:
        raise RouteOptionsError(
            f"eval runs one --threshold value, got {len(thresholds)}; "
            "hawkeye-bench route-sweep runs several"
        )
    shares = getattr(args, "target_share", None)
    if shares and len(shares) > 1 and not sweep:
        raise RouteOptionsError(
            f"eval runs one --target-share value, got {len(shares)}; "
            "hawkeye-bench route-sweep runs several"
        )
    given = {
        "router": getattr(args, "router", None),
        "threshold": None if sweep or not thresholds else thresholds[0],
        "chunk": getattr(args, "chunk_tokens", None),
        "span": getattr(args, "span_tokens", None),
        "top_logprobs": getattr(args, "top_logprobs", None),
        "rtt_ms": getattr(args, "rtt_ms", None),
        "prompt_mode": "tokens" if getattr(args, "prompt_ids", None) else None,
        "only": getattr(args, "anchor", None),
        "target_share": None if sweep or not shares else shares[0],
        "calibration_problems": getattr(args, "calibration_problems", None),
        "small_params": getattr(args, "small_params", None),
        "large_params": getattr(args, "large_params", None),
    }
    return {key: value for key, value in given.items() if value is not None}
