"""Locustfile for streamed chat completions, for the stock ``locust`` command line.

    locust -f "$(hawkeye-bench load --print-locustfile)" --headless -u 100 -r 100 \\
        --run-time 10m --stop-timeout 120 --host http://127.0.0.1:8000 --csv out/c100 \\
        --prompts gsm8k --max-tokens 512 --requests 500 --raw-dir out/raw/c100

Each user sends one request at a time (``wait_time = constant(0)``), so users = concurrency.
The parts, each a module beside this file: the options (``locustfile_options``), the workload
(``locustfile_workload``), this process's state (``locustfile_state``), the hooks on Locust's
events (``locustfile_lifecycle``), the user that sends and measures a request
(``locustfile_user``), the open-loop driver (``locustfile_open_loop``) and what a distributed
run's master and workers tell each other (``locustfile_distributed``). Every request is written
raw to ``<raw-dir>/requests-<pid>.jsonl`` (statistics come from those files, see
:mod:`hawkeye_bench.load.metrics`).

Distributed (Locust's ``--processes N``, or ``--master`` with ``--worker --master-host H``
processes on other machines): the master resolves the workload (model, prompts) and sends it to
every worker before the users start, so a worker needs nothing but this file and the package
(its API key comes from its own environment). Workers ship their raw records to the master in
bounded batches (:mod:`hawkeye_bench.load.shipping`); when the master stops, for whatever reason,
it asks every worker to stop its users and send the rest, and waits for them. A worker forked by
``--processes`` dies with the process that forked it, even when that one is SIGKILLed. Each
request carries ``X-Request-Id: <host>-<pid>-<seq>``.

``--requests N`` counts successful measured requests only; ``--max-failures F`` stops the test
once F measured requests failed. Every error text is cleared of the API key (read through
:func:`hawkeye_bench.core.secrets.api_key_from_env`) before it is recorded, reported to Locust or
logged: an upstream may echo the key in an error body.
"""

from __future__ import annotations

# Loading the locustfile registers the options and the event hooks (each module adds its own
# listeners when imported); Locust finds the user class among this module's names.
from hawkeye_bench.load import (
    locustfile_distributed,  # noqa: F401  (the master's and workers' messages)
    locustfile_lifecycle,  # noqa: F401  (init, test start and stop)
    locustfile_open_loop,  # noqa: F401  (the schedule starts when spawning completes)
    locustfile_options,  # noqa: F401  (the command-line options)
)
from hawkeye_bench.load.locustfile_user import ChatStreamUser

__all__ = ["ChatStreamUser"]
