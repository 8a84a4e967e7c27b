"""The compression study: a writer writes a chain of thought once per problem, it is compressed
to a kept share, and a responder answers from the compressed CoT.

Roles: ``writer`` (the large model; told not to give the answer), ``compressor`` (the LLM of
compression method ``llm``; unused by the model-free methods, see ``compress_methods``) and
``responder`` (the small model). ``cot_role`` is ``writer``: the "CoT only" column counts the
CoT as written, which is what every share of a sweep is compressed from; the compressed size is
per item in ``trace.extra["compress"]`` (:class:`CompressFacts`).

With a call cache attached, each compression (the compressed text and its token counts) is
kept there too, keyed by the CoT, method, share and seed but not by the responder: every
responder of a sweep answers from the same compressed CoT, counted by one tokenizer.

Options (``eval --keep 0.3 --methods llm``): ``keep``, the share of the CoT's tokens to keep
(default 0.3), and ``method`` (default ``llm``). The compressor's template may use
``{percent}`` and ``{budget}`` (the kept share of the original's tokens), besides
``{question}`` and ``{cot}``; ``percent_means`` says how ``{percent}`` reads: ``kept`` (the
kept share in percent, the default) or ``removed`` (the compression rate, 100 - kept), as the
seed's "(compression ratio)%" may be read either way. ``strip_answer``: remove the final
answer (boxes, answer statements; :mod:`hawkeye_bench.pipelines.answer_strip`) from the
writer's CoT before it is compressed; the stripped CoT is ``trace.extra["compress"]
["stripped_cot"]`` (the writer's stage keeps the original) and the leak check reads it.

Per item, ``trace.extra["compress"]`` holds the method, requested and achieved kept share (the
compressed CoT's tokens over the original's, both counted by the responder endpoint's tokenizer;
the source and the tokenizer's model are recorded, ``words`` when the server has no tokenize
endpoint), the compressed text, compressor refusal and longer-than-original flags, truncation
(``finish_reason=length``) per stage, and what was answered from the call cache (roles, and
``compression``). ``analyse`` adds whether the writer's
CoT (and the compressed CoT) already holds the gold answer, graded like an answer.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, cast

from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.pipelines.answer_strip import strip_answer
from hawkeye_bench.pipelines.base import (
    AnswerGrader,
    DeltaCallback,
    Pipeline,
    RoleSpec,
    StageClient,
)
from hawkeye_bench.pipelines.call_cache import CachedResult, CallCache, call_key
from hawkeye_bench.pipelines.compress_facts import (
    AnswerLeaks,
    CompressFacts,
    Compression,
    CompressionJson,
)
from hawkeye_bench.pipelines.compress_methods import (
    CompressMethod,
    get_compress_method,
    kept_count,
)
from hawkeye_bench.pipelines.options import (
    PipelineOptions,
    boolean,
    choice,
    option,
    registered,
    share_kind,
)
from hawkeye_bench.pipelines.prompts import StagePrompt
from hawkeye_bench.pipelines.stage2_input import cot_for_stage2

#: how the compressor's ``{percent}`` reads: the kept share (default) or the removed share
PERCENT_MEANS = ("kept", "removed")
#: How a compressor's refusal starts (checked on the first words, case-insensitive).
REFUSAL = re.compile(r"^\s*(i'?m sorry|i am sorry|sorry,|i can(?:'|no)t|i cannot|as an ai)", re.I)


@dataclass(frozen=True)
class CompressOptions(PipelineOptions):
    """The compress pipeline's run options (see the module docstring)."""

    sweep_command: ClassVar[str] = "compress-sweep"

    keep: float = option(share_kind(), 0.3, "share of the CoT's tokens to keep", sweeps=True)
    method: str = option(
        registered("a compression method", get_compress_method),
        "llm",
        "compression method: llm, truncate, random, full, none, or a plugin's",
        flag="--methods",
        sweeps=True,
    )
    strip_answer: bool = option(
        boolean(),
        False,
        "remove the final answer (boxes, answer statements) from the writer's CoT before "
        "compressing it (the record keeps both texts)",
        switch=True,
    )
    percent_means: str = option(
        choice(*PERCENT_MEANS),
        PERCENT_MEANS[0],
        "what the compressor prompt's {percent} is, the kept share or the removed share "
        "(compression rate); recorded in the run",
    )


def endpoint_key(client: StageClient) -> dict[str, Any]:
    """What identifies a client's model in a cache key: its server and model, or the model file
    when it is served from one (the embedded model, which gets a new port every start)."""
    endpoint = getattr(client, "endpoint", None)
    model_file = getattr(endpoint, "tokenizer_path", None)
    return {
        "server": None if model_file else getattr(endpoint, "base_url", None),
        "model_file": model_file,
        "model": getattr(endpoint, "model", None),
        "extra_body": getattr(endpoint, "extra_body", None),
    }


def looks_refused(text: str) -> bool:
    """Whether a compressor output is empty or opens with a refusal."""
    return not text.strip() or bool(REFUSAL.match(text))


class CompressPipeline(Pipeline):
    name = "compress"
    display_name = "Compressed CoT"
    description = (
        "a writer's CoT compressed to a kept share (LLM, truncation, random drop), "
        "a responder answers from it (the paper's observation study)"
    )
    role_specs = (
        RoleSpec("writer", "the large model that writes the chain of thought, not the answer"),
        RoleSpec("compressor", "the LLM that compresses the chain of thought to a kept share"),
        RoleSpec("responder", "the small model: turns the question and the CoT into the answer"),
    )
    cot_role = "writer"
    options = CompressOptions
    settings: CompressOptions
    default_preset = "compress"

    def configure(self) -> None:
        self.method: CompressMethod = get_compress_method(self.settings.method)
        fixed = self.method.fixed_keep
        self.keep = fixed if fixed is not None else float(self.settings.keep)
        self.strip_answer = self.settings.strip_answer
        self.percent_means = self.settings.percent_means
        self.cache: CallCache | None = None

    def attach_folders(self, run_dir: Path, cache_dir: Path) -> None:
        self.cache = CallCache(cache_dir)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()

    async def run(
        self, question: str, *, seed: int | None = None, on_delta: DeltaCallback | None = None
    ) -> Trace:
        facts = CompressFacts(
            method=self.method.name, requested_keep=self.keep, percent_means=self.percent_means
        )
        trace = Trace(pipeline=self.name, stage2_input=self.stage2_input)
        await self._answer(trace, facts, question, seed, on_delta)
        facts.store(trace)
        return trace

    async def _answer(
        self,
        trace: Trace,
        facts: CompressFacts,
        question: str,
        seed: int | None,
        on_delta: DeltaCallback | None,
    ) -> None:
        """Write, compress, answer: the stages into ``trace``, what happened into ``facts``."""
        hits = facts.cache_hits
        writer = await self._stage("writer", question, "", seed, on_delta, hits)
        trace.stages.append(writer)
        if not writer.ok:
            return
        cot = cot_for_stage2(writer, self.stage2_input)
        if self.strip_answer:
            cot = strip_answer(cot)
            facts.stripped_cot = cot
        compression = await self._compression(question, cot, seed, on_delta, hits)
        if compression.stage is not None:
            trace.stages.append(compression.stage)
        if compression.compressed is None:  # the compressor's call failed
            return
        compressed = compression.compressed
        original, kept = compression.original_tokens, compression.compressed_tokens
        facts.refused = compression.refused
        facts.compressed = compressed
        facts.original_tokens, facts.compressed_tokens = original, kept
        facts.token_source = compression.token_source
        facts.tokenizer = compression.tokenizer
        facts.achieved_keep = kept / original if original else None
        facts.longer_than_original = kept > original
        responder = await self._stage("responder", question, compressed, seed, on_delta, hits)
        trace.stages.append(responder)
        facts.truncated = {stage.role: stage.truncated for stage in trace.stages}
        trace.final_text = responder.answer

    async def _compression(
        self,
        question: str,
        cot: str,
        seed: int | None,
        on_delta: DeltaCallback | None,
        hits: list[str],
    ) -> Compression:
        """The compressed CoT with its token counts (and the compressor's stage, for ``llm``),
        made once per CoT, method, share and seed: every responder of a sweep reads the same
        one, counted by the tokenizer of the responder that made it first (recorded)."""

        async def make() -> Compression:
            original, source, tokenizer = await self._count(cot)
            made = Compression(original_tokens=original, token_source=source, tokenizer=tokenizer)
            if self.method.function is None:
                made.stage = await self._stage(
                    "compressor", question, cot, seed, on_delta, hits, self._compressor(original)
                )
                if not made.stage.ok:
                    return made
                compressed = made.stage.answer.strip()
                made.refused = looks_refused(compressed)
            else:
                compressed = self.method.function(cot, self.keep, seed or 0)
            made.compressed = compressed
            made.compressed_tokens, _, _ = await self._count(compressed, source)
            return made

        async def compute() -> tuple[CachedResult, bool]:
            made = await make()
            return made.to_json(), made.compressed is not None

        if self.cache is None:
            return await make()
        fields: dict[str, Any] = {
            "step": "compression",
            "method": self.method.name,
            "keep": self.keep,
            "question": question,
            "cot": cot,
            "seed": seed,
        }
        if self.method.uses_model:
            fields["compressor"] = {
                **endpoint_key(self.clients["compressor"]),
                "stage": dataclasses.asdict(self.preset.stage("compressor")),
            }
            if self.percent_means != PERCENT_MEANS[0]:  # keys made before the option stay valid
                fields["percent_means"] = self.percent_means
        row, hit = await self.cache.get_or_compute(call_key(fields), compute)
        if hit:
            hits.append("compression")
        # a compression's key holds a compression's row
        return Compression.from_json(cast(CompressionJson, row))

    def _compressor(self, original_tokens: int) -> StagePrompt:
        """The compressor's stage with ``{percent}`` and ``{budget}`` filled in."""
        stage = self.preset.stage("compressor")
        percent = self.keep * 100 if self.percent_means == "kept" else (1 - self.keep) * 100
        template = stage.template.replace("{percent}", f"{percent:g}")
        template = template.replace("{budget}", str(kept_count(original_tokens, self.keep)))
        return dataclasses.replace(stage, template=template)

    async def _count(self, text: str, source: str | None = None) -> tuple[int, str, str | None]:
        """Tokens in ``text`` by the responder endpoint's tokenizer, with the source and the
        tokenizer's model; words (no tokenizer) when it has none, or when ``source`` says the
        original was counted in words."""
        client = self.clients["responder"]
        counter = getattr(client, "count_text_tokens", None)
        if counter is not None and source != "words":
            counted = await counter(text)
            if counted is not None and (source is None or counted[1] == source):
                model = getattr(getattr(client, "endpoint", None), "model", None)
                return counted[0], str(counted[1]), model
        return len(text.split()), "words", None

    async def _stage(
        self,
        role: str,
        question: str,
        cot: str,
        seed: int | None,
        on_delta: DeltaCallback | None,
        hits: list[str],
        stage: StagePrompt | None = None,
    ) -> StageResult:
        """One call, answered from the call cache when it was made before."""
        prompt = stage or self.preset.stage(role)

        async def call() -> StageResult:
            return await self.call_stage(
                role, question, cot=cot, seed=seed, on_delta=on_delta, stage=prompt
            )

        if self.cache is None:
            return await call()
        key = call_key(
            {
                "role": role,
                **endpoint_key(self.clients[role]),
                "stage": dataclasses.asdict(prompt),
                "question": question,
                "cot": cot,
                "seed": seed,
            }
        )
        result, hit = await self.cache.get_or_call(key, call)
        if hit:
            hits.append(role)
        return result

    async def analyse(
        self, trace: Trace, gold: str, dataset: str, grader: AnswerGrader
    ) -> dict[str, Any]:
        """Whether the writer's CoT, and the compressed CoT, already hold the gold answer."""
        writer = trace.stage("writer")
        if writer is None:
            return {}
        facts = CompressFacts.of(trace) or CompressFacts()
        cot = facts.stripped_cot
        if cot is None:
            cot = cot_for_stage2(writer, trace.stage2_input or self.stage2_input)
        leak = await grader.grade_async(cot, gold, dataset)
        compressed_leaks: bool | None = None
        if facts.compressed:
            graded = await grader.grade_async(facts.compressed, gold, dataset)
            compressed_leaks = bool(graded.correct)
        elif facts.compressed is not None:
            compressed_leaks = False
        return AnswerLeaks(bool(leak.correct), leak.extracted, compressed_leaks).to_json()
