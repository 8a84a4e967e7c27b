"""`hawkeye-bench load`: latency under load (TTFT, TBT, time per request) with the stock Locust CLI.

    hawkeye-bench load --target baseline=http://127.0.0.1:8001 \\
        --target hawkeye=http://127.0.0.1:8002 --concurrency 10,100 --requests 200 \\
        --dataset gsm8k --out runs/load
    hawkeye-bench load --calibrate --concurrency 100
    locust -f "$(hawkeye-bench load --print-locustfile)" --headless -u 100 ...
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from hawkeye_bench.core.secrets import MissingApiKey, api_key_from_env, redact
from hawkeye_bench.datasets import dataset_names
from hawkeye_bench.load import LOCUSTFILE
from hawkeye_bench.load.endpoint import EndpointError, model_ids
from hawkeye_bench.load.metrics import SLO_METRICS
from hawkeye_bench.load.prompts import load_prompts
from hawkeye_bench.load.runner import DEFAULT_MAX_ERROR_RATE, LoadPlan, Target


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


def _slo(text: str) -> tuple[str, float]:
    metric, sep, bound = text.partition("=")
    if not sep or metric not in SLO_METRICS:
        raise argparse.ArgumentTypeError(
            f"--slo {text!r}: expected METRIC=MS with METRIC one of {', '.join(SLO_METRICS)}"
        )
    try:
        return metric, float(bound)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--slo {text!r}: {bound!r} is not a number") from None


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
    _add_prompt_arguments(parser)
    _add_run_arguments(parser)
    _add_goodput_arguments(parser)
    _add_locust_arguments(parser)
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
    from hawkeye_bench.core.ranges import int_at_least, non_negative_float

    parser.add_argument(
        "--warmup",
        type=non_negative_float,
        help="seconds not measured (default 0; --calibrate: 1)",
    )
    parser.add_argument(
        "--processes",
        type=int_at_least(-1),
        default=0,
        help="locust --processes (-1: one per core)",
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
    parser.add_argument("--api-key-env", default="", help="environment variable with the API key")
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


def _add_calibration_arguments(parser: argparse.ArgumentParser) -> None:
    from hawkeye_bench.core.ranges import non_negative_float, positive_int

    calibration = parser.add_argument_group("calibration (--calibrate)")
    calibration.add_argument(
        "--calibrate",
        action="store_true",
        help="measure the built-in scripted server (known TTFT and gap) and report the error",
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
    if args.calibrate:
        return _calibrate(args, out_dir)
    return _load(args, out_dir)


def _error(message: str) -> int:
    print(f"error: {redact(message)}", file=sys.stderr)
    return 2


def _load(args: argparse.Namespace, out_dir: Path) -> int:
    from hawkeye_bench.load.results import build_results, write_outputs
    from hawkeye_bench.load.runner import parse_targets, run_plan

    targets = parse_targets(args.target)
    if args.min_goodput is not None and not args.slo:
        return _error("--min-goodput needs at least one --slo METRIC=MS")
    if args.requests <= 0 and args.duration <= 0:
        return _error("give --requests N (measured requests per stage) or --duration SECONDS")
    prompt_source = args.prompts or args.dataset or "gsm8k"
    # fail before any load is generated
    prompts = load_prompts(prompt_source, data_dir=args.data_dir, limit=args.prompt_limit)
    _check_targets(targets, _auth_headers(args.api_key_env), args.model)
    plan = _load_plan(args, targets, out_dir, prompt_source)
    print(f"{len(prompts)} prompts from {prompt_source}; output in {out_dir}")
    stages = run_plan(plan)
    results = build_results(plan.describe(), stages)
    paths = write_outputs(results, out_dir)
    print(paths["markdown"].read_text(encoding="utf-8").split("\n## Percentiles")[0])
    print(f"wrote {paths['json']}, {paths['markdown']}, {paths['csv']}; raw records in "
          f"{out_dir / 'raw'}")  # fmt: skip
    return _load_exit_code(stages)


def _auth_headers(api_key_env: str) -> dict[str, str]:
    if not api_key_env:
        return {}
    try:  # read through secrets, so that every text we store can be redacted of it
        key = api_key_from_env(api_key_env, "--api-key-env")
    except MissingApiKey:
        raise MissingApiKey(f"--api-key-env {api_key_env}: that variable is not set") from None
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
        concurrencies=args.concurrency or [10, 100],
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
        processes=args.processes,
        stop_timeout_s=args.stop_timeout,
        api_key_env=args.api_key_env,
        extra_locust_args=args.locust_arg,
        slo=dict(args.slo),
        min_goodput=args.min_goodput,
        max_error_rate=args.max_error_rate,
    )


def _load_exit_code(stages: list[dict[str, Any]]) -> int:
    """1 for failed or erring stages, 3 for an unmet --min-goodput, else 0 (errors printed)."""
    failed = [s["stage"] for s in stages if "failed" in s]
    if failed:
        print(f"error: no usable raw records for {', '.join(failed)}", file=sys.stderr)
        return 1
    erring = [s for s in stages if s.get("too_many_errors")]
    for stage in erring:
        print(f"error: {stage['stage']}: too many failed requests: "
              f"{'; '.join(stage['unreliable_reasons'])}", file=sys.stderr)  # fmt: skip
    if any(s.get("slo_met") is False for s in stages):
        print("SLO not met: goodput below --min-goodput (see the Goodput table)")
        return 3
    return 1 if erring else 0


def _calibrate(args: argparse.Namespace, out_dir: Path) -> int:
    from hawkeye_bench.load.calibrate import Truth, calibrate, render

    truth = Truth(
        ttft_ms=args.calibrate_ttft_ms,
        gap_ms=args.calibrate_gap_ms,
        tokens=args.calibrate_tokens,
        tokens_per_chunk=args.calibrate_tokens_per_chunk,
    )
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
