"""The route pipeline's run options (``eval --pipeline route --router top1 --threshold 0.5``),
each declared once (see :mod:`hawkeye_bench.pipelines.options`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from hawkeye_bench.pipelines.options import (
    OptionValue,
    PipelineOptionError,
    PipelineOptions,
    choice,
    integer,
    number,
    open_share_kind,
    option,
    registered,
)
from hawkeye_bench.routing import UnknownRouter, get_router

PROMPT_MODES = ("text", "tokens")
#: ``only``: an anchor run, one call of the whole budget to one model on the same prompt
ANCHOR_ROLES = ("small", "large")
#: The most top-k alternatives servers return by default (vLLM's --max-logprobs is 20).
MAX_TOP_LOGPROBS = 20


@dataclass(frozen=True)
class RouteOptions(PipelineOptions):
    """The route pipeline's options; ``span=1`` is the seed paper's setting (one token per
    route event)."""

    sweep_command: ClassVar[str] = "route-sweep"

    router: str = option(
        registered("a router", get_router),
        "top1",
        "which tokens the large model writes: top1, entropy, margin, random, or a plugin's",
        sweeps=True,
    )
    threshold: float | None = option(
        number(),
        None,
        "the router's threshold (top1/margin: a probability; entropy: nats; random: the rate; "
        "default: the router's)",
        sweeps=True,
    )
    target_share: float | None = option(
        open_share_kind(),
        None,
        "instead of --threshold: find, before the run, the threshold that routes this share of "
        "tokens (0 to 1, exclusive) on a calibration subset; recorded in the manifest",
        sweeps=True,
    )
    calibration_problems: int = option(
        integer(1), 8, "--target-share: the first N questions (the run's first) to calibrate on"
    )
    chunk: int = option(integer(1), 8, "tokens per small-model call", flag="--chunk-tokens")
    span: int = option(
        integer(1), 1, "tokens the large model writes per route event", flag="--span-tokens"
    )
    top_logprobs: int = option(
        integer(1, MAX_TOP_LOGPROBS), 5, "alternatives per token asked of the small model"
    )
    rtt_ms: float = option(
        number(),
        0.0,
        "a fixed delay before each large-model call, emulating a device-to-cloud link",
    )
    prompt_mode: str = option(
        choice(*PROMPT_MODES),
        PROMPT_MODES[0],
        "send token ids instead of text (refused unless both servers share a tokenizer)",
        flag="--prompt-ids",
        switch="tokens",
    )
    only: str | None = option(
        choice(*ANCHOR_ROLES, what="small or large (an anchor run)"),
        None,
        "an anchor run: the whole answer from one model on the same prompt",
        flag="--anchor",
    )
    small_params: float | None = option(
        number(positive=True), None, "small model size, for activated parameters"
    )
    large_params: float | None = option(
        number(positive=True), None, "large model size (same unit as small)"
    )

    def check_together(self, given: Mapping[str, OptionValue]) -> None:
        """The threshold in the router's range; a threshold or a target share, not both."""
        router = get_router(self.router)
        try:
            router.check_threshold(
                router.default_threshold if self.threshold is None else self.threshold
            )
        except UnknownRouter as exc:
            raise PipelineOptionError(str(exc)) from None
        if self.target_share is not None and "threshold" in given:
            raise PipelineOptionError("give a threshold or a target share, not both")
