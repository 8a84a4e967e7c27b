"""The locustfile's own command-line options (``locust -f ... --prompts gsm8k ...``).

Registered on Locust's parser when the locustfile is loaded; read back from
``environment.parsed_options`` by the event hooks (:mod:`hawkeye_bench.load.locustfile_lifecycle`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from locust import events

from hawkeye_bench.load import NEXT_STAGE_EXIT_CODE
from hawkeye_bench.load.arrivals import ARRIVALS


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    group = parser.add_argument_group("hawkeye-bench streamed chat completions")
    group.add_argument(
        "--prompts",
        default="gsm8k",
        help='dataset name (gsm8k, math500, ...) or a .jsonl file of {"messages": [...]}',
    )
    group.add_argument("--data-dir", default=None, help="dataset mirror (else HAWKEYE_DATA_DIR)")
    group.add_argument("--prompt-limit", type=int, default=None, help="use the first N prompts")
    group.add_argument("--model", default="", help="model name (default: first of GET /v1/models)")
    group.add_argument("--max-tokens", type=int, default=512)
    group.add_argument("--temperature", type=float, default=None)
    group.add_argument(
        "--warmup", type=float, default=0.0, help="seconds; requests sent earlier are not measured"
    )
    group.add_argument(
        "--requests",
        type=int,
        default=0,
        help="quit after N measured requests succeeded (failed ones do not count); "
        "0 = until --run-time",
    )
    group.add_argument(
        "--max-failures",
        type=int,
        default=0,
        help="quit after N measured requests failed; 0 = no limit",
    )
    group.add_argument(
        "--measure-for",
        type=float,
        default=0.0,
        help="quit this many seconds after the warmup ends (unlike --run-time, which counts "
        "from process start-up); 0 = no limit",
    )
    group.add_argument(
        "--raw-dir", default="", help="raw per-request records (default: ./locust-raw-<time>)"
    )
    group.add_argument("--stage", default="", help="tag written into every raw record")
    group.add_argument(
        "--api-key-env", default="", help="name of the environment variable with the API key"
    )
    group.add_argument(
        "--no-stream-options", action="store_true", help="never send stream_options (usage)"
    )
    group.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="open loop: requests per second over all processes, sent when due whether or not "
        "earlier ones finished (users = the cap on requests in flight); 0 = closed loop",
    )
    group.add_argument("--arrival", choices=ARRIVALS, default="poisson")
    group.add_argument("--burstiness", type=float, default=1.0, help="gamma's shape (1: Poisson)")
    group.add_argument("--seed", type=int, default=0, help="seed of the arrival schedule")
    group.add_argument(
        "--trace",
        default="",
        help="replay a trace (Mooncake .jsonl or Azure .csv): arrivals, input and output lengths",
    )
    group.add_argument("--trace-speed", type=float, default=1.0, help="trace pace multiplier")
    group.add_argument(
        "--stages-left",
        type=int,
        default=0,
        help="master: stages after this one (their workers exit with code "
        f"{NEXT_STAGE_EXIT_CODE}, to be started again)",
    )


def raw_dir(options: Any) -> Path:
    """Where the raw records go: ``--raw-dir``, else ``./locust-raw-<time>``."""
    return Path(options.raw_dir or f"locust-raw-{time.strftime('%Y%m%d-%H%M%S')}")
