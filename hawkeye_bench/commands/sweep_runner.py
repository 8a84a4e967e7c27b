"""What the sweep commands (compress-sweep, route-sweep) share: the sweep folder checked against
``--resume``, the settings every sweep file records, and its runs made one after another."""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.eval.runner import EvalPlan, run_eval
from hawkeye_bench.eval.store import RunStore

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


def sweep_settings(args: argparse.Namespace, **more: Any) -> dict[str, Any]:
    """What every sweep file records of the command line, plus the sweep's own settings."""
    return {
        "task": args.task,
        "limit": args.limit,
        "preset": args.preset,
        "seed": args.seed,
        **more,
    }


def run_args(args: argparse.Namespace, out: Path, **changes: Any) -> argparse.Namespace:
    """The sweep's flags for one run into ``out`` (with ``changes``), resumed when ``out``
    already holds that run."""
    one = copy.copy(args)
    for name, value in changes.items():
        setattr(one, name, value)
    one.resume = RunStore(out).is_run()
    return one


def run_in_turn(plans: Iterable[tuple[str, EvalPlan]]) -> int:
    """Run each ``(label, plan)`` in turn (``plans`` may make each plan when its turn comes);
    stop at a run that stopped and return its code, else return the first failing run's code
    (0 when all passed)."""
    exit_code = 0
    for label, plan in plans:
        print(f"== {label} -> {plan.out}", file=sys.stderr)
        code = run_eval(plan)
        if code in STOPPED:
            return code
        exit_code = exit_code or code
    return exit_code
