"""Disk cache of successful judge replies, keyed by everything that changes the answer.

The key is the SHA-256 of (base_url, model, messages, sampling parameters, schema hash, rubric
versions, prompt version, repeat index). Parameters that do not change the answer (timeout,
stream) are left out. Only replies that parsed into a valid judgement are stored: a failure is
never cached, so a rerun asks again. One JSON file per key, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from hawkeye_bench.judging.client import ChatReply
from hawkeye_bench.judging.request_body import ChatMessage, RequestParams

_IGNORED_PARAMS = frozenset({"timeout", "stream", "stream_options"})


def cache_key(
    *,
    base_url: str,
    model: str,
    messages: list[ChatMessage],
    params: RequestParams,
    schema_hash: str | None,
    rubric_versions: dict[str, int],
    prompt_version: str,
    repeat: int = 0,
) -> str:
    """``repeat`` separates re-judgements of the same answer (self-consistency) from the first."""
    payload = {
        "base_url": base_url.rstrip("/"),
        "model": model,
        "messages": messages,
        "params": {k: v for k, v in params.items() if k not in _IGNORED_PARAMS},
        "schema": schema_hash,
        "rubrics": rubric_versions,
        "prompt": prompt_version,
        "repeat": repeat,
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class JudgeCache:
    """``<dir>/<key[:2]>/<key>.json`` holding the :class:`ChatReply` of a good judgement."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def __contains__(self, key: str) -> bool:
        return self._path(key).is_file()

    def get(self, key: str) -> ChatReply | None:
        path = self._path(key)
        try:
            return ChatReply.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (json.JSONDecodeError, TypeError):
            return None  # a damaged entry is a miss; the next success overwrites it

    def put(self, key: str, reply: ChatReply) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(reply.to_dict(), ensure_ascii=False))
        os.replace(tmp, path)
