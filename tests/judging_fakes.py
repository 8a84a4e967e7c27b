"""Helpers for the judging tests: tiny run folders and a fake backend at the client boundary."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.judging.client import ChatReply, Usage

Script = Callable[[list[dict[str, str]], dict[str, Any]], ChatReply | Exception]


def write_run(
    folder: Path, answers: dict[str, str], *, errors: tuple[str, ...] = (), pipeline: str = "x"
) -> Path:
    """A run folder whose records.jsonl holds one answer per problem id (sample 0)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "records.jsonl").open("w") as out:
        for pid, text in answers.items():
            failed = pid in errors
            stage = StageResult(
                role="single",
                model="tiny-model",
                content=f"<think>thinking about {pid}</think>{text}",
                error="http_500" if failed else None,
            )
            trace = Trace(pipeline=pipeline, stages=[stage], final_text="" if failed else text)
            problem = Problem(id=pid, dataset="gsm8k", question=f"Question {pid}?", gold="5")
            record = Record(
                problem=problem, sample=0, trace=trace, correct=None if failed else True
            )
            out.write(json.dumps(record.to_dict()) + "\n")
    return folder


def scores_reply(scores: dict[str, int], **kwargs: Any) -> ChatReply:
    body = {c: {"explanation": f"{c} is fine", "score": s} for c, s in scores.items()}
    return ChatReply(
        text=json.dumps(body),
        finish_reason=kwargs.pop("finish_reason", "stop"),
        usage=kwargs.pop("usage", Usage(prompt_tokens=100, completion_tokens=20)),
        **kwargs,
    )


def answer_of(messages: list[dict[str, str]]) -> str:
    return messages[-1]["content"].split("## Answer to rate\n", 1)[1]


class FakeBackend:
    """A :class:`ChatBackend` whose replies come from ``script``; records every call."""

    def __init__(self, script: Script, delay_s: float = 0.0) -> None:
        self.script = script
        self.delay_s = delay_s
        self.calls: list[tuple[list[dict[str, str]], dict[str, Any]]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.closed = False

    async def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> ChatReply:
        self.calls.append((messages, params))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
            out = self.script(messages, params)
        finally:
            self.in_flight -= 1
        if isinstance(out, Exception):
            raise out
        return out

    async def aclose(self) -> None:
        self.closed = True


def write_panel(judges_dir: Path, name: str, judges: list[dict[str, Any]]) -> None:
    """A panel file in a copy of the judges folder (rubrics must already be there)."""
    import yaml

    (judges_dir / "panels").mkdir(parents=True, exist_ok=True)
    (judges_dir / "panels" / f"{name}.yaml").write_text(
        yaml.safe_dump({"name": name, "judges": judges})
    )


def fake_judge(name: str = "fake", **overrides: Any) -> dict[str, Any]:
    judge: dict[str, Any] = {
        "name": name,
        "provider": overrides.pop("provider", name),
        "base_url": "http://fake.invalid/v1",
        "model": f"{name}-model",
        "capabilities": {"structured_output": "json_schema"},
        "prices": {"input": 1.0, "output": 2.0},
        "limits": {"concurrency": 4},
        "max_tokens": 100,
    }
    judge.update(overrides)
    return judge


ChatHandler = Callable[[dict[str, Any]], web.Response]


class LocalChatServer:
    """A real HTTP server on 127.0.0.1 serving ``POST /v1/chat/completions`` from ``handler``.

    ``handler`` gets the request body and returns the response to send, so a test can answer
    with anything, including bodies an OpenAI-compatible server should never send. It runs in
    a background thread with its own event loop; ``with LocalChatServer(h) as base_url:``.
    """

    def __init__(self, handler: ChatHandler) -> None:
        self.handler = handler
        self.bodies: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        return self.handler(body)

    def __enter__(self) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        runner = web.AppRunner(app)
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(runner.setup())
            self._loop.run_until_complete(web.SockSite(runner, sock).start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="local-chat-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=10):
            raise RuntimeError("the local chat server did not start")
        return f"http://127.0.0.1:{port}/v1"

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)


def chat_completion(content: str) -> web.Response:
    """A well-formed chat completion whose message is ``content``."""
    return web.json_response(
        {
            "id": "chatcmpl-local",
            "object": "chat.completion",
            "created": 0,
            "model": "local-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
        }
    )
