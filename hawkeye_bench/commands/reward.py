"""`hawkeye-bench reward`: what a policy would have been rewarded for a finished run's outputs.

The policy's completion of each record is the stage of the pipeline's CoT role (the Hawkeye
reasoner's output), or the only stage of a single-model run. Hawkeye's reward asks the
responder endpoint once per record and applies both variants to the same answer, so they
differ only by their length terms. Means per reward and how each pair disagrees (share of
samples whose sign differs; share of pairs of samples of one problem ranked the other way) are
printed; every value goes to rewards.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hawkeye_bench.commands.arguments import (
    add_endpoint_arguments,
    check_role_flags,
    endpoint_settings,
)
from hawkeye_bench.commands.reward_scores import Scores, disagreement
from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.jsonl import read_jsonl, rewrite_jsonl
from hawkeye_bench.core.ranges import int_at_least, non_negative_float, share
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult
from hawkeye_bench.core.writable import check_writable_file
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.endpoints.settings import resolve_endpoints
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.presets import load_preset
from hawkeye_bench.rewards import (
    CosineScaledReward,
    HawkeyeReward,
    KimiLengthReward,
    SoftOverlongPunishment,
    ThinkFormatReward,
)
from hawkeye_bench.rewards.hawkeye_terms import VARIANTS, VariantName, length_penalty

REWARDS = ("hawkeye", "hawkeye-self", "kimi", "cosine", "overlong", "think")
REWARDS_JSONL = "rewards.jsonl"


class RewardInputError(HawkeyeError):
    """A folder given to `reward` is not a finished eval run, or has nothing to score."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "reward",
        help="score a finished run's outputs with training rewards (Hawkeye, Kimi, ...)",
        description="Score each record of a finished eval run with training rewards, the "
        "policy's completion being the run's chain of thought (the reasoner's output). Prints "
        "each reward's mean and how the rewards disagree; writes rewards.jsonl. Hawkeye's "
        "reward calls the responder endpoint (the embedded model when none is given).",
    )
    parser.add_argument("run", type=Path, help="eval run folder (records.jsonl)")
    parser.add_argument(
        "--reward",
        action="append",
        choices=REWARDS,
        help="reward to compute (repeatable; default: hawkeye). hawkeye-self: the ablation "
        "without a small model, EM of the chain of thought itself minus the same penalty",
    )
    parser.add_argument(
        "--variant",
        choices=VARIANTS,
        action="append",
        help="Hawkeye variant (repeatable; default: both)",
    )
    parser.add_argument(
        "--reference-run",
        type=Path,
        help="paper variant: a run whose chain of thought for the same problem is the "
        "original CoT (e.g. the baseline run); without it the paper variant has no reference",
    )
    parser.add_argument("--preset", default="default", help="preset whose responder stage asks")
    parser.add_argument("--alpha", type=non_negative_float, default=0.3, help="α (default: 0.3)")
    parser.add_argument(
        "--penalty", type=non_negative_float, default=0.01, help="λ (default: 0.01)"
    )
    parser.add_argument(
        "--concurrency", type=int_at_least(1), default=16, help="responder calls at once"
    )
    parser.add_argument(
        "--max-length", type=int_at_least(1), default=1024, help="cosine/overlong: L"
    )
    parser.add_argument(
        "--overlong-cache", type=int_at_least(1), default=256, help="overlong: cache C"
    )
    parser.add_argument(
        "--max-error-rate",
        type=share,
        help="exit 1 when more than this share (0 to 1) of the responder calls failed "
        "(default: only when every one did)",
    )
    parser.add_argument("--out", type=Path, help=f"where to write (default: RUN/{REWARDS_JSONL})")
    add_endpoint_arguments(parser)
    parser.set_defaults(func=main)


@dataclass
class Sample:
    record: Record
    stage: StageResult

    @property
    def text(self) -> str:
        return self.stage.completion

    @property
    def tokens(self) -> int | None:
        return self.stage.completion_tokens


@dataclass(frozen=True)
class Inputs:
    """Everything `reward` reads or resolves before its first model call."""

    samples: list[Sample]
    skipped: int
    #: problem id -> tokens of the --reference-run's chain of thought (None: not given)
    original_cots: dict[str, int] | None
    #: the responder's endpoint by role; empty: the embedded model (or no Hawkeye reward)
    endpoints: dict[str, Endpoint]
    out: Path


def policy_stage(record: Record) -> StageResult | None:
    """The stage a trained policy would have written: the pipeline's CoT role, else the last."""
    from hawkeye_bench.pipelines import registered

    stages = record.trace.stages
    if not stages:
        return None
    pipeline = registered().get(record.trace.pipeline)
    role = pipeline.cot_role if pipeline is not None else None
    stage = record.trace.stage(role) if role else None
    chosen = stage or stages[-1]
    return chosen if chosen.ok else None


def load_samples(run: Path) -> tuple[list[Sample], int]:
    store = RunStore(run)
    if not store.has_records():
        raise RewardInputError(f"{run}: no {RunStore.RECORDS}; give a finished eval run folder")
    records = store.load_records()
    samples = [Sample(r, s) for r in records if (s := policy_stage(r)) is not None]
    if not samples:
        raise RewardInputError(f"{run}: no record has a successful stage to score")
    return samples, len(records) - len(samples)


def reference_tokens(run: Path) -> dict[str, int]:
    """Problem id -> tokens of that run's chain of thought (its first sample that has them)."""
    try:
        samples = load_samples(run)[0]
    except RewardInputError as exc:
        raise RewardInputError(f"--reference-run {exc}") from None
    refs: dict[str, int] = {}
    for sample in samples:
        if sample.tokens is not None:
            refs.setdefault(sample.record.problem.id, sample.tokens)
    return refs


def gold_rationales(samples: Sequence[Sample]) -> list[str | None]:
    """Each problem's gold rationale: ``metadata["answer"]``, else the GSM8K mirror's row."""
    from hawkeye_bench.datasets.loaders import mirror_path, resolve_data_dir

    rows: list[dict[str, Any]] | None = None
    out: list[str | None] = []
    for sample in samples:
        problem = sample.record.problem
        if "answer" in problem.metadata:
            out.append(str(problem.metadata["answer"]))
            continue
        if problem.dataset != "gsm8k" or not problem.id.startswith("gsm8k/"):
            out.append(None)
            continue
        if rows is None:
            data_dir = resolve_data_dir(None)
            path = mirror_path(data_dir, "gsm8k") if data_dir else None
            rows = list(read_jsonl(path)) if path and path.is_file() else []
        index = int(problem.id.split("/", 1)[1])
        out.append(str(rows[index]["answer"]) if index < len(rows) else None)
    return out


def _lengths(samples: Sequence[Sample]) -> list[range]:
    return [range(s.tokens or 0) for s in samples]


def hawkeye_scores(
    inputs: Inputs,
    args: argparse.Namespace,
    scores: Scores,
    notes: list[str],
    *,
    with_responder: bool = True,
) -> None:
    """Hawkeye's reward per variant; ``with_responder=False``: the ablation without a small
    model (EM of the policy's own completion), columns ``hawkeye_self_*``."""
    from hawkeye_bench.serve.embedded import endpoints_or_local

    samples = inputs.samples
    name = "hawkeye" if with_responder else "hawkeye_self"
    questions = [s.record.problem.question for s in samples]
    texts = [s.text for s in samples]
    golds = [s.record.problem.gold for s in samples]
    datasets = [s.record.problem.dataset for s in samples]
    options = {"preset": args.preset, "alpha": args.alpha, "penalty": args.penalty}
    if with_responder:
        with endpoints_or_local(inputs.endpoints, ("responder",)) as endpoints:
            asker = HawkeyeReward(endpoints["responder"], concurrency=args.concurrency, **options)

            async def ask() -> list[float | None]:
                await asker.check()  # a dead responder is a setup error, as for eval
                return await asker.exact_match(questions, texts, golds, datasets)

            em = asyncio.run(ask())
    else:
        asker = HawkeyeReward.without_responder(**options)
        em = asyncio.run(asker.exact_match(questions, texts, golds, datasets))
    scores.extra[f"{name}_em"] = em
    scores.responder_calls += asker.responder_calls
    scores.responder_failures += asker.responder_failures
    if asker.responder_failures:
        notes.append(f"{name}: {asker.responder_failures} responder call(s) failed -> None")
    if asker.grade_failures:
        notes.append(f"{name}: {asker.grade_failures} grading failure(s) -> None")
    if asker.missing_gold:
        notes.append(f"{name}: {asker.missing_gold} sample(s) without a gold answer -> None")
    for variant in args.variant or list(VARIANTS):
        scores.values[f"{name}_{variant}"] = variant_values(
            variant, em, samples, inputs.original_cots, args, notes
        )


def variant_values(
    variant: VariantName,
    em: Sequence[float | None],
    samples: Sequence[Sample],
    original_cots: dict[str, int] | None,
    args: argparse.Namespace,
    notes: list[str],
) -> list[float | None]:
    """EM minus the variant's length penalty per sample (None where a term is missing)."""
    reward = HawkeyeReward.without_responder(variant, alpha=args.alpha, penalty=args.penalty)
    if variant == "paper":
        refs_by_id = original_cots or {}
        if original_cots is None:
            notes.append("hawkeye paper: no --reference-run, so no original CoT: None")
        refs: list[Any] = [refs_by_id.get(s.record.problem.id) for s in samples]
        column = {"original_cot_tokens": refs}
        sizes: list[int | None] = [s.tokens for s in samples]
    else:
        refs = gold_rationales(samples)
        if all(r is None for r in refs):
            notes.append("hawkeye upstream: no gold rationale (GSM8K only): None")
        column = {"answer": refs}
        sizes = list(reward.lengths([s.text for s in samples], None))
    references = reward.references(column, len(samples))
    values: list[float | None] = []
    for e, size, ref in zip(em, sizes, references, strict=True):
        if e is None or size is None or ref is None:
            values.append(None)
            continue
        penalty = length_penalty(
            size, ref, alpha=args.alpha, penalty=args.penalty, floor_target=reward.spec.floor_target
        )
        values.append(e - penalty)
    return values


def other_scores(
    samples: Sequence[Sample], name: str, args: argparse.Namespace
) -> list[float | None]:
    rewards: dict[str, Callable[..., list[float | None]]] = {
        "kimi": KimiLengthReward(),
        "cosine": CosineScaledReward(args.max_length),
        "overlong": SoftOverlongPunishment(args.max_length, args.overlong_cache),
        "think": ThinkFormatReward(),
    }
    out = rewards[name](
        prompts=[s.record.problem.question for s in samples],
        completions=[s.text for s in samples],
        completion_ids=_lengths(samples),
        gold=[s.record.problem.gold for s in samples],
        dataset=[s.record.problem.dataset for s in samples],
    )
    if name != "think":  # lengths in tokens: a record without a count is not scored
        out = [None if s.tokens is None else v for s, v in zip(samples, out, strict=True)]
    return out


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def check_options(args: argparse.Namespace, chosen: Sequence[str]) -> None:
    """Settings that no single flag's range can check, before anything is read or sent."""
    if "overlong" in chosen and args.overlong_cache > args.max_length:
        raise RewardInputError(
            f"--overlong-cache ({args.overlong_cache}) must be at most --max-length "
            f"({args.max_length})"
        )


def read_inputs(args: argparse.Namespace, chosen: Sequence[str]) -> Inputs:
    """Every flag and file checked, the runs read and the responder resolved, before the
    first model call (or the embedded model's start): a bad input costs no model time."""
    check_options(args, chosen)
    roles = ("responder",) if "hawkeye" in chosen else ()
    check_role_flags(args, "reward", roles, owner=f"reward --reward {','.join(chosen)}")
    endpoints = resolve_endpoints(endpoint_settings(args), roles) if roles else {}
    hawkeye = [name for name in chosen if name in ("hawkeye", "hawkeye-self")]
    if hawkeye:
        load_preset(args.preset).stage("responder")
    uses_reference = bool(hawkeye) and "paper" in (args.variant or VARIANTS)
    if args.reference_run is not None and not uses_reference:
        raise RewardInputError(
            "--reference-run is read only by the Hawkeye rewards' paper variant (--reward "
            "hawkeye or hawkeye-self, --variant paper); here it would be ignored"
        )
    samples, skipped = load_samples(args.run)
    original_cots = reference_tokens(args.reference_run) if args.reference_run else None
    out = args.out or args.run / REWARDS_JSONL
    check_writable_file(out, "rewards file")
    return Inputs(samples, skipped, original_cots, endpoints, out)


def main(args: argparse.Namespace) -> int:
    chosen = list(dict.fromkeys(args.reward or ["hawkeye"]))
    inputs = read_inputs(args, chosen)
    samples = inputs.samples
    scores = Scores()
    notes: list[str] = []
    if inputs.skipped:
        notes.append(f"{inputs.skipped} record(s) without a successful policy stage are not scored")
    for name in chosen:
        if name in ("hawkeye", "hawkeye-self"):
            hawkeye_scores(inputs, args, scores, notes, with_responder=name == "hawkeye")
        else:
            scores.values[name] = other_scores(samples, name, args)
    rows = scores.rows(
        [s.record.problem.id for s in samples],
        [s.record.sample for s in samples],
        [s.tokens for s in samples],
    )
    out = inputs.out
    rewrite_jsonl(out, [row.to_json() for row in rows])
    print(f"{len(samples)} samples from {args.run}")
    for name, values in scores.values.items():
        present = [v for v in values if v is not None]
        mean = sum(present) / len(present) if present else None
        print(
            f"  {name}: mean {_fmt(mean)} over {len(present)} (None: {len(values) - len(present)})"
        )
    groups = [s.record.problem.id for s in samples]
    for left, right in itertools.combinations(scores.values, 2):
        d = disagreement(scores.values[left], scores.values[right], groups)
        print(
            f"  {left} vs {right}: sign differs {_fmt(d.sign_differs)} of {d.samples}, "
            f"ranking differs {_fmt(d.ranking_differs)} of {d.pairs} pairs "
            f"(within {d.pairs_within})"
        )
    for note in dict.fromkeys(notes):
        print(f"note: {note}")
    print(f"wrote {out}")
    failed = scores.failed_calls(args.max_error_rate)
    if failed is not None:
        print(f"error: {failed}", file=sys.stderr)
        return 1
    return 0
