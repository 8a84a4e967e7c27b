"""Token-level routing (collaborative decoding): a small model decodes, a large model writes the
tokens a router flags.

Roles: ``small`` and ``large``, both ``/v1/completions`` endpoints. The small model writes
chunks of ``chunk`` tokens with ``top_logprobs`` alternatives per token; at the first token of a
chunk the router flags, the small model's tokens before it are kept and the large model is asked
for ``span`` tokens from that prefix; then the small model goes on from the new prefix. This
repeats until a model stops or the small stage's ``max_tokens`` (the answer's token budget) is
spent. The small stage's template renders the prompt; the large stage gives the large model's
sampling parameters.

Prompts are text by default: each model re-tokenizes the prefix. ``prompt_mode=tokens`` sends
token ids instead (the prefix tokenized by the small server's tokenize endpoint), allowed only
when both servers tokenize a probe text to the same ids; otherwise the run is refused.

Options (``eval --router top1 --threshold 0.5 --chunk-tokens 8 --span-tokens 1 --rtt-ms 40``;
declared in :mod:`hawkeye_bench.pipelines.route_options`): ``router``, ``threshold``,
``chunk``, ``span``, ``top_logprobs``, ``rtt_ms`` (a fixed delay before each large call,
emulating a device-to-cloud link), ``prompt_mode``, and the model sizes
``small_params``/``large_params`` (any unit, e.g. billions) for activated parameters per token.
``target_share`` (instead of ``threshold``) finds, before the run, the threshold that flags
that share of the small model's own tokens on the first ``calibration_problems`` questions
(:mod:`hawkeye_bench.routing.calibrate`); the search and its result are the run's
``pipeline_setup``.

The trace holds one stage per call, in order. A small stage's ``content`` is the part of its
reply that entered the answer and ``completion_tokens`` counts those tokens (``token_source``
``logprobs``); what it wrote past the routed token is counted in ``trace.extra["route"]``
(:class:`~hawkeye_bench.routing.facts.RouteFacts`: ``discarded_small_tokens``), with the routed
share, route events, uploaded context, cached prompt tokens, call counts and the time split
(see :meth:`RoutePipeline.route_info`). A failed
call ends the item with that call's error (a typed ``error_type``); a small reply without
logprobs is the error ``missing_logprobs``, one with unusable logprobs (null, NaN, positive,
lists of different lengths) the client's ``malformed_logprobs``, never a routing decision;
the text decided so far is kept as ``partial_text``, never graded: no answer is ever cut short
silently. ``answer_roles``: both roles' text is the answer (``serve`` streams it all as
content, as it is decided).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.trace import StageResult, TokenLogprob, Trace
from hawkeye_bench.endpoints.client import TokenizeFailed
from hawkeye_bench.pipelines.base import DeltaCallback, Pipeline, RoleSpec
from hawkeye_bench.pipelines.prompts import StagePrompt
from hawkeye_bench.pipelines.route_decoding import (
    Decoding,
    emit,
    first_flagged,
    reply_choice,
    route_event,
)
from hawkeye_bench.pipelines.route_options import RouteOptions
from hawkeye_bench.routing import RouteDecision, RouterSpec, get_router
from hawkeye_bench.routing.calibrate import CalibrationReply, search_threshold
from hawkeye_bench.routing.facts import RouteFacts

#: The text both servers must tokenize to the same ids before token-id prompts are used.
TOKENIZER_PROBE = "Routing probe: 12,345 tokens; naïve café ü → ∑ (x²)!"


class TokenizerMismatch(HawkeyeError):
    """Token-id prompts asked for, but the two servers do not share a tokenizer."""


class RouteSetupError(HawkeyeError):
    """The route pipeline cannot run with these endpoints (e.g. no tokenize endpoint)."""


class RoutePipeline(Pipeline):
    name = "route"
    display_name = "Token routing"
    description = (
        "a small model decodes; a router sends the tokens it is unsure of to a large model "
        "(collaborative decoding)"
    )
    role_specs = (
        RoleSpec("small", "the small (on-device) model that decodes", ("completion",)),
        RoleSpec("large", "the large (cloud) model that writes the routed tokens", ("completion",)),
    )
    options = RouteOptions
    settings: RouteOptions
    default_preset = "route"
    dataset_presets: ClassVar[Mapping[str, str]] = {"commonsenseqa": "route-commonsenseqa"}
    #: every role's text is part of the answer (``serve`` streams it all as content)
    answer_roles = ("small", "large")
    #: chunks of ``chunk`` tokens and spans of ``span`` end at their limit by design
    chunked_roles = ("small", "large")

    def configure(self) -> None:
        settings = self.settings
        self.router: RouterSpec = get_router(settings.router)
        threshold = settings.threshold
        self.threshold = float(self.router.default_threshold if threshold is None else threshold)
        self.chunk = settings.chunk
        self.span = settings.span
        self.top_logprobs = settings.top_logprobs
        self.rtt_s = float(settings.rtt_ms) / 1000
        self.prompt_mode = settings.prompt_mode
        self.small_params = settings.small_params
        self.large_params = settings.large_params
        self.only = settings.only
        self.target_share = settings.target_share
        self.calibration_problems = settings.calibration_problems
        self._calibrated = False
        self._shared_tokenizer: bool | None = None
        self._tokenizer_lock = asyncio.Lock()

    async def run(
        self, question: str, *, seed: int | None = None, on_delta: DeltaCallback | None = None
    ) -> Trace:
        small_stage, large_stage = self.preset.stage("small"), self.preset.stage("large")
        if self.target_share is not None and not self._calibrated and self.only is None:
            raise RouteSetupError(
                "a target share needs a calibration before the run (hawkeye-bench eval or "
                "route-sweep do it); give a threshold here"
            )
        if self.prompt_mode == "tokens":
            await self._check_shared_tokenizer()
        decide = self.router.build(self.threshold, random.Random(f"{seed}:{question}"))
        state = Decoding(prompt=small_stage.render(question, ""))
        trace = Trace(pipeline=self.name)
        started = time.perf_counter()
        budget = small_stage.max_tokens
        if self.only is not None:
            await self._anchor(state, trace, small_stage, large_stage, seed, on_delta)
        while not state.finished and state.generated < budget:
            small = await self._small_call(state, small_stage, seed, budget)
            trace.stages.append(small)
            if not small.ok:
                break
            tokens = small.token_logprobs or []
            if not tokens and not state.pieces and not small.content:
                small.error = "the small model's first chunk was empty: no answer to grade"
                small.error_type = "empty_first_chunk"
                break
            view = reply_choice(small) if self.router.reads_choice else None
            flagged = first_flagged(tokens, decide, view)
            await self._keep_small(state, small, tokens, flagged, on_delta)
            if flagged is None:
                state.finished = small.finish_reason != "length" or not tokens
                continue
            index, decision = flagged
            span = min(self.span, budget - state.generated)
            large = await self._large_call(state, large_stage, seed, span)
            trace.stages.append(large)
            if not large.ok:
                break
            state.events.append(route_event(state, tokens[index], decision, large))
            await self._keep_large(state, large, on_delta)
        facts = self.route_info(state, time.perf_counter() - started)
        if trace.ok:
            trace.final_text = state.text.strip()
        else:  # never graded as if it were the answer: the record carries the error
            facts.partial_text = state.text
        facts.store(trace)
        return trace

    async def _anchor(
        self,
        state: Decoding,
        trace: Trace,
        small_stage: StagePrompt,
        large_stage: StagePrompt,
        seed: int | None,
        on_delta: DeltaCallback | None,
    ) -> None:
        """An anchor: the whole answer from one model, one call, on the same prompt."""
        state.finished = True
        budget = small_stage.max_tokens
        if self.only == "small":
            began = time.perf_counter()
            result = await self._complete("small", state, small_stage, seed, budget, {})
            state.small_s += time.perf_counter() - began
            state.small_calls += 1
            trace.stages.append(result)
            if result.ok:
                state.small_tokens = result.completion_tokens or 0
                if result.completion_tokens is None:
                    state.large_tokens = None  # the share is unknown without a count
                await emit(state, on_delta, "small", result.content)
            return
        result = await self._large_call(state, large_stage, seed, budget)
        trace.stages.append(result)
        if result.ok:
            await self._keep_large(state, result, on_delta)

    async def prepare(
        self, questions: Sequence[str], previous: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """With a target share: the threshold that flags it on the small model's own answers
        to the first questions (a resumed run keeps the one it found)."""
        if self.target_share is None or self.only is not None:
            return None
        if previous and previous.get("target_share") == self.target_share:
            self.threshold = float(previous["threshold"])
            self._calibrated = True
            return dict(previous)
        stage = self.preset.stage("small")
        calls = [
            self.clients["small"].complete(
                stage.render(question, ""),
                role="small",
                max_tokens=stage.max_tokens,
                temperature=stage.temperature,
                top_p=stage.top_p,
                seed=number,
                stop=list(stage.stop) or None,
                extra={**stage.extra_body, "logprobs": self.top_logprobs},
            )
            for number, question in enumerate(questions[: self.calibration_problems])
        ]
        replies = [
            CalibrationReply(
                r.token_logprobs, reply_choice(r) if self.router.reads_choice else None
            )
            for r in await asyncio.gather(*calls)
            if r.ok and r.token_logprobs
        ]
        if not replies:
            raise RouteSetupError(
                "the target share's calibration got no answer with logprobs from the small "
                "model; give a threshold"
            )
        found = search_threshold(self.router, replies, self.target_share)
        self.threshold = found.threshold
        self._calibrated = True
        return found.to_json()

    # -- the two kinds of call -----------------------------------------------------------------

    async def _small_call(
        self, state: Decoding, stage: StagePrompt, seed: int | None, budget: int
    ) -> StageResult:
        max_tokens = min(self.chunk, budget - state.generated)
        extra = {**stage.extra_body, "logprobs": self.top_logprobs}
        began = time.perf_counter()
        result = await self._complete("small", state, stage, seed, max_tokens, extra)
        state.small_s += time.perf_counter() - began
        state.small_calls += 1
        if result.ok and not result.token_logprobs and result.content:
            result.error = "the small model's reply carried no per-token logprobs"
            result.error_type = "missing_logprobs"
        return result

    async def _large_call(
        self, state: Decoding, stage: StagePrompt, seed: int | None, max_tokens: int
    ) -> StageResult:
        if self.rtt_s:
            began = time.perf_counter()
            await asyncio.sleep(self.rtt_s)
            state.delay_s += time.perf_counter() - began
        began = time.perf_counter()
        result = await self._complete("large", state, stage, seed, max_tokens, stage.extra_body)
        state.large_s += time.perf_counter() - began
        state.large_calls += 1
        if result.ok:
            await self._count_upload(state, result)
        return result

    async def _complete(
        self,
        role: str,
        state: Decoding,
        stage: StagePrompt,
        seed: int | None,
        max_tokens: int,
        extra: Mapping[str, Any],
    ) -> StageResult:
        prefix = state.prompt + state.text
        prompt: str | list[int] = prefix
        if self.prompt_mode == "tokens":
            state.tokenize_calls += 1
            try:
                ids = await self.clients["small"].token_ids(prefix)  # type: ignore[attr-defined]
            except TokenizeFailed as exc:
                ids, why = None, str(exc)
            else:
                why = "it has none any more"
            if ids is None:
                endpoint = getattr(self.clients["small"], "endpoint", None)
                return StageResult(
                    role=role,
                    model=getattr(endpoint, "model", ""),
                    error=f"the small server's tokenize endpoint failed: {why}",
                    error_type="tokenize_failed",
                )
            prompt = list(ids)
        return await self.clients[role].complete(
            prompt,  # type: ignore[arg-type]
            role=role,
            max_tokens=max_tokens,
            temperature=stage.temperature,
            top_p=stage.top_p,
            seed=seed,
            stop=list(stage.stop) or None,
            extra=dict(extra) or None,
        )

    async def _count_upload(self, state: Decoding, large: StageResult) -> None:
        """Add the prefix the large model was sent: its usage, else its tokenizer's count."""
        state.cached.append(large.cached_prompt_tokens)
        sent = large.prompt_tokens
        if sent is None:
            prompt = large.request.get("prompt")
            if isinstance(prompt, list):
                sent = len(prompt)
            else:
                counter = getattr(self.clients["large"], "count_text_tokens", None)
                counted = await counter(state.prompt + state.text) if counter else None
                sent = counted[0] if counted is not None else None
        state.uploaded = None if sent is None or state.uploaded is None else state.uploaded + sent

    # -- what enters the answer ----------------------------------------------------------------

    async def _keep_small(
        self,
        state: Decoding,
        small: StageResult,
        tokens: list[TokenLogprob],
        flagged: tuple[int, RouteDecision] | None,
        on_delta: DeltaCallback | None,
    ) -> None:
        """Keep the small reply up to the flagged token (all of it when none is flagged)."""
        kept = len(tokens) if flagged is None else flagged[0]
        text = small.content if flagged is None else "".join(t["token"] for t in tokens[:kept])
        state.discarded += len(tokens) - kept
        state.small_tokens += kept
        small.content = text
        small.completion_tokens = kept
        small.token_source = "logprobs"
        small.token_logprobs = None  # the decisions are in the route events; keep records small
        small.choice_fields = None
        await emit(state, on_delta, "small", text)

    async def _keep_large(
        self, state: Decoding, large: StageResult, on_delta: DeltaCallback | None
    ) -> None:
        count = large.completion_tokens
        state.large_tokens = (
            None if count is None or state.large_tokens is None else (state.large_tokens + count)
        )
        await emit(state, on_delta, "large", large.content)
        if large.finish_reason == "stop" or not large.content:
            state.finished = True

    # -- tokenizers ------------------------------------------------------------------------------

    async def _check_shared_tokenizer(self) -> None:
        """Refuse token-id prompts unless both servers tokenize the probe text alike (once)."""
        async with self._tokenizer_lock:
            if self._shared_tokenizer is None:
                ids = {}
                for role in self.roles:
                    getter = getattr(self.clients[role], "token_ids", None)
                    try:
                        found = await getter(TOKENIZER_PROBE) if getter is not None else None
                    except TokenizeFailed as exc:
                        raise RouteSetupError(
                            f"prompt_mode tokens needs the {role} server's tokenize endpoint, "
                            f"and it fails ({exc}); use text prompts"
                        ) from None
                    if found is None:
                        raise RouteSetupError(
                            f"prompt_mode tokens needs the {role} server's tokenize endpoint "
                            "(/tokenize or /extras/tokenize), and it has none; use text prompts"
                        )
                    ids[role] = found
                self._shared_tokenizer = ids["small"] == ids["large"]
                if not self._shared_tokenizer:
                    raise TokenizerMismatch(
                        "token-id prompts need one tokenizer on both models, but the small and "
                        f"large servers tokenize the probe text {TOKENIZER_PROBE!r} differently "
                        f"({len(ids['small'])} vs {len(ids['large'])} tokens, first ids "
                        f"{ids['small'][:6]} vs {ids['large'][:6]}); use text prompts "
                        "(the default) for models with different tokenizers"
                    )
        if not self._shared_tokenizer:
            raise TokenizerMismatch("the small and large servers do not share a tokenizer")

    # -- per item facts ----------------------------------------------------------------------------

    def route_info(self, state: Decoding, elapsed_s: float) -> RouteFacts:
        """The item's routing facts (``trace.extra["route"]``); a count the servers did not give
        is None."""
        large = state.large_tokens
        total = None if large is None else state.small_tokens + large
        calls = state.small_calls + state.large_calls
        cached = state.cached
        known_cached = [c for c in cached if c is not None]
        return RouteFacts(
            router=self.router.name,
            threshold=self.threshold,
            chunk=self.chunk,
            span=self.span,
            top_logprobs=self.top_logprobs,
            prompt_mode=self.prompt_mode,
            only=self.only,
            rtt_ms=self.rtt_s * 1000,
            small_tokens=state.small_tokens,
            large_tokens=large,
            tokens=total,
            routed_share=large / total if large is not None and total else None,
            route_events=len(state.events),
            events=list(state.events),
            discarded_small_tokens=state.discarded,
            uploaded_context_tokens=state.uploaded,
            cached_prompt_tokens=sum(known_cached)
            if cached and len(known_cached) == len(cached)
            else None,
            small_calls=state.small_calls,
            large_calls=state.large_calls,
            tokenize_calls=state.tokenize_calls,
            calls_per_100_tokens=(100 * calls / total) if total else None,
            small_s=state.small_s,
            large_s=state.large_s,
            delay_s=state.delay_s,
            end_to_end_s=elapsed_s,
            activated_params_per_token=self._activated(state.small_tokens, large, total),
            budget_spent=not state.finished,
        )

    def _activated(self, small: int, large: int | None, total: int | None) -> float | None:
        """(small tokens * P_small + large tokens * P_large) / tokens, when sizes are given."""
        if self.small_params is None or self.large_params is None or not total or large is None:
            return None
        return (small * float(self.small_params) + large * float(self.large_params)) / total
