"""Hawkeye's GRPO reward: ``R = EM(â, a) − λ·max(0, len(c) − α·len(c_orig))²``.

The policy's completion ``c`` is a chain of thought; the frozen responder model turns the
question and ``c`` into an answer ``â`` (the preset's ``responder`` stage, sent through the
harness's endpoint client), which the harness's grader compares with the gold answer ``a``.

Two variants:

- ``paper``: lengths in tokens (``completion_ids`` as TRL passes them, else the ``tokenizer``
  callable given), ``c_orig`` = the original chain of thought (dataset column
  ``original_cot_tokens``, a count, or ``original_cot``, a text), target ``α·len(c_orig)``;
- ``upstream`` (the released training code): lengths in whitespace words, ``c_orig`` = the
  gold rationale (dataset column ``answer``, GSM8K style), target ``int(α·words)``.

Both default to α = 0.3 and λ = 0.01 (the paper states no λ; the code uses 0.01). λ is per
squared unit of excess: the penalty equals one whole EM point at sqrt(1/λ) units over the
target (10 tokens or words at λ = 0.01, 100 at λ = 1e-4), so λ has to be chosen for the unit.
At λ = 0.01, paper variant on GSM8K (original CoT ≈ 331 tokens, target ≈ 99): the poster's
171-token CoT is penalised 0.01·72² ≈ 51; upstream (median gold rationale 49 words, target 14):
a 60-word CoT 0.01·46² ≈ 21. Such penalties dwarf EM ∈ {0, 1}; the poster's reward curve
(≈ −650 to +100) suggests EM was scaled by 100 there.

``HawkeyeReward.without_responder(...)`` is the ablation "without a small model": EM of the
policy's own completion (graded as the answer) minus the same penalty, no responder call.

A failed responder call or grading, or a sample without a gold answer, gives ``None`` for that
sample (TRL skips it); failures are counted on the instance and logged with ``log_metric``.
``HawkeyeReward`` is synchronous (its calls run on a private event-loop thread);
``AsyncHawkeyeReward`` is ``async def`` for trainers that await rewards. Instances pickle: the
responder is kept as plain settings and clients are created lazily, never pickled: the
synchronous call keeps one on its private loop until ``close()`` (or until the reward is
garbage-collected), an awaited call opens and closes one around each call.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from hawkeye_bench.core.trace import StageResult
from hawkeye_bench.endpoints.call_params import CallParams
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.endpoints.pool import ClientPool, PoolClient
from hawkeye_bench.grading.workers import grade_many
from hawkeye_bench.pipelines.base import send_stage
from hawkeye_bench.presets import StagePrompt, load_preset
from hawkeye_bench.rewards.base import (
    Reward,
    RewardBatch,
    completion_text,
    finite_number,
    missing_gold,
)
from hawkeye_bench.rewards.hawkeye_terms import (
    VariantName,
    column,
    gold_answer,
    length_penalty,
    mean_of,
    prompt_text,
    variant_spec,
)
from hawkeye_bench.rewards.loop_thread import LoopThread

log = logging.getLogger(__name__)

Tokenizer = Callable[[str], Any]  # text -> token ids (a sequence) or a count


class HawkeyeReward(Reward):
    """Hawkeye's reward in TRL's calling convention (synchronous ``__call__``; ``acall`` is the
    same call awaited on the caller's event loop).

    ``responder``: an :class:`Endpoint` or its settings as a mapping (``base_url``, ``model``,
    ...); None: the ablation without a responder, the policy's completion is graded as its
    own answer (:meth:`without_responder`). ``preset``: a preset name or path whose
    ``responder`` stage prompts it.
    ``question_column``: the dataset column with the question put in the responder's prompt
    (``question``); where the batch has no such column, the prompt's text (its last user
    message) is used.
    ``concurrency``: at most this many responder calls at once (the whole batch is sent
    together up to that bound).
    """

    def __init__(
        self,
        responder: Endpoint | Mapping[str, Any] | None,
        *,
        variant: VariantName = "paper",
        preset: str = "default",
        alpha: float = 0.3,
        penalty: float = 0.01,
        tokenizer: Tokenizer | None = None,
        reference_column: str | None = None,
        gold_column: str | None = None,
        dataset_column: str = "dataset",
        question_column: str | None = "question",
        concurrency: int = 64,
        name: str | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1, not {concurrency!r}")
        alpha = finite_number("alpha", alpha, minimum=0.0)
        penalty = finite_number("penalty", penalty, minimum=0.0)
        self.spec = variant_spec(variant)
        self.variant: VariantName = self.spec.name
        self.responder: Endpoint | None
        if responder is None or isinstance(responder, Endpoint):
            self.responder = responder
        else:
            self.responder = Endpoint(**{"name": "responder", **dict(responder)})
        self.preset = preset
        self.stage: StagePrompt = load_preset(preset).stage("responder")
        self.alpha, self.penalty = alpha, penalty
        self.tokenizer = tokenizer
        self.reference_columns = (
            (reference_column,) if reference_column else (self.spec.reference_columns)
        )
        self.gold_columns = (gold_column,) if gold_column else self.spec.gold_columns
        self.dataset_column = dataset_column
        self.question_column = question_column
        self.concurrency = concurrency
        alone = "" if self.responder is not None else "self_"
        self.__name__ = name or f"hawkeye_{alone}{self.variant}_reward"
        #: cumulative counts over every call: responder calls made, samples scored None by cause
        self.responder_calls = 0
        self.responder_failures = 0
        self.grade_failures = 0
        self.missing_reference = 0
        self.missing_gold = 0
        self._loop_thread: LoopThread | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._lock = threading.Lock()

    @classmethod
    def paper(cls, responder: Endpoint | Mapping[str, Any], **options: Any) -> HawkeyeReward:
        """The paper's variant: tokens, reference = the original chain of thought."""
        return cls(responder, variant="paper", **options)

    @classmethod
    def upstream(cls, responder: Endpoint | Mapping[str, Any], **options: Any) -> HawkeyeReward:
        """The released code's variant: whitespace words, reference = the gold rationale."""
        return cls(responder, variant="upstream", **options)

    @classmethod
    def without_responder(cls, variant: VariantName = "paper", **options: Any) -> HawkeyeReward:
        """The ablation without a small model: EM of the policy's own completion (graded as
        the answer) minus the same length penalty; no responder call."""
        return cls(None, variant=variant, **options)

    # -- pickling: settings only ---------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("_loop_thread", "_finalizer", "_lock"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._loop_thread = None
        self._finalizer = None
        self._lock = threading.Lock()

    # -- the calls -----------------------------------------------------------------------------

    def score(self, batch: RewardBatch) -> list[float | None]:
        _prompts, _completions, _completion_ids, _columns = batch.unpack()
        with self._lock:
            if self._loop_thread is None:
                self._loop_thread = LoopThread()
                # a reward dropped without close() still closes its sessions and thread
                self._finalizer = weakref.finalize(self, self._loop_thread.shutdown)
            runner = self._loop_thread
        return runner.run(self.ascore(batch))

    async def acall(
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        """The reward, awaited on the running event loop."""
        return await self.ascore(
            RewardBatch.of(self.__name__, prompts, completions, completion_ids, kwargs)
        )

    async def ascore(self, batch: RewardBatch) -> list[float | None]:
        prompts, completions, completion_ids, columns = batch.unpack()
        n = len(completions)
        texts = [completion_text(c) for c in completions]
        sizes = self.lengths(texts, completion_ids)
        references = self.references(columns, n)
        golds = column(columns, self.gold_columns, n)
        if golds is None:
            raise ValueError(
                f"{self.__name__} needs the gold answers: a dataset column "
                f"({' or '.join(self.gold_columns)})"
            )
        questions = column(columns, (self.question_column,), n) if self.question_column else None
        if questions is None:
            questions = [prompt_text(p) for p in prompts]
        datasets = column(columns, (self.dataset_column,), n) or [None] * n
        em = await self.exact_match([str(q) for q in questions], texts, golds, datasets)
        penalties = [
            None
            if ref is None
            else length_penalty(
                size,
                ref,
                alpha=self.alpha,
                penalty=self.penalty,
                floor_target=self.spec.floor_target,
            )
            for size, ref in zip(sizes, references, strict=True)
        ]
        self.missing_reference += sum(ref is None for ref in references)
        rewards = [
            None if e is None or p is None else e - p for e, p in zip(em, penalties, strict=True)
        ]
        self._log(columns, em, sizes, penalties, rewards)
        return rewards

    # -- the terms -----------------------------------------------------------------------------

    def _count(self, text: str) -> int:
        if self.spec.unit == "words":
            return len(text.split())
        if self.tokenizer is None:
            raise ValueError(
                f"{self.__name__}: lengths in tokens need completion_ids (TRL passes them) or a "
                "tokenizer callable (tokenizer=...)"
            )
        ids = self.tokenizer(text)
        return ids if isinstance(ids, int) else len(ids)

    def lengths(
        self, texts: Sequence[str], completion_ids: Sequence[Sequence[int]] | None
    ) -> list[int]:
        """Each completion's length in the variant's unit."""
        if self.spec.unit == "tokens" and completion_ids is not None:
            return [len(ids) for ids in completion_ids]
        return [self._count(t) for t in texts]

    def references(self, columns: Mapping[str, Any], n: int) -> list[float | None]:
        """Each sample's reference length: a number as given, a text measured in the unit."""
        values = column(columns, self.reference_columns, n)
        if values is None:
            raise ValueError(
                f"{self.__name__} needs the reference length: a dataset column "
                f"({' or '.join(self.reference_columns)})"
            )
        out: list[float | None] = []
        for value in values:
            if value is None:
                out.append(None)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                out.append(float(value))
            else:
                out.append(float(self._count(str(value))))
        return out

    async def answers(self, questions: Sequence[str], cots: Sequence[str]) -> list[str | None]:
        """The responder's answer to each (question, chain of thought), all sent at once within
        the concurrency bound; None where the call failed. Without a responder (the ablation)
        the chain of thought is its own answer."""
        if self.responder is None:
            return list(cots)
        async with self._responder() as client:
            bound = asyncio.Semaphore(self.concurrency)
            results = await asyncio.gather(
                *(self._ask(client, bound, q, c) for q, c in zip(questions, cots, strict=True))
            )
        failed = [r for r in results if not r.ok]
        self.responder_calls += len(results)
        self.responder_failures += len(failed)
        for result in failed[:3]:
            log.warning("%s: responder call failed: %s", self.__name__, result.error)
        return [r.answer if r.ok else None for r in results]

    async def exact_match(
        self,
        questions: Sequence[str],
        cots: Sequence[str],
        golds: Sequence[Any],
        datasets: Sequence[str | None],
    ) -> list[float | None]:
        """EM(â, a) per sample: 1.0 or 0.0; None when the sample has no gold (nothing is asked)
        or the responder or the grader failed."""
        em: list[float | None] = [None] * len(cots)
        have_gold = [i for i, gold in enumerate(golds) if not missing_gold(gold)]
        self.missing_gold += len(cots) - len(have_gold)
        answers = await self.answers(
            [questions[i] for i in have_gold], [cots[i] for i in have_gold]
        )
        asked = [(i, a) for i, a in zip(have_gold, answers, strict=True) if a is not None]
        tasks = [(a, gold_answer(golds[i]), datasets[i]) for i, a in asked]
        grades = await asyncio.to_thread(grade_many, tasks) if tasks else []
        for (i, _answer), grade in zip(asked, grades, strict=True):
            if grade.error:
                self.grade_failures += 1
            else:
                em[i] = 1.0 if grade.correct else 0.0
        return em

    async def _ask(
        self, client: PoolClient, bound: asyncio.Semaphore, question: str, cot: str
    ) -> StageResult:
        stage = self.stage
        text = stage.render(question, cot)
        params: CallParams = {
            "role": "responder",
            "max_tokens": stage.max_tokens,
            "temperature": stage.temperature,
            "top_p": stage.top_p,
            "stop": list(stage.stop) or None,
            "extra": stage.extra_body or None,
        }
        async with bound:
            return await send_stage(client, stage, text, params)

    @contextlib.asynccontextmanager
    async def _responder(self) -> AsyncIterator[PoolClient]:
        """The responder's client: the synchronous call's, kept open on its private loop until
        :meth:`close`; on the caller's loop, one opened and closed around each call (nothing
        is left open on a loop this reward does not own)."""
        runner = self._loop_thread
        if runner is not None and asyncio.get_running_loop() is runner.loop:
            if runner.pool is None:
                runner.pool = await self._new_pool().open()
            yield runner.pool["responder"]
            return
        async with self._new_pool() as pool:
            yield pool["responder"]

    def _new_pool(self) -> ClientPool:
        if self.responder is None:
            raise RuntimeError(f"{self.__name__} has no responder to call")
        return ClientPool({"responder": self.responder}, concurrency=self.concurrency)

    async def check(self) -> None:
        """The pre-flight check ``eval`` runs: ``GET /models`` on the responder; raises
        :class:`~hawkeye_bench.endpoints.client.EndpointUnavailable` when it does not answer."""
        if self.responder is None:
            return
        async with self._new_pool() as pool:
            await pool.check()

    def _log(
        self,
        columns: Mapping[str, Any],
        em: list[float | None],
        sizes: list[int],
        penalties: list[float | None],
        rewards: list[float | None],
    ) -> None:
        log_extra, log_metric = columns.get("log_extra"), columns.get("log_metric")
        prefix = self.__name__
        if callable(log_extra):
            log_extra(f"{prefix}/em", em)
            log_extra(f"{prefix}/length", sizes)
            log_extra(f"{prefix}/penalty", penalties)
        if callable(log_metric):
            for name, values in (("em", em), ("length", sizes), ("penalty", penalties)):
                mean = mean_of(values)
                if mean is not None:
                    log_metric(f"{prefix}/{name}_mean", mean)
            log_metric(f"{prefix}/failed", float(sum(r is None for r in rewards)))
            log_metric(f"{prefix}/responder_failures_total", float(self.responder_failures))

    # -- lifetime ------------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Nothing to do: an awaited call closes its client before it returns (kept so that
        code written for the earlier per-loop clients still runs)."""

    def close(self) -> None:
        """Close the synchronous call's client and stop its event-loop thread."""
        with self._lock:
            finalizer, self._finalizer, self._loop_thread = self._finalizer, None, None
        if finalizer is not None:
            finalizer()


class AsyncHawkeyeReward(HawkeyeReward):
    """:class:`HawkeyeReward` as an ``async def`` call, for trainers that await rewards (the
    batch's responder calls then share the trainer's event loop)."""

    async def __call__(  # type: ignore[override]
        self,
        prompts: Sequence[Any] | None = None,
        completions: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        **kwargs: Any,
    ) -> list[float | None]:
        return await self.acall(prompts, completions, completion_ids, **kwargs)


async def _reward_call(
    prompts: Sequence[Any] | None = None,
    completions: Sequence[Any] | None = None,
    completion_ids: Sequence[Sequence[int]] | None = None,
    **kwargs: Any,
) -> list[float | None]:
    """The signature (and coroutine code flag) an :class:`AsyncHawkeyeReward` shows."""
    raise NotImplementedError


# A callable instance is not a function, so ``inspect.iscoroutinefunction`` and
# ``asyncio.iscoroutinefunction`` would not see that calling it gives a coroutine. Python 3.12's
# ``inspect.markcoroutinefunction`` marks the class; on 3.11 ``inspect`` reads a "function-like"
# object (``__code__``, ``__defaults__``, ``__kwdefaults__``, as Cython functions have) by its
# code flags, and ``asyncio`` reads its own marker. Each trainer check is covered either way.
AsyncHawkeyeReward.__code__ = _reward_call.__code__  # type: ignore[attr-defined]
AsyncHawkeyeReward.__defaults__ = _reward_call.__defaults__  # type: ignore[attr-defined]
AsyncHawkeyeReward.__kwdefaults__ = _reward_call.__kwdefaults__  # type: ignore[attr-defined]
_ASYNCIO_MARK = getattr(asyncio.coroutines, "_is_coroutine", None)
if _ASYNCIO_MARK is not None:
    AsyncHawkeyeReward._is_coroutine = _ASYNCIO_MARK  # type: ignore[attr-defined]
if hasattr(inspect, "markcoroutinefunction"):
    inspect.markcoroutinefunction(AsyncHawkeyeReward)
