"""Which judge calls a judge run makes: one job per (judge, answer[, order][, repeat]).

The first run is the baseline; pairwise jobs compare every other run with it. ``--limit``
takes the first N answers of the baseline and the same (id, sample) of the others, so the
answers stay paired.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hawkeye_bench.judging.answers import Answer, AnswerKey, RunAnswers
from hawkeye_bench.judging.cache import cache_key
from hawkeye_bench.judging.client import request_params
from hawkeye_bench.judging.config import Criterion, JudgeSpec
from hawkeye_bench.judging.ledger import estimate_prompt_tokens
from hawkeye_bench.judging.options import JudgeOptions
from hawkeye_bench.judging.parsing import Leaf
from hawkeye_bench.judging.prompts import (
    PROMPT_VERSION,
    AnswerView,
    pairwise_messages,
    pairwise_schema,
    schema_hash,
    score_schema,
    single_messages,
)
from hawkeye_bench.judging.request_body import ChatMessage, RequestParams
from hawkeye_bench.judging.results import ResultKey, Task, result_key

#: Cache identity of the embedded judge: its port changes every start, its answers do not.
EMBEDDED_BASE_URL = "embedded://local"


@dataclass(frozen=True)
class JudgeJob:
    judge: JudgeSpec
    task: Task
    run: str
    id: str
    sample: int
    messages: list[ChatMessage]
    params: RequestParams
    criteria: tuple[Criterion, ...]
    leaf: Leaf
    cache_key: str
    prompt_tokens_approx: int
    repeat: int = 0
    against: str = ""
    order: str = ""
    answer_chars: int | None = None

    @property
    def key(self) -> ResultKey:
        return result_key(self.judge.name, self)


def selected_keys(runs: Sequence[RunAnswers], limit: int | None) -> list[AnswerKey]:
    """Keys to judge, in the baseline's order, then keys only the other runs have."""
    keys: list[AnswerKey] = []
    seen: set[AnswerKey] = set()
    for run in runs:
        for key in run.answers:
            if key not in seen:
                seen.add(key)
                keys.append(key)
    return keys[:limit] if limit is not None else keys


def rejudge_keys(keys: Sequence[AnswerKey], fraction: float, seed: int) -> set[AnswerKey]:
    """A reproducible random subset (at least one answer when ``fraction`` > 0)."""
    if fraction <= 0 or not keys:
        return set()
    count = max(1, round(fraction * len(keys)))
    return set(random.Random(seed).sample(sorted(keys), min(count, len(keys))))


def _job(
    judge: JudgeSpec,
    criteria: tuple[Criterion, ...],
    messages: list[ChatMessage],
    leaf: Leaf,
    **fields: Any,
) -> JudgeJob:
    make_schema = score_schema if leaf == "score" else pairwise_schema
    schema = make_schema(criteria, judge.explanation_max_chars)
    params = request_params(judge, schema, schema_name="judgement" if leaf == "score" else "pair")
    if judge.base_url is None or judge.model is None:
        raise ValueError(f"judge {judge.name!r}: embedded judge not resolved to a server yet")
    key = cache_key(
        base_url=EMBEDDED_BASE_URL if judge.embedded else judge.base_url,
        model=judge.model,
        messages=messages,
        params=params,
        schema_hash=schema_hash(schema),
        rubric_versions={c.name: c.version for c in criteria},
        prompt_version=PROMPT_VERSION,
        repeat=fields.get("repeat", 0),
    )
    return JudgeJob(
        judge=judge,
        messages=messages,
        params=params,
        criteria=criteria,
        leaf=leaf,
        cache_key=key,
        prompt_tokens_approx=estimate_prompt_tokens(messages),
        **fields,
    )


def _view(answer: Answer, options: JudgeOptions) -> AnswerView:
    return AnswerView(
        question=answer.question,
        answer=answer.text,
        reference=answer.gold if options.show_reference else None,
        reasoning=answer.reasoning if options.show_cot else None,
    )


def build_jobs(
    runs: Sequence[RunAnswers],
    judges: Sequence[JudgeSpec],
    criteria: Sequence[Criterion],
    options: JudgeOptions,
) -> list[JudgeJob]:
    crit = tuple(criteria)
    keys = selected_keys(runs, options.limit)
    again = rejudge_keys(keys, options.rejudge_fraction, options.seed)
    jobs: list[JudgeJob] = []
    for judge in judges:
        for run in runs:
            for key in keys:
                answer = run.answers.get(key)
                if answer is None:
                    continue
                messages = single_messages(crit, _view(answer, options))
                for repeat in range(2 if key in again else 1):
                    jobs.append(
                        _job(
                            judge,
                            crit,
                            messages,
                            "score",
                            task="single",
                            run=run.label,
                            id=key[0],
                            sample=key[1],
                            repeat=repeat,
                            answer_chars=len(answer.text),
                        )
                    )
        if options.pairwise:
            jobs.extend(_pairwise_jobs(judge, crit, runs, keys, options))
    return jobs


def _pairwise_jobs(
    judge: JudgeSpec,
    crit: tuple[Criterion, ...],
    runs: Sequence[RunAnswers],
    keys: Sequence[AnswerKey],
    options: JudgeOptions,
) -> list[JudgeJob]:
    baseline, candidates = runs[0], runs[1:]
    jobs = []
    for run in candidates:
        for key in keys:
            base, cand = baseline.answers.get(key), run.answers.get(key)
            if base is None or cand is None:
                continue
            reference = base.gold if options.show_reference else None
            for order, (first, second) in (("AB", (base, cand)), ("BA", (cand, base))):
                messages = pairwise_messages(
                    crit, base.question, first.text, second.text, reference
                )
                jobs.append(
                    _job(
                        judge,
                        crit,
                        messages,
                        "verdict",
                        task="pairwise",
                        run=run.label,
                        against=baseline.label,
                        order=order,
                        id=key[0],
                        sample=key[1],
                    )
                )
    return jobs
