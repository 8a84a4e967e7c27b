"""Where load-test prompts come from: a benchmark by name, or a JSONL file of chat messages.

Every target gets the same prompts in the same order, so baseline and Hawkeye answer the same
questions. A dataset question becomes one user message; the server under test (e.g.
``hawkeye-bench serve``) applies its own templates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from openai.types.chat import ChatCompletionMessageParam

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.jsonl import read_jsonl
from hawkeye_bench.datasets import DatasetError, dataset_names, load_problems

#: one prompt: the chat messages sent as they are
Messages = list[ChatCompletionMessageParam]


class PromptSourceError(HawkeyeError):
    """The prompt source names no known dataset and no readable messages file."""


def _messages_from_row(row: dict[str, Any], where: str) -> Messages:
    messages = row.get("messages")
    if not isinstance(messages, list) or not messages:
        raise PromptSourceError(f'{where}: expected {{"messages": [{{"role": ..., ...}}, ...]}}')
    for message in messages:
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise PromptSourceError(f"{where}: every message needs 'role' and 'content'")
    return cast(Messages, messages)  # each has its role and content (checked above)


def load_messages_file(path: Path, limit: int | None = None) -> list[Messages]:
    """Read ``{"messages": [...]}`` lines; errors name the file and line."""
    prompts = []
    for number, row in enumerate(read_jsonl(path, tolerate_torn_tail=False), start=1):
        prompts.append(_messages_from_row(row, f"{path}: record {number}"))
        if limit is not None and len(prompts) >= limit:
            break
    return prompts


def load_prompts(
    source: str, *, data_dir: str | None = None, limit: int | None = None
) -> list[Messages]:
    """Resolve ``source``: an existing ``.jsonl`` path, else a dataset name."""
    path = Path(source)
    if path.suffix == ".jsonl" or path.is_file():
        if not path.is_file():
            raise PromptSourceError(f"prompt file {path} does not exist")
        prompts = load_messages_file(path, limit)
    elif source in dataset_names():
        try:
            problems = load_problems(source, data_dir=data_dir, limit=limit)
        except DatasetError as exc:
            raise PromptSourceError(str(exc)) from exc
        prompts = [[{"role": "user", "content": p.question}] for p in problems]
    else:
        raise PromptSourceError(
            f"prompt source {source!r} is neither a .jsonl file of messages nor a dataset; "
            f"valid datasets: {', '.join(dataset_names())}"
        )
    if not prompts:
        raise PromptSourceError(f"prompt source {source!r} holds no prompts")
    return prompts
