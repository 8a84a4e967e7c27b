"""Talking to an in-process pipeline server, or serving a few raw routes, from tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web

from hawkeye_bench.serve.server import PipelineServer


async def post(http: aiohttp.ClientSession, server: PipelineServer, payload: Any) -> Any:
    async with http.post(f"{server.base_url}/chat/completions", json=payload) as response:
        return response.status, await response.json()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve_routes(posts: dict[str, Handler]) -> AsyncIterator[str]:
    """Serve ``{path: handler}`` (POST) on a free loopback port; yields ``http://127.0.0.1:P``."""
    app = web.Application()
    for path, handler in posts.items():
        app.router.add_post(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
