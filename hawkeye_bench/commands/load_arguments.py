"""The flags of `hawkeye-bench load` and the types that read them."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from hawkeye_bench.datasets import dataset_names
from hawkeye_bench.load.arrivals import ARRIVALS, ArrivalError, check_rate
from hawkeye_bench.load.metrics import SLO_METRICS
from hawkeye_bench.load.runner import DEFAULT_MASTER_PORT, DEFAULT_MAX_ERROR_RATE
from hawkeye_bench.load.sweep import DEFAULT_SWEEP_POINTS
from hawkeye_bench.serve.client_auth import DEFAULT_CLIENT_KEY_ENV

AUTO = "auto"
SWEEP = "sweep"
#: the variable `serve` reads its client key from by default; `load` sends it when it is set
SERVE_KEY_ENV = DEFAULT_CLIENT_KEY_ENV
#: --max-concurrency when --rate is given without it (GuideLLM's default ceiling)
DEFAULT_MAX_CONCURRENCY = 512


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """Every flag of `hawkeye-bench load`, in the order its help lists them."""
    _add_stage_arguments(parser)
    _add_open_loop_arguments(parser)
    _add_prompt_arguments(parser)
    _add_run_arguments(parser)
    _add_goodput_arguments(parser)
    _add_locust_arguments(parser)
    _add_distributed_arguments(parser)
    _add_calibration_arguments(parser)


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
