"""lm-eval integration: the "hawkeye" model and the functions behind the hawkeye_* tasks.

Importing this package registers the lm-eval model ``hawkeye`` (the usual ``@register_model``
side effect). The task YAMLs live in the top-level ``tasks/`` folder of a checkout and are
shipped in the wheel as the package ``hawkeye_bench.lm_eval_tasks``; :func:`tasks_dir` finds
them either way.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hawkeye_bench.errors import HawkeyeError
from hawkeye_bench.lmeval.answer import PipelineAnswer
from hawkeye_bench.lmeval.docs import doc_to_problem, load_split
from hawkeye_bench.lmeval.metrics import keep_all_samples, process_results
from hawkeye_bench.lmeval.model import MODEL_ARGS, MODEL_NAME, HawkeyeLM

#: The package name the wheel gives the top-level tasks/ folder.
INSTALLED_TASKS_PACKAGE = "hawkeye_bench.lm_eval_tasks"
_CHECKOUT_TASKS = Path(__file__).resolve().parents[2] / "tasks"


class TasksNotFound(HawkeyeError):
    """Neither a checkout's tasks/ folder nor the installed task package exists."""


def tasks_dir() -> Path:
    """The folder holding the hawkeye_* task YAMLs (for lm-eval's include path)."""
    if (_CHECKOUT_TASKS / "hawkeye_math500.yaml").is_file():
        return _CHECKOUT_TASKS
    spec = importlib.util.find_spec(INSTALLED_TASKS_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    raise TasksNotFound(
        f"hawkeye_* task YAMLs not found: no {_CHECKOUT_TASKS} and no installed package "
        f"{INSTALLED_TASKS_PACKAGE}; reinstall hawkeye-bench"
    )


__all__ = [
    "MODEL_ARGS",
    "MODEL_NAME",
    "HawkeyeLM",
    "PipelineAnswer",
    "TasksNotFound",
    "doc_to_problem",
    "keep_all_samples",
    "load_split",
    "process_results",
    "tasks_dir",
]
