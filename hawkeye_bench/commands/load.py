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
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.secrets import MissingApiKey, api_key_from_env, redact
from hawkeye_bench.core.writable import check_writable_folder
from hawkeye_bench.datasets import dataset_names
from hawkeye_bench.load import LOCUSTFILE
from hawkeye_bench.load.arrivals import ARRIVALS, ArrivalError, check_rate
from hawkeye_bench.load.endpoint import EndpointError, chat_path, model_ids
from hawkeye_bench.load.metrics import SLO_METRICS
from hawkeye_bench.load.prompts import Messages, load_prompts
from hawkeye_bench.load.runner import (
    DEFAULT_MASTER_PORT,
    DEFAULT_MAX_ERROR_RATE,
    LoadPlan,
    Target,
)
from hawkeye_bench.load.sweep import (
    DEFAULT_SWEEP_POINTS,
    MIN_SWEEP_POINTS,
    run_sweep,
    sweep_failures,
)
from hawkeye_bench.load.traces import distinct_arrival_share, read_trace
from hawkeye_bench.serve.client_auth import DEFAULT_CLIENT_KEY_ENV

if TYPE_CHECKING:
    from hawkeye_bench.load.calibrate import Truth

AUTO = "auto"
#: the variable `serve` reads its client key from by default; `load` sends it when it is set
SERVE_KEY_ENV = DEFAULT_CLIENT_KEY_ENV
#: the concurrencies ``--calibrate --ceiling`` tries with one process (stops after two in a
#: row miss the lag bound)
CEILING_CONCURRENCIES = [10, 25, 50, 100, 200, 400, 800]


class DistributedSetupError(HawkeyeError):
    """--master/--worker flags that do not fit together."""


class OpenLoopSetupError(HawkeyeError):
    """--rate and its flags (--arrival, --burstiness, --seed, --max-concurrency) that do not fit
    together."""


#: --max-concurrency when --rate is given without it (GuideLLM's default ceiling)
DEFAULT_MAX_CONCURRENCY = 512
SWEEP = "sweep"
TRACE_TAIL_S = 1.0  # a replay's stage runs this long after the trace's last arrival
COARSE_TRACE_SHARE = 0.5  # fewer distinct arrival times per request: a bucketed trace


def _processes(text: str) -> int | str:
    if text == AUTO:
        return AUTO
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= -1 or 'auto', got {text!r}"
        ) from None
    if value < -1:
        raise argparse.ArgumentTypeError(f"expected an integer >= -1 or 'auto', got {text!r}")
    return value


def _concurrencies(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"concurrencies must be integers >= 1, got {text!r}")
    return values


def _rates(text: str) -> list[float] | str:
    """``--rate 2,5.5,10``: requests per second, each finite and > 0; or ``sweep``."""
    if text.strip() == SWEEP:
        return SWEEP
    expected = "expected comma-separated requests per second > 0, e.g. 2,5,10, or 'sweep'"
    values = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{part.strip()!r} is not a number; {expected}"
            ) from None
        try:
            values.append(check_rate(value))
        except ArrivalError as exc:
            raise argparse.ArgumentTypeError(f"{exc}; {expected}") from None
    return values


def _slo(text: str) -> tuple[str, float]:
    metric, sep, bound = text.partition("=")
    if not sep or metric not in SLO_METRICS:
        raise argparse.ArgumentTypeError(
            f"--slo {text!r}: expected METRIC=MS with METRIC one of {', '.join(SLO_METRICS)}"
        )
    try:
        value = float(bound)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--slo {text!r}: {bound!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"--slo {text!r}: the bound must be a finite number of milliseconds > 0"
        )
    return metric, value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "load",
        help="measure time per request, TTFT and time between tokens under load (Locust)",
        description="Run the stock `locust` command line headless against each --target at "
        "each --concurrency, then compute the paper's table (Time per Req, Avg TBT, Tokens, "
        "plus TTFT and p50/p90/p99) from raw per-request records. The first target is the "
        "baseline for speedups.",
    )
    _add_stage_arguments(parser)
    _add_open_loop_arguments(parser)
    _add_prompt_arguments(parser)
    _add_run_arguments(parser)
    _add_goodput_arguments(parser)
    _add_locust_arguments(parser)
    _add_distributed_arguments(parser)
    _add_calibration_arguments(parser)
    parser.set_defaults(func=main)


def _add_stage_arguments(parser: argparse.ArgumentParser) -> None:
    """Targets, concurrencies and the size of each stage."""
    from hawkeye_bench.core.ranges import non_negative_float, non_negative_int

    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="server under test (repeatable; the first is the baseline)",
    )
    parser.add_argument(
        "--concurrency",
        type=_concurrencies,
        default=None,
        metavar="C[,C...]",
        help="comma-separated users (default 10,100; --calibrate: 100)",
    )
    parser.add_argument(
        "--requests",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="measured requests per stage (0: not capped by count)",
    )
    parser.add_argument(
        "--duration",
        type=non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="measured seconds per stage after the warmup (a cap when --requests)",
    )


def _add_open_loop_arguments(parser: argparse.ArgumentParser) -> None:
    """Open-loop arrivals: requests sent on a schedule, not when the previous one ends."""
    from hawkeye_bench.core.ranges import positive_float, positive_int

    group = parser.add_argument_group("open loop (requests per second instead of users)")
    group.add_argument(
        "--rate",
        type=_rates,
        metavar="R[,R...]|sweep",
        help="requests per second, one stage per rate and target, each request sent when due "
        "whether or not earlier ones finished (instead of --concurrency); sweep: a "
        "synchronous and a throughput stage, then rates evenly spaced between them, and each "
        "target's sustainable rate",
    )
    group.add_argument(
        "--sweep-points",
        type=int,
        metavar="N",
        help=f"with --rate sweep: stages of the sweep, the synchronous and throughput ones "
        f"included (at least 2; default {DEFAULT_SWEEP_POINTS})",
    )
    group.add_argument(
        "--arrival",
        choices=ARRIVALS,
        help="gaps between requests: poisson (default; exponential), gamma (with --burstiness) "
        "or constant",
    )
    group.add_argument(
        "--burstiness",
        type=positive_float,
        help="gamma's shape: 1 is Poisson, below 1 burstier, above 1 more regular (vLLM's)",
    )
    group.add_argument("--seed", type=int, help="seed of the arrival schedule (default 0)")
    group.add_argument(
        "--trace",
        type=Path,
        metavar="FILE",
        help="replay a request trace: Mooncake-style .jsonl (timestamp ms, input_length, "
        "output_length) or Azure-style .csv (TIMESTAMP, ContextTokens, GeneratedTokens); "
        "filler prompts of the input length, max_tokens the output length (ignore_eos sent)",
    )
    group.add_argument(
        "--trace-speed",
        type=positive_float,
        metavar="X",
        help="replay the trace X times faster (default 1)",
    )
    group.add_argument(
        "--max-concurrency",
        type=positive_int,
        metavar="N",
        help="cap on requests in flight; a due request waits for a free slot and is counted "
        f"(default {DEFAULT_MAX_CONCURRENCY})",
    )


def _add_prompt_arguments(parser: argparse.ArgumentParser) -> None:
    """What each request asks: prompts, model and sampling."""
    from hawkeye_bench.core.ranges import non_negative_float, positive_int

    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", choices=dataset_names(), help="prompts from a benchmark")
    source.add_argument("--prompts", metavar="FILE.jsonl", help='lines of {"messages": [...]}')
    parser.add_argument("--data-dir", help="dataset mirror (default: HAWKEYE_DATA_DIR)")
    parser.add_argument("--prompt-limit", type=positive_int, help="use only the first N prompts")
    parser.add_argument("--model", default="", help="model name (default: first of /v1/models)")
    parser.add_argument("--max-tokens", type=positive_int, default=512)
    parser.add_argument("--temperature", type=non_negative_float)


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Warmup, Locust processes and the stop timeout."""
    from hawkeye_bench.core.ranges import non_negative_float

    parser.add_argument(
        "--warmup",
        type=non_negative_float,
        help="seconds not measured (default 0; --calibrate: 1)",
    )
    parser.add_argument(
        "--processes",
        type=_processes,
        default=0,
        metavar="N|-1|auto",
        help="Locust processes on this machine (locust --processes; -1: one per core; auto: "
        "from the one-process ceiling of `--calibrate --ceiling` and one probe request per "
        "stage's stream rate, capped at the cores). With --worker: worker processes here",
    )
    parser.add_argument(
        "--stop-timeout",
        type=non_negative_float,
        default=300.0,
        help="seconds in-flight requests may finish",
    )


def _add_goodput_arguments(parser: argparse.ArgumentParser) -> None:
    """SLO bounds and the goodput and error-rate limits that set the exit code."""
    from hawkeye_bench.core.ranges import share

    parser.add_argument(
        "--slo",
        action="append",
        default=[],
        type=_slo,
        metavar="METRIC=MS",
        help=f"per-request bound for goodput (repeatable; {', '.join(SLO_METRICS)})",
    )
    parser.add_argument(
        "--min-goodput",
        type=share,
        help="exit with code 3 when a stage's goodput share (0-1) is below this",
    )
    parser.add_argument(
        "--max-error-rate",
        type=share,
        default=DEFAULT_MAX_ERROR_RATE,
        help="a stage whose share of failed measured requests is above this (or with no "
        "success) is unreliable and the exit code is 1, or 3 with an unmet --min-goodput "
        "(default: %(default)s)",
    )


def _add_locust_arguments(parser: argparse.ArgumentParser) -> None:
    """The API key, extra Locust arguments and where the outputs go."""
    parser.add_argument(
        "--target-key-env",
        "--api-key-env",
        dest="api_key_env",
        default=None,
        metavar="NAME",
        help="environment variable with the key sent to every target as 'Authorization: Bearer' "
        f"(default: {SERVE_KEY_ENV} when it is set, the key `serve` requires; never written "
        "to any output)",
    )
    parser.add_argument(
        "--locust-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument passed to locust (repeatable, e.g. --locust-arg=--html=x.html)",
    )
    parser.add_argument("--out", type=Path, help="output directory (default runs/load-<time>)")
    parser.add_argument(
        "--print-locustfile", action="store_true", help="print the locustfile path and exit"
    )


def _add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    """Locust's distributed mode over several machines."""
    from hawkeye_bench.core.ranges import positive_int

    group = parser.add_argument_group("several machines (Locust's distributed mode)")
    group.add_argument(
        "--master",
        action="store_true",
        help="run each stage as a Locust master: the load comes from --expect-workers worker "
        "processes started elsewhere with `hawkeye-bench load --worker --master-host HOST`",
    )
    group.add_argument(
        "--expect-workers",
        type=positive_int,
        default=0,
        metavar="N",
        help="with --master: worker processes to wait for (all machines together)",
    )
    group.add_argument(
        "--worker",
        action="store_true",
        help="serve a --master run from this machine, stage after stage, until its last stage "
        "(the master sends the workload; records go back to it)",
    )
    group.add_argument("--master-host", metavar="HOST", help="with --worker: the master's address")
    group.add_argument(
        "--master-port",
        type=positive_int,
        default=DEFAULT_MASTER_PORT,
        help="the master's Locust port (default: %(default)s)",
    )


def _add_calibration_arguments(parser: argparse.ArgumentParser) -> None:
    from hawkeye_bench.core.ranges import non_negative_float, positive_int

    calibration = parser.add_argument_group("calibration (--calibrate)")
    calibration.add_argument(
        "--calibrate",
        action="store_true",
        help="measure the built-in scripted server (known TTFT and gap) and report the error",
    )
    calibration.add_argument(
        "--ceiling",
        action="store_true",
        help="measure one load process's ceiling (streamed events/s read with delivery lag "
        "p99 under 5 ms) at rising concurrency and keep it for --processes auto",
    )
    calibration.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin server and Locust to different cores (better on a busy machine)",
    )
    calibration.add_argument("--calibrate-ttft-ms", type=non_negative_float, default=100.0)
    calibration.add_argument("--calibrate-gap-ms", type=non_negative_float, default=20.0)
    calibration.add_argument("--calibrate-tokens", type=positive_int, default=64)
    calibration.add_argument("--calibrate-tokens-per-chunk", type=positive_int, default=1)
    calibration.add_argument(
        "--calibrate-requests-per-user",
        type=positive_int,
        default=5,
        help="measured requests = this × c",
    )


def main(args: argparse.Namespace) -> int:
    if args.print_locustfile:
        print(LOCUSTFILE)
        return 0
    out_dir = args.out or Path("runs") / f"load-{time.strftime('%Y%m%d-%H%M%S')}"
    _check_distributed(args)
    _check_open_loop(args)
    check_writable_folder(out_dir, "--out folder")
    if args.worker:
        from hawkeye_bench.load.runner import run_worker

        processes = 0 if args.processes == AUTO else int(args.processes)
        return run_worker(
            args.master_host, out_dir, master_port=args.master_port, processes=processes
        )
    if args.calibrate and args.ceiling:
        return _ceiling(args, out_dir)
    if args.calibrate:
        return _calibrate(args, out_dir)
    return _load(args, out_dir)


def _check_distributed(args: argparse.Namespace) -> None:
    if args.worker and not args.master_host:
        raise DistributedSetupError("--worker needs --master-host HOST (the master's address)")
    if args.worker and (args.master or args.calibrate or args.target):
        raise DistributedSetupError(
            "--worker takes its workload from the master: give only --master-host, "
            "--master-port and --processes"
        )
    if args.master_host and not args.worker:
        raise DistributedSetupError("--master-host is for --worker")
    if args.master and not args.expect_workers:
        raise DistributedSetupError("--master needs --expect-workers N (worker processes)")
    if args.expect_workers and not args.master:
        raise DistributedSetupError("--expect-workers is for --master")
    if args.master and args.processes:
        raise DistributedSetupError(
            "--master runs no users itself: give --processes to the workers "
            "(`hawkeye-bench load --worker --processes N`)"
        )
    if args.master and args.calibrate:
        raise DistributedSetupError("--calibrate runs on one machine: drop --master")


def _check_open_loop(args: argparse.Namespace) -> None:
    if args.sweep_points is not None and args.rate != SWEEP:
        raise OpenLoopSetupError("--sweep-points: only with --rate sweep")
    if args.rate == SWEEP and args.sweep_points is not None and args.sweep_points < 2:
        raise OpenLoopSetupError(
            f"--sweep-points {args.sweep_points}: a sweep needs at least {MIN_SWEEP_POINTS} "
            "points (the synchronous and the throughput stage)"
        )
    if args.trace_speed is not None and args.trace is None:
        raise OpenLoopSetupError("--trace-speed: only with --trace FILE")
    if args.trace is not None and (args.rate is not None or args.concurrency is not None):
        raise OpenLoopSetupError(
            "--trace sets the arrivals itself: drop --rate and --concurrency (cap the requests "
            "in flight with --max-concurrency)"
        )
    if args.rate is None:
        flags = (("--arrival", args.arrival), ("--burstiness", args.burstiness),
                 ("--seed", args.seed))  # fmt: skip
        given = [flag for flag, value in flags if value is not None]
        if args.max_concurrency is not None and args.trace is None:
            given.append("--max-concurrency")
        if given:
            raise OpenLoopSetupError(f"{', '.join(given)}: only with --rate R (open loop)")
        if args.trace is not None and (args.calibrate or args.worker):
            raise OpenLoopSetupError("--trace is for a load run (not --calibrate or --worker)")
        return
    if args.concurrency is not None:
        raise OpenLoopSetupError(
            "--rate and --concurrency exclude each other: cap the requests in flight of an "
            "open-loop stage with --max-concurrency"
        )
    if args.calibrate or args.worker:
        raise OpenLoopSetupError("--rate is for a load run (--calibrate and --worker take none)")
    if args.burstiness is not None and args.burstiness != 1 and args.arrival != "gamma":
        raise OpenLoopSetupError("--burstiness is the shape of --arrival gamma")


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


def _sweep_exit_code(stages: list[dict[str, Any]], sweep: dict[str, Any]) -> int:
    """1 when a stage failed or lost data (saturation above the knee is the sweep's result);
    3 when a target sustained none of the rates; else 0."""
    failures = sweep_failures(stages)
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    if failures:
        return 1
    for target, rate in sweep["sustainable_per_s"].items():
        print(f"{target}: sustainable rate " + ("none of the swept rates" if rate is None
              else f"{rate:.3g} requests/s"))  # fmt: skip
    return 3 if None in sweep["sustainable_per_s"].values() else 0


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


def _load_exit_code(stages: list[dict[str, Any]]) -> int:
    """1 when a stage failed or is unreliable for any reason (failed requests, a saturated
    load generator, a lost worker or lost records, fewer successes than asked); 3 for an unmet
    --min-goodput; else 0 (the reasons printed)."""
    failed = [s for s in stages if "failed" in s]
    for stage in failed:
        print(f"error: {stage['stage']}: {stage['failed']}", file=sys.stderr)
    unreliable = [s for s in stages if "failed" not in s and not s.get("reliable", True)]
    for stage in unreliable:
        kind = "too many failed requests" if stage.get("too_many_errors") else "unreliable"
        print(f"error: {stage['stage']}: {kind}: {'; '.join(stage['unreliable_reasons'])}",
              file=sys.stderr)  # fmt: skip
    if failed:
        return 1
    if any(s.get("slo_met") is False for s in stages):
        print("SLO not met: goodput below --min-goodput (see the Goodput table)")
        return 3
    return 1 if unreliable else 0


def _calibration_truth(args: argparse.Namespace) -> Truth:
    """What the calibration's scripted server is told to send (--calibrate-* flags)."""
    from hawkeye_bench.load.calibrate import Truth

    return Truth(
        ttft_ms=args.calibrate_ttft_ms,
        gap_ms=args.calibrate_gap_ms,
        tokens=args.calibrate_tokens,
        tokens_per_chunk=args.calibrate_tokens_per_chunk,
    )


def _calibrate(args: argparse.Namespace, out_dir: Path) -> int:
    from hawkeye_bench.load.calibrate import calibrate, render

    truth = _calibration_truth(args)
    evaluations = calibrate(
        args.concurrency or [100],
        out_dir,
        requests_per_user=args.calibrate_requests_per_user,
        warmup_s=1.0 if args.warmup is None else args.warmup,
        processes=args.processes,
        truth=truth,
        pin_cores=not args.no_pin,
    )
    print(render(evaluations))
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / "calibration.json"
    report.write_text(json.dumps(evaluations, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {report}")
    return 0 if all(ev["passed"] for ev in evaluations) else 1


def _ceiling(args: argparse.Namespace, out_dir: Path) -> int:
    """--calibrate --ceiling: one process's ceiling, kept for --processes auto."""
    from hawkeye_bench.load.calibrate import measure_ceiling
    from hawkeye_bench.load.capacity import save_capacity

    truth = _calibration_truth(args)
    capacity, evaluations = measure_ceiling(
        args.concurrency or CEILING_CONCURRENCIES,
        out_dir,
        requests_per_user=args.calibrate_requests_per_user,
        truth=truth,
        pin_cores=not args.no_pin,
    )
    for ev in evaluations:
        m = ev["measured"]
        print(f"c={ev['concurrency']}: {m['events_per_s'] or 0:.0f} events/s read, lag p99 "
              f"{m['lag_p99_ms'] or float('nan'):.2f} ms, client CPU max "
              f"{m['client_cpu_max_percent'] or 0:.0f} %")  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "ceiling.json").write_text(
        json.dumps({"capacity": capacity and capacity.to_dict(), "runs": evaluations}, indent=2)
        + "\n",
        encoding="utf-8",
    )
    if capacity is None:
        print("error: no concurrency was read with delivery lag p99 under the bound",
              file=sys.stderr)  # fmt: skip
        return 1
    path = save_capacity(capacity)
    bound = capacity.lag_p99_bound_ms
    print(f"one load process: {capacity.events_per_s:.0f} streamed events/s with lag p99 "
          f"{capacity.lag_p99_ms:.2f} ms (< {bound:g} ms); kept in {path}")  # fmt: skip
    return 0
