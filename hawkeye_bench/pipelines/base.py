"""The pipeline interface: a question in, a Trace (one StageResult per model call) out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Protocol

from hawkeye_bench.presets import Preset
from hawkeye_bench.trace import StageResult, Trace

#: Called with (role, channel, text) for each streamed piece; channel is "reasoning" or "content".
DeltaCallback = Callable[[str, str, str], Awaitable[None] | None]


class StageClient(Protocol):
    """What a pipeline needs from an endpoint client (hawkeye_bench.endpoints.EndpointClient)."""

    async def chat(self, messages: list[dict[str, str]], **kwargs: Any) -> StageResult: ...

    async def complete(self, prompt: str, **kwargs: Any) -> StageResult: ...


class Pipeline(ABC):
    """A way of answering a question with one or more model calls.

    ``roles`` names the endpoints the pipeline needs; ``clients`` maps each role to a client.
    """

    name: ClassVar[str]
    roles: ClassVar[tuple[str, ...]]
    description: ClassVar[str] = ""

    def __init__(
        self,
        preset: Preset,
        clients: Mapping[str, StageClient],
        *,
        stage2_input: str | None = None,
    ) -> None:
        missing = [role for role in self.roles if role not in clients]
        if missing:
            raise ValueError(f"pipeline {self.name!r} needs endpoints for roles {missing}")
        for role in self.roles:
            preset.stage(role)  # fail early when the preset lacks a stage this pipeline runs
        self.preset = preset
        self.clients = clients
        self.stage2_input = stage2_input or preset.stage2_input

    @abstractmethod
    async def run(
        self, question: str, *, seed: int | None = None, on_delta: DeltaCallback | None = None
    ) -> Trace: ...

    async def call_stage(
        self,
        role: str,
        question: str,
        *,
        cot: str = "",
        seed: int | None = None,
        on_delta: DeltaCallback | None = None,
    ) -> StageResult:
        """Render the preset's prompt for ``role`` and send it to that role's endpoint."""
        stage = self.preset.stage(role)
        text = stage.render(question, cot)
        params: dict[str, Any] = {
            "role": role,
            "max_tokens": stage.max_tokens,
            "temperature": stage.temperature,
            "top_p": stage.top_p,
            "seed": seed,
            "stop": list(stage.stop) or None,
            "extra": stage.extra_body or None,
        }
        if on_delta is not None:
            params["on_delta"] = lambda channel, piece: on_delta(role, channel, piece)
        client = self.clients[role]
        if stage.api == "completion":
            return await client.complete(text, **params)
        messages = [{"role": "system", "content": stage.system}] if stage.system else []
        messages.append({"role": "user", "content": text})
        return await client.chat(messages, **params)
