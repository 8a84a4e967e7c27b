"""A streamed answer: OpenAI chat-completion chunks as server-sent events.

Deltas are forwarded the moment the upstream delivers them, one chunk per upstream delta; a
role-only chunk goes out first, before any upstream answers. When a stage's first delta
arrives, a chunk without choices carrying ``x_hawkeye.stage_end`` (the role before it) goes out
first. At the end: the finish chunk, then ``x_hawkeye`` (on the usage chunk when
``include_usage`` is asked, else on the finish chunk) and ``[DONE]``; or, for a failed run, a
``data: {"error": {...}}`` event that ends the stream (no ``[DONE]``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from hawkeye_bench.serve.replies import ApiError, Channel, DeltaRouter, TokenReport, Usage


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class SseWriter:
    """Writes OpenAI chat-completion chunks; the per-delta path is one string concatenation."""

    def __init__(self, response: web.StreamResponse, completion_id: str, model: str) -> None:
        self.response = response
        self.head = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        opening = _compact(self.head)[:-1] + ',"choices":[{"index":0,"delta":{'
        self._prefix = {
            "reasoning": f'data: {opening}"reasoning_content": '.encode(),
            "content": f'data: {opening}"content": '.encode(),
        }
        self._suffix = b'},"finish_reason":null}]}\n\n'

    async def delta(self, channel: Channel, text: str) -> None:
        await self.response.write(self._prefix[channel] + json.dumps(text).encode() + self._suffix)

    async def _chunk(self, body: dict[str, Any]) -> None:
        await self.response.write(b"data: " + _compact({**self.head, **body}).encode() + b"\n\n")

    async def _event(self, payload: bytes) -> None:
        await self.response.write(b"data: " + payload + b"\n\n")

    async def role(self) -> None:
        """The first chunk: the assistant's role, no text."""
        delta = {"role": "assistant", "content": ""}
        await self._chunk({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})

    async def stage_end(self, role: str) -> None:
        await self._chunk({"choices": [], "x_hawkeye": {"stage_end": role}})

    async def finish(
        self, reason: str | None, usage: Usage, report: TokenReport, *, include_usage: bool
    ) -> None:
        """The finish chunk and the token report (on a usage chunk if asked), then [DONE]."""
        finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
        if include_usage:
            await self._chunk(finish)
            await self._chunk(
                {"choices": [], "usage": usage.to_json(), "x_hawkeye": report.to_json()}
            )
        else:
            await self._chunk({**finish, "x_hawkeye": report.to_json()})
        await self._event(b"[DONE]")

    async def error(self, error: ApiError) -> None:
        """The event that ends a failed stream (no [DONE] follows)."""
        await self._event(json.dumps(error.to_json()).encode())


class StageEndMarker:
    """A stream's ``on_delta``: routes each delta, and a stage's first delta ends the stage
    before it: a chunk without choices carrying x_hawkeye.stage_end = that role goes out
    first, so a client can tell the CoT from a final stage that also reasons (both stream
    as reasoning)."""

    def __init__(self, writer: SseWriter, route: DeltaRouter) -> None:
        self.writer = writer
        self.route = route
        self.streaming: str | None = None  # the role whose deltas are streaming

    async def __call__(self, role: str, channel: str, text: str) -> None:
        if self.streaming is not None and self.streaming != role:
            await self.writer.stage_end(self.streaming)
        self.streaming = role
        await self.route(role, channel, text)
