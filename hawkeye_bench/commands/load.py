"""`hawkeye-bench load`: latency under load (TTFT, TBT, time per request) with the stock Locust CLI.

    hawkeye-bench load --target baseline=http://127.0.0.1:8001 \\
        --target hawkeye=http://127.0.0.1:8002 --concurrency 10,100 --requests 200 \\
        --dataset gsm8k --out runs/load
    hawkeye-bench load --calibrate --concurrency 100
    hawkeye-bench load --calibrate --ceiling       # one process's ceiling, for --processes auto
    hawkeye-bench load --processes auto --target ...           # Locust processes on this machine
    hawkeye-bench load --master --expect-workers 4 --target ...   # workers on other machines:
    hawkeye-bench load --worker --master-host 10.0.0.5 [--processes N]
    locust -f "$(hawkeye-bench load --print-locustfile)" --headless -u 100 ...
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from hawkeye_bench.commands.load_arguments import (
    AUTO,
    DEFAULT_MAX_CONCURRENCY,
    SERVE_KEY_ENV,
    SWEEP,
    add_load_arguments,
)
from hawkeye_bench.commands.load_checks import (
    DistributedSetupError,
    OpenLoopSetupError,
    check_distributed,
    check_open_loop,
)
from hawkeye_bench.core.secrets import MissingApiKey, api_key_from_env, redact
from hawkeye_bench.core.writable import check_writable_folder
from hawkeye_bench.load import LOCUSTFILE
from hawkeye_bench.load.endpoint import EndpointError, chat_path, model_ids
from hawkeye_bench.load.prompts import Messages, load_prompts
from hawkeye_bench.load.runner import LoadPlan, Target
from hawkeye_bench.load.stage_result import LoadStageResult
from hawkeye_bench.load.sweep import (
    DEFAULT_SWEEP_POINTS,
    SweepSummary,
    run_sweep,
    sweep_failures,
)
from hawkeye_bench.load.traces import distinct_arrival_share, read_trace

__all__ = [
    "SERVE_KEY_ENV",
    "DistributedSetupError",
    "OpenLoopSetupError",
    "main",
    "register",
    "target_key_env",
]

TRACE_TAIL_S = 1.0  # a replay's stage runs this long after the trace's last arrival
COARSE_TRACE_SHARE = 0.5  # fewer distinct arrival times per request: a bucketed trace


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "load",
        help="measure time per request, TTFT and time between tokens under load (Locust)",
        description="Run the stock `locust` command line headless against each --target at "
        "each --concurrency, then compute the paper's table (Time per Req, Avg TBT, Tokens, "
        "plus TTFT and p50/p90/p99) from raw per-request records. The first target is the "
        "baseline for speedups.",
    )
    add_load_arguments(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.print_locustfile:
        print(LOCUSTFILE)
        return 0
    out_dir = args.out or Path("runs") / f"load-{time.strftime('%Y%m%d-%H%M%S')}"
    check_distributed(args)
    check_open_loop(args)
    check_writable_folder(out_dir, "--out folder")
    if args.worker:
        from hawkeye_bench.load.runner import run_worker

        processes = 0 if args.processes == AUTO else int(args.processes)
        return run_worker(
            args.master_host, out_dir, master_port=args.master_port, processes=processes
        )
    if args.calibrate:
        from hawkeye_bench.commands.load_calibration import run_calibration, run_ceiling

        return run_ceiling(args, out_dir) if args.ceiling else run_calibration(args, out_dir)
    return _load(args, out_dir)


def _error(message: str) -> int:
    print(f"error: {redact(message)}", file=sys.stderr)
    return 2


def _load(args: argparse.Namespace, out_dir: Path) -> int:
    from hawkeye_bench.load.results import build_results, write_outputs
    from hawkeye_bench.load.runner import check_locust_command, parse_targets, run_plan

    targets = parse_targets(args.target)
    if args.min_goodput is not None and not args.slo:
        return _error("--min-goodput needs at least one --slo METRIC=MS")
    if args.trace is not None:  # every row checked before any request
        args.duration = args.duration or _trace_duration(args.trace, args.trace_speed or 1.0)
    if args.requests <= 0 and args.duration <= 0:
        return _error("give --requests N (measured requests per stage) or --duration SECONDS")
    prompt_source = args.prompts or args.dataset or "gsm8k"
    # fail before any load is generated
    prompts = load_prompts(prompt_source, data_dir=args.data_dir, limit=args.prompt_limit)
    args.api_key_env = target_key_env(args.api_key_env)
    headers = _auth_headers(args.api_key_env)
    plan = _load_plan(args, targets, out_dir, prompt_source)
    check_locust_command(plan)  # Locust parses every flag before the first model call
    _check_targets(targets, headers, args.model)
    if args.processes == AUTO:
        plan.processes_by_concurrency = _auto_processes(args, targets, headers, prompts[0])
    print(f"{len(prompts)} prompts from {prompt_source}; output in {out_dir}")
    sweep = None
    if args.rate == SWEEP:
        stages, sweep = run_sweep(plan, args.sweep_points or DEFAULT_SWEEP_POINTS)
    else:
        stages = run_plan(plan)
    results = build_results(plan.describe(), stages, sweep)
    paths = write_outputs(results, out_dir)
    print(paths["markdown"].read_text(encoding="utf-8").split("\n## Percentiles")[0])
    print(f"wrote {paths['json']}, {paths['markdown']}, {paths['csv']}; raw records in "
          f"{out_dir / 'raw'}")  # fmt: skip
    if sweep is not None:
        return _sweep_exit_code(stages, sweep)
    return _load_exit_code(stages)


def _trace_duration(path: Path, speed: float) -> float:
    """A replay's measured seconds: the trace's span at ``speed``, and a second for the last
    request to be sent (those in flight then get --stop-timeout)."""
    rows = read_trace(path)
    span = rows[-1].at_s / speed
    print(f"trace {path}: {len(rows)} requests over {span:.1f} s at x{speed:g}")
    if distinct_arrival_share(rows) < COARSE_TRACE_SHARE:
        print(f"note: {path} has {len({r.at_s for r in rows})} distinct arrival times for "
              f"{len(rows)} requests: its arrivals sit on a coarse grid and are replayed so "
              "(bursts at each grid point)")  # fmt: skip
    return span + TRACE_TAIL_S


def _sweep_exit_code(stages: list[LoadStageResult], sweep: SweepSummary) -> int:
    """1 when a stage failed or lost data (saturation above the knee is the sweep's result);
    3 when a target sustained none of the rates; else 0."""
    failures = sweep_failures(stages)
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    if failures:
        return 1
    for target, rate in sweep.sustainable_per_s.items():
        print(f"{target}: sustainable rate " + ("none of the swept rates" if rate is None
              else f"{rate:.3g} requests/s"))  # fmt: skip
    return 3 if None in sweep.sustainable_per_s.values() else 0


def target_key_env(given: str | None) -> str:
    """The variable holding the key sent to the targets: ``--target-key-env``, else
    :data:`SERVE_KEY_ENV` when it is set (a `serve` target requires it), else none."""
    if given is not None:
        return given
    return SERVE_KEY_ENV if os.environ.get(SERVE_KEY_ENV) else ""


def _auth_headers(api_key_env: str) -> dict[str, str]:
    if not api_key_env:
        return {}
    try:  # read through secrets, so that every text we store can be redacted of it
        key = api_key_from_env(api_key_env, "--target-key-env")
    except MissingApiKey:
        raise MissingApiKey(f"--target-key-env {api_key_env}: that variable is not set") from None
    return {"Authorization": f"Bearer {key}"}


def _check_targets(targets: list[Target], headers: dict[str, str], model: str) -> None:
    """Every target answers /v1/models; warn when it does not list ``model``."""
    for target in targets:
        try:
            ids = model_ids(target.url, headers)
        except EndpointError as exc:
            raise EndpointError(f"target {target.name!r} does not answer: {exc}") from exc
        if model and ids and model not in ids:
            print(f"warning: target {target.name!r} lists models {ids}, not {model!r}")


def _load_plan(
    args: argparse.Namespace, targets: list[Target], out_dir: Path, prompt_source: str
) -> LoadPlan:
    return LoadPlan(
        targets=targets,
        concurrencies=_concurrencies_of(args),
        out_dir=out_dir,
        requests=args.requests,
        duration_s=args.duration,
        prompts=prompt_source,
        data_dir=args.data_dir,
        prompt_limit=args.prompt_limit,
        model=args.model,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        warmup_s=args.warmup or 0.0,
        processes=0 if args.processes == AUTO else int(args.processes),
        master=args.master,
        expect_workers=args.expect_workers,
        master_port=args.master_port,
        stop_timeout_s=args.stop_timeout,
        api_key_env=args.api_key_env,
        extra_locust_args=args.locust_arg,
        slo=dict(args.slo),
        min_goodput=args.min_goodput,
        max_error_rate=args.max_error_rate,
        rates=args.rate if isinstance(args.rate, list) else [],
        trace=args.trace,
        trace_speed=args.trace_speed or 1.0,
        arrival=args.arrival or "poisson",
        burstiness=1.0 if args.burstiness is None else args.burstiness,
        seed=args.seed or 0,
    )


def _concurrencies_of(args: argparse.Namespace) -> list[int]:
    """The stages' users: --concurrency (default 10,100); open loop: the --max-concurrency."""
    if args.rate or args.trace is not None:
        return [args.max_concurrency or DEFAULT_MAX_CONCURRENCY]
    return args.concurrency or [10, 100]


def _auto_processes(
    args: argparse.Namespace, targets: list[Target], headers: dict[str, str], prompt: Messages
) -> dict[int, int]:
    """--processes auto: Locust processes per concurrency, from the measured one-process
    ceiling and one probe request's event rate per target (the fastest target decides)."""
    from hawkeye_bench.load.capacity import plan_processes, read_capacity, stream_event_rate

    capacity = read_capacity()
    rates = []
    for target in targets:
        model = args.model or model_ids(target.url, headers)[0]
        body = {"model": model, "messages": prompt, "max_tokens": args.max_tokens}
        url = target.url.rstrip("/") + chat_path(target.url)
        rate = stream_event_rate(url, body, headers)
        if rate is not None:
            rates.append(rate)
            print(f"probe: {target.name} streams {rate:.1f} token events/s per request")
    per_stream = max(rates) if rates else None
    chosen = {}
    for concurrency in _concurrencies_of(args):
        plan = plan_processes(concurrency, per_stream, capacity)
        print(f"--processes auto at c={concurrency}: {plan.note}")
        chosen[concurrency] = plan.processes
    return chosen


def _load_exit_code(stages: list[LoadStageResult]) -> int:
    """1 when a stage failed or is unreliable for any reason (failed requests, a saturated
    load generator, a lost worker or lost records, fewer successes than asked); 3 for an unmet
    --min-goodput; else 0 (the reasons printed)."""
    failed = [s for s in stages if s.is_failed]
    for stage in failed:
        print(f"error: {stage.stage}: {stage.failed}", file=sys.stderr)
    unreliable = [s for s in stages if not s.is_failed and s.reliable is False]
    for stage in unreliable:
        kind = "too many failed requests" if stage.too_many_errors else "unreliable"
        print(f"error: {stage.stage}: {kind}: {'; '.join(stage.unreliable_reasons)}",
              file=sys.stderr)  # fmt: skip
    if failed:
        return 1
    if any(s.slo_met is False for s in stages):
        print("SLO not met: goodput below --min-goodput (see the Goodput table)")
        return 3
    return 1 if unreliable else 0
