"""`hawkeye-bench serve`: an OpenAI-compatible server that runs a pipeline per request."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from hawkeye_bench.commands.arguments import (
    add_endpoint_arguments,
    add_pipeline_arguments,
)
from hawkeye_bench.commands.pipeline_options import (
    add_pipeline_option_arguments,
    resolve_pipeline_run,
)
from hawkeye_bench.core.errors import RunStopped
from hawkeye_bench.core.writable import check_writable_folder
from hawkeye_bench.eval.health import HealthWatch
from hawkeye_bench.serve.client_auth import (
    DEFAULT_CLIENT_KEY_ENV,
    client_key_from_env,
    unprotected_warning,
)
from hawkeye_bench.serve.embedded import endpoints_or_local, running_servers
from hawkeye_bench.serve.server import MAX_BODY_BYTES, PipelineServer, serve_forever
from hawkeye_bench.serve.workers import (
    ServerSpec,
    WorkerGroup,
    bind_listening_socket,
    check_upstreams,
)

#: The most worker processes ``--workers`` accepts (each is a full server with its own pool).
MAX_WORKERS = 256


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from hawkeye_bench.core.ranges import int_between, port_number

    parser = subparsers.add_parser(
        "serve",
        help="serve a pipeline as an OpenAI-compatible chat-completions server",
        description="Answer POST /v1/chat/completions (streamed or not) by running a pipeline: "
        "the last user message is the question; stage 1 streams as reasoning_content, the final "
        "stage's answer as content; usage covers all stages. --pipeline baseline is a "
        "pass-through to one model on the same path. GET /v1/models, GET /health. "
        "Per-stage sampling: body field stage_params, e.g. "
        '{"stage_params": {"reasoner": {"max_tokens": 256}}}; max_tokens and stop apply to the '
        "final stage, temperature and top_p to all. --workers N: N processes on the one "
        "port; --trace-dir: one JSON line per request and process. With a client key in "
        f"${DEFAULT_CLIENT_KEY_ENV} (or --client-key-env), every request but GET /health must "
        "send 'Authorization: Bearer <key>' (else 401).",
    )
    add_pipeline_arguments(parser)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=8080,
        help="port, 0 to 65535 (default: %(default)s; 0 = a free one)",
    )
    parser.add_argument(
        "--served-model-name", help="model id in /v1/models and answers (default: the pipeline)"
    )
    parser.add_argument(
        "--max-body-mb",
        type=_positive_mib,
        default=MAX_BODY_BYTES / 2**20,
        metavar="MIB",
        help="largest request body accepted, in MiB; larger ones get HTTP 413 "
        "(default: %(default)g)",
    )
    parser.add_argument(
        "--workers",
        type=int_between(1, MAX_WORKERS),
        default=1,
        metavar="N",
        help="server processes sharing the port, each with its own event loop "
        f"(1 to {MAX_WORKERS}; default: %(default)s, the server runs in this process)",
    )
    parser.add_argument(
        "--trace-dir",
        type=Path,
        metavar="DIR",
        help="append one JSON line per request (its pipeline trace) to "
        "DIR/serve-traces-w<worker>-<pid>.jsonl, one file per server process",
    )
    parser.add_argument(
        "--client-key-env",
        metavar="NAME",
        help="environment variable holding the key clients must send as 'Authorization: "
        f"Bearer <key>' (default: {DEFAULT_CLIENT_KEY_ENV}, when set; a NAME given must be set)",
    )
    add_pipeline_option_arguments(parser)
    add_endpoint_arguments(parser)
    parser.set_defaults(func=main)


def _positive_mib(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value * 2**20 >= 1 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive size in MiB, not {text!r}")
    return value


def _run(server: PipelineServer) -> RunStopped | None:
    """Serve until SIGINT/SIGTERM, or until a model server this process started dies (that
    error is returned: every request would fail from then on)."""
    died: list[RunStopped] = []

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)

        def announce(url: str) -> None:
            _announce(server, url)

        async def watch_model_servers() -> None:
            health = HealthWatch(servers=running_servers)
            while not stop.is_set():
                try:
                    health.poll()
                except RunStopped as exc:
                    died.append(exc)
                    stop.set()
                await asyncio.sleep(0.5)

        watcher = asyncio.create_task(watch_model_servers())
        try:
            await serve_forever(server, stop, announce)
        finally:
            watcher.cancel()

    asyncio.run(run())
    return died[0] if died else None


def _announce(server: PipelineServer, url: str, workers: int = 1) -> None:
    processes = f" with {workers} workers" if workers > 1 else ""
    print(f"serving {server.pipeline_cls.name} as {server.model_name!r}{processes} at {url}",
          flush=True)  # fmt: skip
    if server.requires_client_key:
        print(f"clients must send 'Authorization: Bearer <key>' with the key in "
              f"${server.client_key_env} (GET /health is open)", file=sys.stderr)  # fmt: skip


def _run_workers(spec: ServerSpec, workers: int) -> RunStopped | None:
    """Serve with ``workers`` processes on one socket until SIGINT/SIGTERM, a worker dies or a
    model server this process started dies (those errors are returned)."""
    server = spec.build()  # validates the pipeline and preset here, before any process starts
    asyncio.run(check_upstreams(server))
    sock = bind_listening_socket(spec.host, spec.port)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    group = WorkerGroup(spec, workers, sock)
    health = HealthWatch(servers=running_servers)
    stopped: RunStopped | None = None
    try:
        if group.start(stop.is_set):
            _announce(server, group.base_url, workers)
        while not stop.is_set() and stopped is None:
            stopped = group.poll()
            try:
                health.poll()
            except RunStopped as exc:
                stopped = exc
            group.wait(0.5)
    finally:
        problems = group.stop()
        sock.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    return stopped


def main(args: argparse.Namespace) -> int:
    run = resolve_pipeline_run(args)
    pipeline_cls, options, preset, resolved = run.pipeline, run.options, run.preset, run.endpoints
    client_key_env = args.client_key_env or DEFAULT_CLIENT_KEY_ENV
    client_key = client_key_from_env(args.client_key_env)
    if args.trace_dir is not None:
        check_writable_folder(args.trace_dir, "--trace-dir folder")
    if client_key is None:
        warning = unprotected_warning(args.host, args.port, client_key_env)
        if warning is not None:
            print(f"warning: {warning}", file=sys.stderr)
    try:
        with endpoints_or_local(resolved, pipeline_cls.roles) as endpoints:
            spec = ServerSpec(
                args.pipeline,
                dict(endpoints),
                preset=preset,
                stage2_input=args.stage2_input,
                host=args.host,
                port=args.port,
                served_model_name=args.served_model_name,
                max_body_bytes=int(args.max_body_mb * 2**20),
                trace_dir=args.trace_dir,
                options=options,
                client_key=client_key,
                client_key_env=client_key_env,
            )
            stopped = None
            with contextlib.suppress(KeyboardInterrupt):
                if args.workers > 1:
                    stopped = _run_workers(spec, args.workers)
                else:
                    stopped = _run(spec.build())
            if stopped is not None:
                stopped.add_note("serve stopped")
                raise stopped  # printed by the CLI, exit code 3
    except OSError as exc:  # e.g. the port is taken
        print(f"error: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0
