"""A pipeline from outside hawkeye-bench, with roles the package has never heard of.

It is installed the way any package is found (a folder on ``sys.path`` with its
``.dist-info``), registers through the ``hawkeye_bench.pipelines`` entry point, and must work
in every command with no edit to hawkeye-bench.
"""

from __future__ import annotations

from hawkeye_bench.core.trace import Trace
from hawkeye_bench.pipelines import DeltaCallback, Pipeline, RoleSpec


class CritiquePipeline(Pipeline):
    name = "critique"
    display_name = "Critique"
    description = "a drafter writes a solution, a critic checks it and gives the final answer"
    role_specs = (
        RoleSpec("drafter", "writes a first solution"),
        RoleSpec("critic", "checks the draft and states the final answer"),
    )
    cot_role = "drafter"

    async def run(
        self, question: str, *, seed: int | None = None, on_delta: DeltaCallback | None = None
    ) -> Trace:
        trace = Trace(pipeline=self.name)
        draft = await self.call_stage("drafter", question, seed=seed, on_delta=on_delta)
        trace.stages.append(draft)
        if not draft.ok:
            return trace
        critic = await self.call_stage(
            "critic", question, cot=draft.answer, seed=seed, on_delta=on_delta
        )
        trace.stages.append(critic)
        trace.final_text = critic.answer
        return trace
