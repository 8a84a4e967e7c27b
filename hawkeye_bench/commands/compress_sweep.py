"""`hawkeye-bench compress-sweep`: the compression study over writers, responders, methods and
shares.

Takes every flag of ``eval`` (task, limit, preset, endpoints per role, ...); ``--keep`` and
``--methods`` take comma-separated lists, and ``--responder-url/--responder-model/
--responder-key-env`` (and the same ``--writer-*`` flags) may be repeated (or be lists in
``--config``) for several responders (writers), paired in order (one value is shared by all).
Each (writer, responder, method, share) is an ordinary compress run in
``<out>/runs/[<writer>/]<responder>/``; all share one call cache in ``<out>``, so each writer's
CoT is written once per problem, each compression is made once per writer and share for every
responder, and no finished call is ever made again (rerun with ``--resume`` to finish or extend
a sweep).
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import dataclass
from typing import Any

from hawkeye_bench.commands.arguments import RepeatedFlag, endpoint_settings
from hawkeye_bench.commands.eval import build_parser, plan_from_args
from hawkeye_bench.commands.pipeline_options import given_options
from hawkeye_bench.commands.sweep_runner import (
    STOPPED,
    lock_sweep,
    run_args,
    run_in_turn,
    sweep_root,
    sweep_settings,
)
from hawkeye_bench.endpoints.settings import ConfigError, resolve_endpoints
from hawkeye_bench.eval.compress_sweep import (
    DEFAULT_KEEPS,
    DEFAULT_METHODS,
    SWEEP_FILE,
    SweepRun,
    collect,
    folder_name,
    read_sweep_file,
    read_sweep_runs,
    sweep_runs,
    write_sweep_file,
    write_tables,
)
from hawkeye_bench.eval.runner import EvalPlan
from hawkeye_bench.eval.sweep_folder import SweepModel
from hawkeye_bench.pipelines.compress import CompressOptions

#: The folder of a role when no endpoint is given (the embedded default model).
EMBEDDED_RESPONDER = "embedded"
#: The roles a sweep may give several models for, each with its ``--<role>-*`` flags.
SWEPT_ROLES = ("writer", "responder")
ROLE_HELP = {
    "writer": "a writer (the large model that writes the CoT)",
    "responder": "a responder (the small model that answers from the CoT)",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "compress-sweep",
        help="compression study: accuracy against the kept share of a writer's CoT",
        description="Run the compress pipeline for every responder, compression method and "
        "kept share (plus the no-CoT and full-CoT anchors), reusing the writer's CoT of each "
        "problem and each compression, and write compress_table.md/.csv and achieved.csv into "
        "--out.",
        conflict_handler="resolve",  # the responder flags below replace eval's single ones
    )
    build_parser(parser, ("compress",))
    group = next(g for g in parser._action_groups if g.title == "endpoints")
    flags = (("url", "base URL"), ("model", "model name"), ("key-env", "API key's env var NAME"))
    for role in SWEPT_ROLES:
        for flag, what in flags:
            group.add_argument(
                f"--{role}-{flag}",
                action=RepeatedFlag,
                help=f"{what} of {ROLE_HELP[role]}; repeat for several, paired in order (one "
                "value is shared by all)",
            )
    parser.set_defaults(func=main, pipeline="compress")


@dataclass(frozen=True)
class RoleChoice:
    """One model of a swept role (a writer, a responder): its flags and its folder name."""

    url: str | None
    model: str | None
    key_env: str | None
    folder: str


def _values(value: Any) -> list[str]:
    """A repeated flag's values (a config file may give one string or a list)."""
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def responders(args: argparse.Namespace) -> list[RoleChoice]:
    """The responders the flags (or the config file) name, each with a distinct folder."""
    return role_choices(args, "responder")


def role_choices(args: argparse.Namespace, role: str) -> list[RoleChoice]:
    """The models of ``role`` the flags (or the config file) name, each with a distinct
    folder."""
    attribute = role.replace("-", "_")
    lists = {
        f"--{role}-url": _values(getattr(args, f"{attribute}_url")),
        f"--{role}-model": _values(getattr(args, f"{attribute}_model")),
        f"--{role}-key-env": _values(getattr(args, f"{attribute}_key_env")),
    }
    count = max(len(values) for values in lists.values())
    for flag, values in lists.items():
        if len(values) not in (0, 1, count):
            raise ConfigError(
                f"{flag} given {len(values)} times for {count} {role}s: give it once (shared "
                f"by all) or once per {role}, in the same order as --{role}-model"
            )
    urls, models, keys = (
        [values[i if len(values) > 1 else 0] if values else None for i in range(max(count, 1))]
        for values in lists.values()
    )
    found: list[RoleChoice] = []
    for url, model, key in zip(urls, models, keys, strict=True):
        one = copy.copy(args)
        if model and not url:  # a model alone is served where every other role is
            url = args.endpoint
        setattr(one, f"{attribute}_url", url)
        setattr(one, f"{attribute}_model", model)
        setattr(one, f"{attribute}_key_env", key)
        endpoint = resolve_endpoints(endpoint_settings(one), [role]).get(role)
        base = folder_name(endpoint.model) if endpoint else EMBEDDED_RESPONDER
        folder, n = base, 1
        while folder in {r.folder for r in found}:
            n += 1
            folder = f"{base}-{n}"
        found.append(RoleChoice(url, model, key, folder))
    return found


def main(args: argparse.Namespace) -> int:
    keeps = list(dict.fromkeys(args.keep or DEFAULT_KEEPS))
    methods = list(dict.fromkeys(args.methods or DEFAULT_METHODS))
    root = sweep_root(args, "compress-sweep", SWEEP_FILE)
    chosen = {r.folder: r for r in responders(args)}
    writers = role_choices(args, "writer")
    # one writer: the runs are not nested under its folder (the layout before several writers)
    by_writer = {w.folder: w for w in writers} if len(writers) > 1 else {"": writers[0]}
    runs = sweep_runs(methods, keeps, list(chosen), list(by_writer))
    shared = given_options(args, CompressOptions, sweep=True)  # every run's

    def plan(run: SweepRun) -> tuple[str, EvalPlan]:
        out = root / "runs" / run.folder
        responder, writer = chosen[run.responder], by_writer[run.writer]
        one = run_args(
            args,
            out,
            responder_url=responder.url,
            responder_model=responder.model,
            responder_key_env=responder.key_env,
            writer_url=writer.url,
            writer_model=writer.model,
            writer_key_env=writer.key_env,
        )
        options = {"keep": run.keep, "method": run.method, **shared}
        plan = plan_from_args(one, options=options, out=out, cache_dir=root)
        who = f"{run.writer} -> {run.responder}" if run.writer else run.responder
        return f"{who}: {run.method} keep {run.keep:g}", plan

    with lock_sweep(root, "compress-sweep"):
        plans = [plan(run) for run in runs]  # every run checked before the first model call
        listed = list(dict.fromkeys([*read_sweep_runs(root), *runs]))  # an extension keeps the old
        before = read_sweep_file(root)
        listed_responders = {r.folder: r for r in before.settings.responders} if before else {}
        for responder in chosen.values():  # an extension keeps the responders run before
            listed_responders[responder.folder] = SweepModel(
                responder.folder, responder.model, responder.url
            )
        listed_writers = {w.folder: w for w in before.settings.writers} if before else {}
        for folder, writer in by_writer.items():
            listed_writers[folder] = SweepModel(folder, writer.model, writer.url)
        settings = sweep_settings(
            args,
            options=shared,
            responders=list(listed_responders.values()),
            writers=list(listed_writers.values()),
        )
        write_sweep_file(root, listed, settings)
        exit_code = run_in_turn(plans, "compress-sweep")
        if exit_code in STOPPED:
            return exit_code
        rows, items = collect(root, listed)
        print(write_tables(root, rows, items))
    return exit_code
