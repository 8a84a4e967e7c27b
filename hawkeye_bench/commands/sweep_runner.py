"""What the sweep commands (compress-sweep, route-sweep) share: the sweep folder checked against
``--resume``, the settings every sweep file records, and its runs made one after another."""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hawkeye_bench.commands.eval import check_run_flags, default_out
from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.folder_lock import FolderLock
from hawkeye_bench.eval.runner import EvalPlan, run_eval
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.eval.sweep_folder import SweepModel, SweepSettings

#: Exit codes of a run that stopped: the runs after it would fail the same way.
STOPPED = (2, 3, 130)


class SweepFolderError(HawkeyeError):
    """A sweep folder that cannot be used as asked."""


def check_sweep_folder(root: Path, sweep_file: str, resume: bool) -> None:
    """A new sweep needs a folder without one, ``--resume`` a folder with one."""
    if (root / sweep_file).is_file() and not resume:
        raise SweepFolderError(
            f"{root} already holds a sweep: add --resume to finish or extend it, or pick --out"
        )
    if resume and not (root / sweep_file).is_file():
        raise SweepFolderError(f"--resume: {root} holds no sweep ({sweep_file} is missing)")


def sweep_settings(
    args: argparse.Namespace,
    *,
    options: Mapping[str, Any],
    responders: Sequence[SweepModel] = (),
    writers: Sequence[SweepModel] = (),
) -> SweepSettings:
    """What every sweep file records of the command line, plus the sweep's own settings: the
    pipeline options its runs share and the models of its swept roles."""
    return SweepSettings(
        task=args.task,
        limit=args.limit,
        preset=args.preset,
        seed=args.seed,
        options=dict(options),
        responders=list(responders),
        writers=list(writers),
    )


def sweep_root(args: argparse.Namespace, command: str, sweep_file: str) -> Path:
    """The sweep's folder (``--out``, else the default for ``command``), its flags checked as a
    run's and the folder checked for a new sweep or ``--resume``."""
    check_run_flags(args)
    root = Path(args.out) if args.out else default_out(args.task, command)
    check_sweep_folder(root, sweep_file, args.resume)
    return root


def lock_sweep(root: Path, command: str) -> FolderLock:
    """The sweep folder's one-writer lock; each run's folder takes its own as its turn comes."""
    return FolderLock(root, what="sweep folder", command=command)


def run_args(args: argparse.Namespace, out: Path, **changes: Any) -> argparse.Namespace:
    """The sweep's flags for one run into ``out`` (with ``changes``), resumed when ``out``
    already holds that run (``--retry-errors`` then applies to it)."""
    one = copy.copy(args)
    for name, value in changes.items():
        setattr(one, name, value)
    one.resume = RunStore(out).is_run()
    one.retry_errors = args.retry_errors and one.resume
    return one


def run_in_turn(plans: Sequence[tuple[str, EvalPlan]], command: str) -> int:
    """Run each ``(label, plan)`` in turn, each under its run folder's lock. The plans are made
    (every flag, option and name checked) before the first run starts, so a bad value late in
    the list is refused before any model call. Stop at a run that stopped and return its code,
    else return the first failing run's code (0 when all passed)."""
    exit_code = 0
    for label, plan in plans:
        print(f"== {label} -> {plan.out}", file=sys.stderr)
        with RunStore(plan.out).lock(command):
            code = run_eval(plan)
        if code in STOPPED:
            return code
        exit_code = exit_code or code
    return exit_code
