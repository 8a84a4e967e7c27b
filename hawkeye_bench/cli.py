"""The `hawkeye-bench` command. Each subcommand lives in hawkeye_bench/commands/<name>.py and
exposes ``register(subparsers)``; its parser sets ``func`` (args -> exit code)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

from hawkeye_bench import __version__
from hawkeye_bench.config import ConfigError, apply_config_defaults, load_config_file

COMMANDS = ("eval", "serve_local", "serve", "load", "judge", "report", "lm_eval")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hawkeye-bench",
        description="Evaluate and benchmark efficient reasoning by model collaboration "
        "(Hawkeye: a reasoner writes a concise chain of thought, a small model answers) "
        "against any OpenAI-compatible server.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module_name = f"hawkeye_bench.commands.{name}"
        if importlib.util.find_spec(module_name) is not None:
            importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "config", None):
        # Re-parse with the file's settings as defaults, so flags still win over the file.
        subparser = parser._subparsers._group_actions[0].choices[args.command]  # type: ignore[union-attr]
        try:
            config = load_config_file(args.config)
            apply_config_defaults(subparser, None, config)  # validates the keys
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        args = parser.parse_args(argv)
        args.config_endpoints = config.get("endpoints") or {}
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
