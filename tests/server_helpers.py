"""Talking to an in-process pipeline server from tests."""

from __future__ import annotations

from typing import Any

import aiohttp

from hawkeye_bench.serve.server import PipelineServer


async def post(http: aiohttp.ClientSession, server: PipelineServer, payload: Any) -> Any:
    async with http.post(f"{server.base_url}/chat/completions", json=payload) as response:
        return response.status, await response.json()
