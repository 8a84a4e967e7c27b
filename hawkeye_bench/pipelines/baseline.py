"""The single-model baseline: one model thinks at full length and answers."""

from __future__ import annotations

from hawkeye_bench.core.trace import Trace
from hawkeye_bench.pipelines.base import DeltaCallback, Pipeline, RoleSpec


class BaselinePipeline(Pipeline):
    name = "baseline"
    display_name = "Baseline"
    description = "one model answers with its full reasoning (the paper's Baseline)"
    role_specs = (RoleSpec("single", "the one model: thinks at full length, then answers"),)
    is_baseline = True

    async def run(
        self, question: str, *, seed: int | None = None, on_delta: DeltaCallback | None = None
    ) -> Trace:
        single = await self.call_stage("single", question, seed=seed, on_delta=on_delta)
        return Trace(pipeline=self.name, stages=[single], final_text=single.answer)
