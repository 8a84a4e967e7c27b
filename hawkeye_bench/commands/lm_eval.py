"""`hawkeye-bench lm-eval ...`: lm-eval's own CLI with the hawkeye model and tasks available.

lm-eval 0.4.13 imports no outside code before it builds the model, so the stock CLI cannot find
``--model hawkeye`` by name with ``--include_path`` alone. This wrapper imports the model
(registering it), parses the arguments with lm-eval's own parser, adds the hawkeye_* task
folder to the include path (next to any the user gave), defaults ``--model`` to ``hawkeye``,
puts the traces sidecar next to lm-eval's output, and runs lm-eval's own ``run``. With no
endpoint in ``--model_args`` the hawkeye model starts the embedded default model.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from hawkeye_bench.core.errors import HawkeyeError, RunStopped
from hawkeye_bench.core.yaml_files import yaml_problem

HAWKEYE_MODEL = "hawkeye"


class TaskFileError(HawkeyeError):
    """A task YAML in the hawkeye task folder does not parse."""


class LmEvalArgumentError(HawkeyeError):
    """lm-eval refused its arguments: an unknown task or model, flags that do not go together,
    a task config it cannot read."""


class _TaskYamlLoader(yaml.SafeLoader):
    """Safe YAML that accepts lm-eval's ``!function`` tags without importing anything."""


def _function_tag(loader: _TaskYamlLoader, node: yaml.ScalarNode) -> str:
    """``!function module.name`` stays the plain string (a tag on a non-scalar is a YAMLError)."""
    return loader.construct_scalar(node)


_TaskYamlLoader.add_constructor("!function", _function_tag)


def check_task_files(folder: Path) -> list[str]:
    """Parse every task YAML in ``folder``; return the task and group names, or raise
    TaskFileError naming the file and line (lm-eval itself silently skips a broken file and
    then reports the task as not found)."""
    names = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_TaskYamlLoader)
        except yaml.YAMLError as exc:
            raise TaskFileError(f"task file {path} is not valid YAML: {yaml_problem(exc)}") from exc
        if not isinstance(data, dict):
            raise TaskFileError(f"task file {path}: expected a mapping at the top level")
        name = data.get("task") if isinstance(data.get("task"), str) else data.get("group")
        if name:
            names.append(str(name))
    return names


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # prefix_chars="+" makes every --flag a plain word here, so all of them reach lm-eval.
    parser = subparsers.add_parser(
        "lm-eval",
        help="run lm-eval with the hawkeye model and the hawkeye_* tasks",
        description="lm-eval's command line (all flags pass through; see `lm-eval run -h`) "
        "with the hawkeye model registered and the hawkeye_* tasks on the include path. "
        "--model defaults to hawkeye; with no endpoint in --model_args the embedded default "
        "model is used.",
        add_help=False,
        prefix_chars="+",
    )
    parser.add_argument("lm_eval_args", nargs=argparse.REMAINDER, help="lm-eval arguments")
    parser.set_defaults(func=main)


def _model_name_for_output(model_args: dict[str, Any]) -> str:
    """The name lm-eval gives the output folder; adds a ``model`` label when there is none
    (else lm-eval picks a random folder name, and the sidecar could not sit beside it)."""
    from lm_eval.loggers.evaluation_tracker import GeneralConfigTracker

    name = GeneralConfigTracker._get_model_name(model_args)
    if name is None:
        name = f"hawkeye-{model_args.get('pipeline', 'hawkeye')}"
        model_args["model"] = name
    return name


def prepare(namespace: argparse.Namespace, tasks_folder: Path) -> argparse.Namespace:
    """Adjust lm-eval's parsed ``run`` arguments: include path, default model, traces path."""
    from lm_eval.utils import sanitize_model_name

    if not hasattr(namespace, "include_path"):
        return namespace  # `ls`, `validate`, ... with their own flags
    given = namespace.include_path
    paths = [str(tasks_folder)] + ([given] if given else [])
    namespace.include_path = paths if len(paths) > 1 else paths[0]
    if getattr(namespace, "model", None) is None and getattr(namespace, "config", None) is None:
        namespace.model = HAWKEYE_MODEL
    if namespace.model == HAWKEYE_MODEL:
        model_args = dict(namespace.model_args or {})
        if "url" not in model_args or "model" in model_args:
            name = _model_name_for_output(model_args)
        else:
            name = str(model_args["model"])
        output_path = getattr(namespace, "output_path", None)
        if output_path and "traces" not in model_args:
            out = Path(output_path)
            folder = out.parent if out.suffix == ".json" else out / sanitize_model_name(name)
            stamp = time.strftime("%Y-%m-%dT%H-%M-%S")
            model_args["traces"] = str(folder / f"traces_{stamp}.jsonl")
        namespace.model_args = model_args
    return namespace


def run_lm_eval(argv: Sequence[str]) -> int:
    """lm-eval's ``cli_evaluate`` with :func:`prepare` between parsing and running."""
    from lm_eval._cli import HarnessCLI
    from lm_eval.utils import setup_logging

    import hawkeye_bench.lmeval as lmeval  # registers the hawkeye model

    folder = lmeval.tasks_dir()
    check_task_files(folder)
    setup_logging()
    cli = HarnessCLI()
    saved_argv = sys.argv
    sys.argv = ["lm-eval", *argv]  # HarnessCLI reads sys.argv (and inserts `run` if absent)
    try:
        namespace = cli.parse_args()
    finally:
        sys.argv = saved_argv
    if getattr(namespace, "include_path", None):
        check_task_files(Path(namespace.include_path))  # the user's own task folder
    try:
        cli.execute(prepare(namespace, folder))
    except HawkeyeError:
        raise
    except (KeyError, ValueError) as exc:
        if not _raised_reading_arguments(exc):
            raise  # raised while running the model or a task's code: a bug, with its traceback
        message = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
        if "Tasks not found" in message:
            message += f" (hawkeye tasks: {', '.join(check_task_files(folder))})"
        raise LmEvalArgumentError(message) from exc
    return 0


def _raised_reading_arguments(exc: BaseException) -> bool:
    """Whether lm-eval itself raised ``exc`` while reading its flags, task configs or model
    registry (lm-eval 0.4 says "Tasks not found" and "Unknown model" with a ValueError or a
    KeyError), not while running a model or a task's code."""
    import lm_eval

    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return False
    package = Path(lm_eval.__file__).resolve().parent
    try:
        where = Path(frames[-1].filename).resolve().relative_to(package)
    except ValueError:  # not lm-eval's code
        return False
    if where.parts[0] == "tasks":
        return len(where.parts) == 2  # the task loader, not a benchmark's own code
    return where.parts[0] in ("_cli", "config") or where.as_posix() == "api/registry.py"


def main(args: argparse.Namespace) -> int:
    try:
        return run_lm_eval(args.lm_eval_args)
    except RunStopped as exc:
        exc.add_note("lm-eval stopped before writing its results")
        raise
