"""Runs judge jobs against the panel: cache, limits, ledger, typed results written as they come.

Per provider: a concurrency limit (semaphore) and an optional requests-per-minute spacing.
Jobs already judged ``ok`` in an earlier run are skipped (same key, which includes the request
hash, so only when nothing that changes the reply differs); failures are asked again. A quota
error (HTTP 429 ``insufficient_quota``) or the budget stops the run: calls in flight finish
and are written, nothing new is sent, and the reason is returned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from hawkeye_bench.cost.pricing import cost_usd
from hawkeye_bench.eval.health import HealthWatch, gather_watched
from hawkeye_bench.judging.cache import JudgeCache
from hawkeye_bench.judging.client import ChatBackend, ChatReply, JudgeAPIError
from hawkeye_bench.judging.config import JudgeSpec
from hawkeye_bench.judging.ledger import BudgetExceeded, Ledger, worst_case_usd
from hawkeye_bench.judging.parsing import parse_reply
from hawkeye_bench.judging.plan import JudgeJob
from hawkeye_bench.judging.prompts import PROMPT_VERSION
from hawkeye_bench.judging.results import JudgeResult, ResultKey, ResultWriter
from hawkeye_bench.serve.embedded import running_servers


class RateLimiter:
    """Spaces request starts at least ``60 / rpm`` seconds apart."""

    def __init__(self, rpm: float) -> None:
        self.interval = 60.0 / rpm
        self._next_start = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = time.monotonic()
            delay = self._next_start - now
            self._next_start = max(now, self._next_start) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass
class EngineOutcome:
    results: dict[ResultKey, JudgeResult] = field(default_factory=dict)
    calls: int = 0
    cache_hits: int = 0
    reused: int = 0  # ok results from an earlier run of the same output folder
    not_sent: int = 0  # jobs left when the run stopped
    stopped: str | None = None  # why the run stopped early, if it did


class JudgeEngine:
    def __init__(
        self,
        backends: Mapping[str, ChatBackend],
        *,
        ledger: Ledger,
        cache: JudgeCache | None = None,
        writer: ResultWriter | None = None,
        on_result: Callable[[JudgeResult], None] | None = None,
    ) -> None:
        self.backends = backends
        self.ledger = ledger
        self.cache = cache
        self.writer = writer
        self.on_result = on_result
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._limiters: dict[str, RateLimiter] = {}
        self._outcome = EngineOutcome()

    def _limits_for(self, judges: Sequence[JudgeSpec]) -> None:
        """One semaphore and limiter per provider, at the strictest limit its judges give."""
        concurrency: dict[str, int] = {}
        rpm: dict[str, float] = {}
        for judge in judges:
            p = judge.provider
            concurrency[p] = min(
                concurrency.get(p, judge.limits.concurrency), judge.limits.concurrency
            )
            if judge.limits.rpm is not None:
                rpm[p] = min(rpm.get(p, judge.limits.rpm), judge.limits.rpm)
        self._semaphores = {p: asyncio.Semaphore(n) for p, n in concurrency.items()}
        self._limiters = {p: RateLimiter(r) for p, r in rpm.items()}

    async def run(
        self, jobs: Sequence[JudgeJob], done: Mapping[ResultKey, JudgeResult] | None = None
    ) -> EngineOutcome:
        done = done or {}
        self._outcome = outcome = EngineOutcome()
        for result in done.values():
            outcome.results[result.key] = result
        todo = []
        for job in jobs:
            previous = done.get(job.key)
            if previous is not None and previous.ok:
                outcome.reused += 1
            else:
                todo.append(job)
        self._limits_for([job.judge for job in todo])
        # a model server this process started (the embedded judge) dying stops the run
        health = HealthWatch(servers=running_servers)
        await gather_watched([self._run_job(job) for job in todo], health.poll)
        return outcome

    def _record(self, result: JudgeResult) -> None:
        self._outcome.results[result.key] = result
        if self.writer is not None:
            self.writer.write(result)
        if self.on_result is not None:
            self.on_result(result)

    async def _run_job(self, job: JudgeJob) -> None:
        outcome = self._outcome
        if outcome.stopped:
            outcome.not_sent += 1
            return
        cached = self.cache.get(job.cache_key) if self.cache is not None else None
        if cached is not None:
            outcome.cache_hits += 1
            self.ledger.record_cached(job.judge.name)
            self._record(self._result(job, cached, cost=0.0, cached=True))
            return
        async with self._semaphores[job.judge.provider]:
            if outcome.stopped:
                outcome.not_sent += 1
                return
            worst = worst_case_usd(job.judge.prices, job.prompt_tokens_approx, job.judge.max_tokens)
            try:
                self.ledger.reserve(worst)
            except BudgetExceeded as exc:
                outcome.stopped = str(exc)
                outcome.not_sent += 1
                return
            limiter = self._limiters.get(job.judge.provider)
            if limiter is not None:
                await limiter.wait()
            outcome.calls += 1
            try:
                reply = await self.backends[job.judge.name].complete(job.messages, job.params)
            except JudgeAPIError as exc:
                self.ledger.settle(job.judge.name, worst, None, 0.0)
                if exc.kind == "quota":
                    outcome.stopped = (
                        f"judge {job.judge.name!r} ({job.judge.base_url}) is out of quota: "
                        f"{exc.describe()}. Add credit or drop this judge from the panel; "
                        "rerun with the same --out to continue where this run stopped."
                    )
                self._record(self._failure(job, exc))
                return
        cost = cost_usd(reply.usage, job.judge.prices)
        self.ledger.settle(job.judge.name, worst, reply.usage, cost)
        result = self._result(job, reply, cost=cost, cached=False)
        if result.ok and self.cache is not None:
            self.cache.put(job.cache_key, reply)
        self._record(result)

    def _base(self, job: JudgeJob) -> JudgeResult:
        return JudgeResult(
            judge=job.judge.name,
            model=job.judge.model or "",
            task=job.task,
            run=job.run,
            id=job.id,
            sample=job.sample,
            status="api_error",
            repeat=job.repeat,
            against=job.against,
            order=job.order,
            answer_chars=job.answer_chars,
            cache_key=job.cache_key,
            prompt_version=PROMPT_VERSION,
        )

    def _failure(self, job: JudgeJob, exc: JudgeAPIError) -> JudgeResult:
        result = self._base(job)
        result.error = exc.describe()
        result.error_kind = exc.kind
        result.raw_text = exc.raw_text
        return result

    def _result(
        self, job: JudgeJob, reply: ChatReply, *, cost: float | None, cached: bool
    ) -> JudgeResult:
        parsed = parse_reply(reply, job.criteria, job.leaf)
        result = self._base(job)
        result.status = parsed.status
        result.scores = parsed.scores
        result.verdicts = parsed.verdicts
        result.explanations = parsed.explanations
        result.raw_text = reply.text if reply.text is not None else reply.refusal
        result.error = parsed.error
        result.finish_reason = reply.finish_reason
        result.usage = reply.usage.to_dict() if reply.usage else None
        result.cost_usd = cost
        result.cached = cached
        result.latency_s = None if cached else reply.latency_s
        result.system_fingerprint = reply.system_fingerprint
        return result
