"""One `hawkeye-bench judge` invocation: choose the panel, check keys, judge, summarise, write.

Everything that can be checked before spending is checked first (panel and rubric files, run
folders, key variables, prices for a budget). Outputs in ``out``: ``judgements.jsonl``,
``judge_summary.json``, ``judge_table.md`` and the reply cache in ``cache/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.judging.answers import RunAnswers, load_runs
from hawkeye_bench.judging.cache import JudgeCache
from hawkeye_bench.judging.client import ChatBackend, OpenAIChatBackend
from hawkeye_bench.judging.config import (
    DEFAULT_CRITERIA,
    JudgeConfigError,
    JudgeSpec,
    Panel,
    default_judges_dir,
    load_criteria,
    load_panel,
    missing_key_variables,
)
from hawkeye_bench.judging.engine import EngineOutcome, JudgeEngine
from hawkeye_bench.judging.ledger import JudgeEstimate, Ledger, prices_known
from hawkeye_bench.judging.markdown import render
from hawkeye_bench.judging.options import JudgeOptions
from hawkeye_bench.judging.plan import EMBEDDED_BASE_URL, JudgeJob, build_jobs
from hawkeye_bench.judging.prompts import PROMPT_VERSION
from hawkeye_bench.judging.results import JudgeResult, ResultWriter, compact, read_results
from hawkeye_bench.judging.stats import N_RESAMPLES
from hawkeye_bench.judging.summary import build_summary
from hawkeye_bench.judging.summary_file import CallCounts, ExampleRequest, JudgeSummary, RunFacts

JUDGEMENTS_FILE = "judgements.jsonl"
SUMMARY_FILE = "judge_summary.json"
TABLE_FILE = "judge_table.md"
DEFAULT_PANEL, LOCAL_PANEL = "default", "local"
EXIT_STOPPED = 3  # quota or budget stopped the run; rerun with the same --out to continue
EXIT_FAILED = 1  # every judgement failed, or more than --max-error-rate of them

BackendFactory = Callable[[JudgeSpec], ChatBackend]


class JudgeSetupError(HawkeyeError):
    """Something is wrong before any call is made; the message says what and how to fix it."""


@dataclass
class JudgeSettings:
    runs: Sequence[Path]
    out: Path
    panel: str | None = None  # None: the default panel if its keys are set, else the local one
    criteria: Sequence[str] = DEFAULT_CRITERIA
    options: JudgeOptions = field(default_factory=JudgeOptions)
    dry_run: bool = False
    budget_usd: float | None = None
    judges_dir: Path | None = None
    cache_dir: Path | None = None
    bootstrap_resamples: int = N_RESAMPLES
    #: exit 1 when more than this share of the judgements failed (None: only when all did)
    max_error_rate: float | None = None


def choose_panel(judges_dir: Path, requested: str | None) -> tuple[Panel, str | None]:
    """The panel to use and a note when it was chosen for the user."""
    if requested is not None:
        return load_panel(judges_dir, requested), None
    panel = load_panel(judges_dir, DEFAULT_PANEL)
    missing = missing_key_variables(panel)
    if not missing:
        return panel, None
    needed = sorted({j.api_key_env for j in panel.judges if j.api_key_env})
    if len(missing) == len(needed):
        note = (
            f"no --panel given and none of {', '.join(needed)} is set: the embedded local "
            "model judges (scores meaningless; use --panel default with keys for real ones)"
        )
        return load_panel(judges_dir, LOCAL_PANEL), note
    raise JudgeSetupError(
        f"the default panel needs {', '.join(missing)} (not set); set them, pick another panel "
        "with --panel, or use --panel local for the embedded model"
    )


def _family_overlap(panel: Panel, runs: Sequence[RunAnswers]) -> list[str]:
    """Warnings for judges of the same family as a model whose answers they rate."""
    warnings = []
    for judge in panel.judges:
        family = judge.family.lower()
        for run in runs:
            hits = sorted(m for m in run.models if family and family in m.lower())
            if hits:
                warnings.append(
                    f"judge {judge.name!r} ({judge.family}) rates answers of its own "
                    f"family in run {run.label!r} ({', '.join(hits)}): self-preference bias"
                )
    return warnings


def _pointed_at(judges: Sequence[JudgeSpec], base_url: str, model: str) -> list[JudgeSpec]:
    where = {"base_url": base_url, "model": model}
    return [j.model_copy(update=where) if j.embedded else j for j in judges]


@contextlib.contextmanager
def resolved_judges(
    panel: Panel, start_server: bool, local_endpoint: Endpoint | None = None
) -> Iterator[list[JudgeSpec]]:
    """The panel's judges with embedded ones pointed at the local model server.

    ``local_endpoint``: an already running server to use; otherwise one is started for the
    duration of the block (or, when ``start_server`` is false, a placeholder is used).
    """
    if not panel.needs_local_server:
        yield list(panel.judges)
    elif local_endpoint is not None:
        yield _pointed_at(panel.judges, local_endpoint.base_url, local_endpoint.model)
    else:
        from hawkeye_bench.serve.embedded import LOCAL_MODEL_NAME, LocalModelServer

        if not start_server:
            yield _pointed_at(panel.judges, EMBEDDED_BASE_URL, LOCAL_MODEL_NAME)
            return
        with LocalModelServer() as server:
            endpoint = server.endpoint
            yield _pointed_at(panel.judges, endpoint.base_url, endpoint.model)


def estimate(jobs: Sequence[JudgeJob], cache: JudgeCache, done_ok: set) -> dict[str, JudgeEstimate]:
    per_judge: dict[str, JudgeEstimate] = {}
    for job in jobs:
        free = job.key in done_ok or job.cache_key in cache
        per_judge.setdefault(job.judge.name, JudgeEstimate()).add(
            job.judge.prices, job.prompt_tokens_approx, job.judge.max_tokens, free
        )
    return per_judge


def _usd(value: float | None) -> str:
    return "unknown (no prices)" if value is None else f"${value:.4f}"


def format_estimate(per_judge: dict[str, JudgeEstimate]) -> str:
    lines = [
        "dry run: nothing was sent. Prompt tokens are estimated from characters "
        "(approximate); the high cost assumes every reply uses max_tokens."
    ]
    for name, e in per_judge.items():
        lines.append(
            f"  {name}: {e.calls} calls ({e.cached_calls} already done or cached, free), "
            f"~{e.prompt_tokens_approx} prompt tokens, <= {e.max_completion_tokens} completion "
            f"tokens, cost {_usd(e.cost_low_usd)} to {_usd(e.cost_high_usd)}"
        )
    lows = [e.cost_low_usd for e in per_judge.values() if e.cost_low_usd is not None]
    highs = [e.cost_high_usd for e in per_judge.values() if e.cost_high_usd is not None]
    if len(lows) == len(highs) == len(per_judge):  # every judge's cost is known
        lines.append(f"  total: ${sum(lows):.4f} to ${sum(highs):.4f}")
    return "\n".join(lines)


def _example_requests(jobs: Sequence[JudgeJob]) -> dict[str, ExampleRequest]:
    """The exact first request per judge (no key: the key never enters a job)."""
    examples: dict[str, ExampleRequest] = {}
    for job in jobs:
        if job.judge.name not in examples:
            examples[job.judge.name] = ExampleRequest(
                base_url=job.judge.base_url,
                model=job.judge.model,
                api_key_env=job.judge.api_key_env,
                messages=job.messages,
                params=job.params,
            )
    return examples


async def _execute(
    jobs: Sequence[JudgeJob],
    judges: Sequence[JudgeSpec],
    backend_factory: BackendFactory,
    make_engine: Callable[[dict[str, ChatBackend]], JudgeEngine],
    done: dict,
) -> EngineOutcome:
    backends = {j.name: backend_factory(j) for j in judges}
    try:
        return await make_engine(backends).run(jobs, done)
    finally:
        for backend in backends.values():
            await backend.aclose()


def run_judge(
    settings: JudgeSettings,
    *,
    backend_factory: BackendFactory = OpenAIChatBackend,
    local_endpoint: Endpoint | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Run one judge invocation; returns the exit code.

    ``backend_factory`` makes the client per judge (tests inject fakes here);
    ``local_endpoint`` reuses a running embedded model server for embedded judges.
    """
    judges_dir = settings.judges_dir or default_judges_dir()
    criteria = load_criteria(judges_dir, settings.criteria)
    panel, note = choose_panel(judges_dir, settings.panel)
    if note:
        print(f"note: {note}", file=err)
    runs = _checked_runs(settings)
    missing = _check_panel(panel, settings)
    _warn_about_runs(panel, runs, err)

    results_path = settings.out / JUDGEMENTS_FILE
    cache = JudgeCache(settings.cache_dir or settings.out / "cache")
    done = read_results(results_path)
    with resolved_judges(panel, not settings.dry_run, local_endpoint) as judges:
        jobs = build_jobs(runs, judges, criteria, settings.options)
        if settings.dry_run:
            _print_estimate(jobs, cache, done, missing, out)
            return 0
        ledger = Ledger(budget_usd=settings.budget_usd)
        outcome = _judge_with_progress(
            jobs, judges, backend_factory, ledger, cache, results_path, done, err
        )
        # Only this plan's results count, and only they stay in judgements.jsonl: a stored
        # judgement of other criteria, another prompt or a changed answer has another key.
        wanted = {job.key for job in jobs}
        current = [r for k, r in outcome.results.items() if k in wanted]
        compact(results_path, current)
        summary = build_summary(
            current,
            runs,
            judges,
            criteria,
            n_resamples=settings.bootstrap_resamples,
            seed=settings.options.seed,
        )
        summary = replace(summary, facts=_run_facts(settings, panel, jobs, outcome, ledger))
    code = _write_outputs(settings.out, summary, outcome, ledger, out, err)
    if code == 0 and (failed := too_many_failures(current, settings.max_error_rate)):
        print(f"error: {failed}", file=err)
        return EXIT_FAILED
    return code


def too_many_failures(results: Sequence[JudgeResult], max_error_rate: float | None) -> str | None:
    """Why the judgements fail the run: all failed, or a larger share than allowed; else None."""
    failed = sum(not r.ok for r in results)
    if not results or not failed:
        return None
    share = failed / len(results)
    if failed == len(results):
        return f"every judgement failed ({failed}); see the errors in {JUDGEMENTS_FILE}"
    if max_error_rate is not None and share > max_error_rate:
        return (
            f"{failed} of {len(results)} judgements failed ({share:.1%}, above "
            f"--max-error-rate {max_error_rate:.1%}); see the errors in {JUDGEMENTS_FILE}"
        )
    return None


def _checked_runs(settings: JudgeSettings) -> list[RunAnswers]:
    """The run folders' answers; at least one run, two for --pairwise."""
    if not settings.runs:
        raise JudgeSetupError("give at least one run folder")
    runs = load_runs(settings.runs)
    if settings.options.pairwise and len(runs) < 2:
        raise JudgeSetupError("--pairwise needs two runs: a baseline and a candidate")
    return runs


def _check_panel(panel: Panel, settings: JudgeSettings) -> list[str]:
    """The panel's unset key variables (an error unless a dry run); prices for a budget."""
    missing = missing_key_variables(panel)
    if missing and not settings.dry_run:
        raise JudgeSetupError(
            f"panel {panel.name!r} needs API keys in {', '.join(missing)} (not set); "
            "nothing was sent"
        )
    if settings.budget_usd is not None:
        unpriced = [j.name for j in panel.judges if not prices_known(j.prices)]
        if unpriced:
            raise JudgeSetupError(
                f"--budget needs prices for every judge; none for {', '.join(unpriced)}"
            )
    return missing


def _warn_about_runs(panel: Panel, runs: Sequence[RunAnswers], err: TextIO) -> None:
    for warning in _family_overlap(panel, runs):
        print(f"warning: {warning}", file=err)
    for run in runs:
        if run.skipped_errors:
            print(
                f"note: {run.label}: {run.skipped_errors} of {run.records} records failed "
                "in the run and are not judged",
                file=err,
            )


def _print_estimate(
    jobs: Sequence[JudgeJob], cache: JudgeCache, done: dict, missing: Sequence[str], out: TextIO
) -> None:
    done_ok = {k for k, r in done.items() if r.ok}
    print(format_estimate(estimate(jobs, cache, done_ok)), file=out)
    if missing:
        print(f"note: a real run needs {', '.join(missing)}", file=out)


def _judge_with_progress(
    jobs: Sequence[JudgeJob],
    judges: Sequence[JudgeSpec],
    backend_factory: BackendFactory,
    ledger: Ledger,
    cache: JudgeCache,
    results_path: Path,
    done: dict,
    err: TextIO,
) -> EngineOutcome:
    """Judge every job, appending results to ``results_path``, with a progress bar on ``err``."""
    writer = ResultWriter(results_path)
    progress = tqdm(total=len(jobs), desc="judging", unit="call", file=err, disable=None)

    def tick(_result: JudgeResult) -> None:
        progress.update()

    try:
        return asyncio.run(
            _execute(
                jobs,
                judges,
                backend_factory,
                partial(
                    JudgeEngine,
                    ledger=ledger,
                    cache=cache,
                    writer=writer,
                    on_result=tick,
                ),
                done,
            )
        )
    finally:
        writer.close()
        progress.close()


def _run_facts(
    settings: JudgeSettings,
    panel: Panel,
    jobs: Sequence[JudgeJob],
    outcome: EngineOutcome,
    ledger: Ledger,
) -> RunFacts:
    """What the summary records about the invocation itself: panel, calls, cost, requests."""
    return RunFacts(
        panel=panel.name,
        prompt_version=PROMPT_VERSION,
        options=settings.options,
        calls=CallCounts(
            sent=outcome.calls,
            cache_hits=outcome.cache_hits,
            reused_from_earlier_run=outcome.reused,
            not_sent=outcome.not_sent,
        ),
        cost=ledger.to_dict(),
        stopped=outcome.stopped,
        example_requests=_example_requests(jobs),
    )


def _write_outputs(
    out_dir: Path,
    summary: JudgeSummary,
    outcome: EngineOutcome,
    ledger: Ledger,
    out: TextIO,
    err: TextIO,
) -> int:
    """Write the summary and table, print them; EXIT_STOPPED when quota or budget stopped."""
    table = render(summary)
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary.to_json(), indent=2, ensure_ascii=False))
    (out_dir / TABLE_FILE).write_text(table)
    print(table, file=out)
    print(
        f"calls sent {outcome.calls}, cache hits {outcome.cache_hits}, reused "
        f"{outcome.reused}; spent ${ledger.spent_usd:.4f}; outputs in {out_dir}",
        file=out,
    )
    if outcome.stopped:
        print(
            f"error: run stopped: {outcome.stopped} ({outcome.not_sent} calls not sent)", file=err
        )
        return EXIT_STOPPED
    return 0


__all__ = ["JudgeConfigError", "JudgeSettings", "JudgeSetupError", "run_judge"]
