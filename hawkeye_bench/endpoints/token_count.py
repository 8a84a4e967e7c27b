"""Token accounting for one endpoint: how many tokens a call generated, and by whose count.

In order: the server's ``usage`` (``token_source="usage"``), else the model's own tokenizer
in-process when the endpoint names one (``tokenizer_path``: ``"tokenizer"``), else the
server's tokenize endpoint applied to the generated text, retried like a model call
(``"tokenize"``), else the number of token-bearing chunks (``"chunks"``). A count nobody gave
stays None.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, cast

import aiohttp

from hawkeye_bench.core.openai_wire import TokenizeAnswer
from hawkeye_bench.core.trace import StageResult, TokenSource
from hawkeye_bench.endpoints.endpoint import Endpoint
from hawkeye_bench.endpoints.reply import Reply
from hawkeye_bench.endpoints.retry import parse_json

#: What a failed call of a server's tokenize endpoint raises (the count falls back).
_TOKENIZE_ERRORS = (TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError)

TokenizeKind = Literal["vllm", "llama_cpp"]


class TokenizeFailed(Exception):
    """The server's tokenize endpoint failed or answered something that is not token ids
    (the caller turns it into the call's error)."""


@dataclass
class ServerTokenizer:
    """A server tokenize endpoint found by probing, and the tokens it adds to any text (BOS)."""

    kind: TokenizeKind
    url: str
    overhead: int


class TokenCounter:
    """The token counts of one endpoint's calls. ``session`` gives the client's open session;
    ``retry_delay(failures)`` is the client's backoff, used for tokenize calls too."""

    def __init__(
        self,
        endpoint: Endpoint,
        session: Callable[[], aiohttp.ClientSession],
        retry_delay: Callable[[int], float],
    ) -> None:
        self.endpoint = endpoint
        self._session = session
        self._retry_delay = retry_delay
        #: the server's tokenize endpoint, once probed (None: it has none)
        self.tokenizer: ServerTokenizer | None = None
        self.probed = False
        self._lock = asyncio.Lock()

    async def fill(self, result: StageResult, read: Reply) -> None:
        """Set ``result``'s token counts and ``token_source`` for the reply ``read``."""
        usage = read.usage
        if usage is not None and usage.completion_tokens is not None:
            result.token_source = "usage"  # a usage field of the wrong type is no count
            result.completion_tokens = usage.completion_tokens
            result.prompt_tokens = usage.prompt_tokens
            if usage.reasoning_tokens is not None:
                result.reasoning_tokens = usage.reasoning_tokens
            result.cached_prompt_tokens = usage.cached_prompt_tokens
            return
        if self.endpoint.tokenizer_path:
            vocabulary = local_vocabulary(self.endpoint.tokenizer_path)
            reasoning_tokens = vocabulary.count(result.reasoning)
            result.token_source = "tokenizer"
            result.completion_tokens = reasoning_tokens + vocabulary.count(result.content)
            result.reasoning_tokens = reasoning_tokens if result.reasoning else None
            return
        tokenizer = await self.probe()
        if tokenizer is not None:
            try:
                reasoning_tokens = await self.count_retrying(tokenizer, result.reasoning)
                content_tokens = await self.count_retrying(tokenizer, result.content)
            except _TOKENIZE_ERRORS:
                pass  # the server's tokenizer failed every try: fall through to chunks
            else:
                result.token_source = "tokenize"
                result.completion_tokens = reasoning_tokens + content_tokens
                result.reasoning_tokens = reasoning_tokens if result.reasoning else None
                return
        if read.streamed:
            result.token_source = "chunks"
            result.completion_tokens = read.token_chunks
            result.reasoning_tokens = read.reasoning_chunks if result.reasoning else None

    async def count_text(self, text: str) -> tuple[int, TokenSource] | None:
        """Tokens in any ``text`` by this endpoint's model: its own tokenizer in-process
        (``tokenizer``) or the server's tokenize endpoint (``tokenize``); None when neither
        is available or the server's tokenizer failed every try."""
        if self.endpoint.tokenizer_path:
            return local_vocabulary(self.endpoint.tokenizer_path).count(text), "tokenizer"
        tokenizer = await self.probe()
        if tokenizer is None:
            return None
        try:
            return await self.count_retrying(tokenizer, text), "tokenize"
        except _TOKENIZE_ERRORS:
            return None

    async def probe(self) -> ServerTokenizer | None:
        """Find the server's tokenize endpoint once (vLLM/SGLang, then llama-cpp-python).

        The probe tokenizes the empty string: what comes back is what the endpoint adds to any
        text (llama-cpp-python always prepends BOS), subtracted from later counts.
        """
        async with self._lock:
            if not self.probed:
                self.probed = True
                root = self.endpoint.root_url
                probes: tuple[tuple[TokenizeKind, str], ...] = (
                    ("vllm", f"{root}/tokenize"),
                    ("llama_cpp", f"{root}/extras/tokenize"),
                )
                for kind, url in probes:
                    candidate = ServerTokenizer(kind, url, overhead=0)
                    try:
                        candidate.overhead = await self.count(candidate, "", raw=True)
                    except _TOKENIZE_ERRORS:
                        continue
                    self.tokenizer = candidate
                    break
        return self.tokenizer

    async def count_retrying(self, tokenizer: ServerTokenizer, text: str) -> int:
        """:meth:`count`, retried with backoff like a model call: a server that queues its
        tokenize endpoint behind generations (llama-cpp-python) answers late, not never."""
        failures = 0
        while True:
            try:
                return await self.count(tokenizer, text, timeout_s=self.endpoint.timeout_s)
            except (TimeoutError, aiohttp.ClientError, ValueError):
                failures += 1
                if failures > self.endpoint.max_retries:
                    raise
                await asyncio.sleep(self._retry_delay(failures))

    async def count(
        self, tokenizer: ServerTokenizer, text: str, *, raw: bool = False, timeout_s: float = 30.0
    ) -> int:
        """Tokens in ``text`` by the server's tokenizer (minus its overhead unless raw)."""
        if not text and not raw:
            return 0
        data = await self._tokenize(tokenizer, text, timeout_s)
        count = data["count"] if isinstance(data.get("count"), int) else len(data["tokens"])
        return count if raw else max(count - tokenizer.overhead, 0)

    async def token_ids(self, text: str) -> list[int] | None:
        """``text`` as token ids by the server's tokenize endpoint (what it adds to any text,
        a BOS, included); None when the server has no tokenize endpoint; TokenizeFailed when
        it fails or answers something else."""
        tokenizer = await self.probe()
        if tokenizer is None:
            return None
        try:
            data = await self._tokenize(tokenizer, text, self.endpoint.timeout_s)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            raise TokenizeFailed(f"{tokenizer.url}: {type(exc).__name__}: {exc}") from exc
        tokens = data.get("tokens")
        if not isinstance(tokens, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in tokens
        ):
            raise TokenizeFailed(f"{tokenizer.url} answered no list of token ids: {tokens!r:.80}")
        return tokens

    async def _tokenize(
        self, tokenizer: ServerTokenizer, text: str, timeout_s: float
    ) -> TokenizeAnswer:
        """The tokenize endpoint's JSON answer for ``text`` (ValueError unless an object)."""
        body: dict[str, str | bool]
        if tokenizer.kind == "vllm":
            body = {"model": self.endpoint.model, "prompt": text, "add_special_tokens": False}
        else:
            body = {"input": text}
        timeout = aiohttp.ClientTimeout(total=max(self.endpoint.connect_timeout_s, timeout_s))
        async with self._session().post(tokenizer.url, json=body, timeout=timeout) as response:
            if response.status != 200:
                raise ValueError(f"tokenize answered HTTP {response.status}")
            data = parse_json(await response.read())
        if not isinstance(data, dict):
            raise ValueError(f"tokenize answered {type(data).__name__}, not an object")
        return cast(TokenizeAnswer, data)  # untrusted: its readers check what they use


class LocalVocabulary:
    """A GGUF file's tokenizer, loaded in-process without the model weights."""

    def __init__(self, gguf_path: str) -> None:
        from llama_cpp import Llama  # only where a tokenizer_path is configured

        # llama.cpp warns on stderr that a vocabulary-only model has no training context; that
        # line would land on the progress bar. Errors still raise.
        with _stderr_silenced():
            self._llama = Llama(model_path=gguf_path, vocab_only=True, verbose=False)

    def count(self, text: str) -> int:
        if not text:
            return 0
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


@contextlib.contextmanager
def _stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 (what C libraries write to) to /dev/null while the block runs."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@functools.cache
def local_vocabulary(gguf_path: str) -> LocalVocabulary:
    return LocalVocabulary(gguf_path)
