"""URLs of the server under test, and the pre-flight check that it answers."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from hawkeye_bench.core.errors import HawkeyeError


class EndpointError(HawkeyeError):
    """The server under test did not answer GET /v1/models."""


def chat_path(base_url: str) -> str:
    """``/v1/chat/completions``, or ``/chat/completions`` when the URL already ends in /v1."""
    return "/chat/completions" if base_url.rstrip("/").endswith("/v1") else "/v1/chat/completions"


def models_url(base_url: str) -> str:
    return base_url.rstrip("/") + chat_path(base_url).replace("chat/completions", "models")


def model_ids(
    base_url: str, headers: dict[str, str] | None = None, timeout_s: float = 30
) -> list[str]:
    """The model ids the server lists; EndpointError naming the URL when it does not answer."""
    url = models_url(base_url)
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            data: Any = json.load(response)
        return [str(m["id"]) for m in data["data"]]
    except Exception as exc:
        raise EndpointError(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
