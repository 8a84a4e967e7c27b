"""Token counts of imported outputs, each with its source, never assumed.

In order: the count the file records (``usage``: a usage block or a mapped count field), the
number of token ids it lists (``token_ids``); else the tokenizer the user names: a
``tokenizer.json`` (the ``tokenizers`` library) or a GGUF file's vocabulary (llama-cpp-python,
as the embedded model's counts are made), both ``tokenizer``, or a running server's tokenize
endpoint (``tokenize``); else the count is missing (None), and the summary says how many are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from hawkeye_bench.core.trace import StageResult, TokenSource
from hawkeye_bench.importing.rows import ImportedStage, ImportInputError

TokenizerKind = Literal["tokenizer.json", "gguf", "server"]
#: Texts counted at once by a server's tokenize endpoint.
SERVER_CONCURRENCY = 16


class TextCounter(Protocol):
    source: TokenSource

    def count_many(self, texts: Sequence[str]) -> list[int]: ...


@dataclass(frozen=True)
class TokenizerChoice:
    """The tokenizer named on the command line: what it is and where."""

    kind: TokenizerKind
    where: str
    model: str = ""  # the model a server is asked to tokenize for

    def to_dict(self) -> dict[str, Any]:
        data = {"kind": self.kind, "where": self.where}
        if self.model:
            data["model"] = self.model
        return data


def tokenizer_choice(path: str | None, url: str | None, model: str = "") -> TokenizerChoice | None:
    """``--tokenizer PATH`` (``*.gguf``: a GGUF vocabulary, else a tokenizer.json, or a folder
    holding one) or ``--tokenize-url URL``; None when neither is given."""
    if path and url:
        raise ImportInputError("give --tokenizer or --tokenize-url, not both")
    if url:
        return TokenizerChoice("server", url, model)
    if not path:
        return None
    file = Path(path)
    if file.is_dir():
        file = file / "tokenizer.json"
    if not file.is_file():
        raise ImportInputError(f"--tokenizer {path}: no such file")
    kind: TokenizerKind = "gguf" if file.suffix.lower() == ".gguf" else "tokenizer.json"
    return TokenizerChoice(kind, str(file.resolve()))


class JsonTokenizer:
    """A Hugging Face ``tokenizer.json`` loaded with the ``tokenizers`` library."""

    source: TokenSource = "tokenizer"

    def __init__(self, path: str) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ImportInputError(
                f"--tokenizer {path}: reading a tokenizer.json needs the 'tokenizers' package "
                "(pip install tokenizers), or give a GGUF file or --tokenize-url"
            ) from exc
        try:
            self._tokenizer = Tokenizer.from_file(path)
        except Exception as exc:  # the library raises its own Exception for any bad file
            raise ImportInputError(f"--tokenizer {path}: does not load: {exc}") from exc

    def count_many(self, texts: Sequence[str]) -> list[int]:
        encoded = self._tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encoded]


class GgufTokenizer:
    """A GGUF file's vocabulary, as the embedded model's counts are made."""

    source: TokenSource = "tokenizer"

    def __init__(self, path: str) -> None:
        from hawkeye_bench.endpoints.client import local_vocabulary

        try:
            self._vocabulary = local_vocabulary(path)
        except ImportError as exc:
            raise ImportInputError(
                f"--tokenizer {path}: a GGUF vocabulary needs llama-cpp-python (the 'local' extra)"
            ) from exc
        except (ValueError, RuntimeError, OSError) as exc:
            raise ImportInputError(f"--tokenizer {path}: does not load as GGUF: {exc}") from exc

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return [self._vocabulary.count(text) for text in texts]


class ServerTokenizer:
    """A running server's tokenize endpoint (vLLM/SGLang ``/tokenize``, llama-cpp-python
    ``/extras/tokenize``), found by the endpoint client's probe."""

    source: TokenSource = "tokenize"

    def __init__(self, base_url: str, model: str) -> None:
        from hawkeye_bench.endpoints.client import Endpoint

        self.endpoint = Endpoint(base_url=base_url, model=model or "default", max_retries=2)
        self.count_many(["probe"])  # raises ImportInputError when there is no endpoint

    def count_many(self, texts: Sequence[str]) -> list[int]:
        return asyncio.run(self._count_all(texts))

    async def _count_all(self, texts: Sequence[str]) -> list[int]:
        from hawkeye_bench.endpoints.client import EndpointClient

        limit = asyncio.Semaphore(SERVER_CONCURRENCY)
        async with EndpointClient(self.endpoint, connection_limit=SERVER_CONCURRENCY) as client:

            async def one(text: str) -> int:
                async with limit:
                    counted = await client.count_text_tokens(text)
                if counted is None:
                    raise ImportInputError(
                        f"--tokenize-url {self.endpoint.base_url}: the server has no tokenize "
                        "endpoint (/tokenize or /extras/tokenize), or it failed every try"
                    )
                return counted[0]

            return list(await asyncio.gather(*(one(text) for text in texts)))


def load_counter(choice: TokenizerChoice | None) -> TextCounter | None:
    """The tokenizer, loaded now (a file that does not load is an error before any output)."""
    if choice is None:
        return None
    if choice.kind == "gguf":
        return GgufTokenizer(choice.where)
    if choice.kind == "tokenizer.json":
        return JsonTokenizer(choice.where)
    return ServerTokenizer(choice.where, choice.model)


def stage_result(stage: ImportedStage) -> StageResult:
    """A StageResult with the file's own counts (``usage``, ``token_ids``) where it has them."""
    result = StageResult(
        role=stage.role,
        model=stage.model,
        content=stage.content,
        reasoning=stage.reasoning,
        prompt_tokens=stage.prompt_tokens,
        finish_reason=stage.finish_reason,
        latency_s=stage.latency_s,
        ttft_s=stage.ttft_s,
        error=stage.error,
        error_type=stage.error_type,
    )
    if stage.completion_tokens is not None:
        result.completion_tokens = stage.completion_tokens
        result.reasoning_tokens = stage.reasoning_tokens
        result.token_source = "usage"
    elif stage.token_ids is not None:
        result.completion_tokens = len(stage.token_ids)
        result.token_source = "token_ids"
    return result


def count_missing(results: Sequence[StageResult], counter: TextCounter | None) -> None:
    """Fill the counts the file did not give with ``counter`` (reasoning and content counted
    apart, as a live run counts them); without a counter they stay missing."""
    todo = [r for r in results if r.ok and r.completion_tokens is None]
    if counter is None or not todo:
        return
    counts = counter.count_many([t for r in todo for t in (r.reasoning, r.content)])
    for index, result in enumerate(todo):
        reasoning, content = counts[2 * index], counts[2 * index + 1]
        result.completion_tokens = reasoning + content
        result.reasoning_tokens = reasoning if result.reasoning else None
        result.token_source = counter.source
