"""The `hawkeye-bench` command.

Each subcommand lives in hawkeye_bench/commands/<module>.py and exposes
``register(subparsers)``; its parser sets ``func`` (args -> exit code). Only the module of the
command being run is imported, so `hawkeye-bench eval` does not pay for matplotlib, scipy or
the openai SDK, and `hawkeye-bench --help` imports none of them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hawkeye_bench import __version__
from hawkeye_bench.commands.arguments import load_config_file, set_config_defaults
from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.secrets import redact

#: command name -> (module in hawkeye_bench.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "eval": ("eval", "run a pipeline on a benchmark and grade it"),
    "compress-sweep": (
        "compress_sweep",
        "compression study: accuracy against the kept share of a writer's CoT",
    ),
    "route-sweep": (
        "route_sweep",
        "token routing: accuracy against routed share over routers and thresholds",
    ),
    "lm-eval": ("lm_eval", "run lm-eval with the hawkeye_* tasks and the hawkeye model"),
    "import": ("import_outputs", "grade and count outputs generated elsewhere (batch, lm-eval)"),
    "serve": ("serve", "OpenAI-compatible server that runs a pipeline per request"),
    "load": ("load", "Locust load test: TTFT, time between tokens, time per request"),
    "judge": ("judge", "LLM judges rate answers (clarity, coherence, conciseness, ...)"),
    "report": ("report", "markdown report with PNG figures from runs, load and judge results"),
    "cost": ("cost", "USD per 1k problems / per correct answer / per request, from results"),
    "reward": ("reward", "training rewards (Hawkeye, Kimi, ...) for a finished run's outputs"),
    "serve-local": ("serve_local", "run the embedded default model as an OpenAI-compatible server"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the full sub-parser of ``command`` only (the others as stubs)."""
    parser = argparse.ArgumentParser(
        prog="hawkeye-bench",
        description="Evaluate and benchmark efficient reasoning by model collaboration "
        "(Hawkeye: a reasoner writes a concise chain of thought, a small model answers) "
        "against any OpenAI-compatible server. `hawkeye-bench COMMAND --help` for details.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        if name == command:
            importlib.import_module(f"hawkeye_bench.commands.{module}").register(subparsers)
        else:
            subparsers.add_parser(name, help=help_text)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    """The sub-parser of command ``name`` (argparse keeps no public handle on it)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise LookupError(f"{parser.prog} has no sub-commands")


def _command_in(argv: Sequence[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code (see :class:`hawkeye_bench.core.errors.HawkeyeError`).

    A user error (a :class:`HawkeyeError`) is printed as ``error: ...`` lines without a
    traceback; any other exception is a bug and propagates with its traceback.
    """
    try:
        return _run(argv)
    except HawkeyeError as exc:
        print_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def print_error(exc: HawkeyeError) -> None:
    """Each line of the message and of its notes as ``error: <line>`` on stderr, redacted (an
    upstream may echo the API key it was sent in the error text quoted here)."""
    text = "\n".join([str(exc), *getattr(exc, "__notes__", ())])
    for line in redact(text).splitlines():
        if line.strip():
            print(f"error: {line}", file=sys.stderr)


def _run(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_in(argv)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "config", None):
        # Re-parse with the file's settings as defaults, so flags still win over the file.
        subparser = _subparser(parser, args.command)
        config = load_config_file(args.config)
        set_config_defaults(subparser, config)
        args = parser.parse_args(argv)
        args.config_endpoints = config.get("endpoints") or {}
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
