"""Hawkeye: a large reasoner writes a concise chain of thought, a small responder answers."""

from __future__ import annotations

from hawkeye_bench.core.trace import Trace
from hawkeye_bench.pipelines.base import DeltaCallback, Pipeline, RoleSpec
from hawkeye_bench.pipelines.stage2_input import cot_for_stage2


class HawkeyePipeline(Pipeline):
    name = "hawkeye"
    display_name = "Hawkeye"
    description = "reasoner writes a concise CoT, responder expands it into the answer"
    role_specs = (
        RoleSpec("reasoner", "the large reasoning model: writes a concise chain of thought"),
        RoleSpec("responder", "the small model: turns the question and the CoT into the answer"),
    )
    cot_role = "reasoner"

    async def run(
        self, question: str, *, seed: int | None = None, on_delta: DeltaCallback | None = None
    ) -> Trace:
        trace = Trace(pipeline=self.name, stage2_input=self.stage2_input)
        reasoner = await self.call_stage("reasoner", question, seed=seed, on_delta=on_delta)
        trace.stages.append(reasoner)
        if not reasoner.ok:
            return trace
        cot = cot_for_stage2(reasoner, self.stage2_input)
        responder = await self.call_stage(
            "responder", question, cot=cot, seed=seed, on_delta=on_delta
        )
        trace.stages.append(responder)
        trace.final_text = responder.answer
        return trace
