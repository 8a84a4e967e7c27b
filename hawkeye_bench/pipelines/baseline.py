"""The single-model baseline: one model thinks at full length and answers."""

from __future__ import annotations

from hawkeye_bench.pipelines.base import DeltaCallback, Pipeline
from hawkeye_bench.trace import Trace


class BaselinePipeline(Pipeline):
    name = "baseline"
    roles = ("single",)
    description = "one model answers with its full reasoning (the paper's Baseline)"

    async def run(
        self, question: str, *, seed: int | None = None, on_delta: DeltaCallback | None = None
    ) -> Trace:
        single = await self.call_stage("single", question, seed=seed, on_delta=on_delta)
        return Trace(pipeline=self.name, stages=[single], final_text=single.answer)
