"""lm-eval integration: the "hawkeye" model and the functions behind the hawkeye_* tasks.

Importing this package registers the lm-eval model ``hawkeye`` (the usual ``@register_model``
side effect). The task YAMLs live in the top-level ``tasks/`` folder of a checkout and are
shipped in the wheel as the package ``hawkeye_bench.tasks_data``; :func:`tasks_dir` finds
them either way (see :mod:`hawkeye_bench.core.user_data`).
"""

from __future__ import annotations

from pathlib import Path

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.user_data import TASKS
from hawkeye_bench.lmeval.answer import PipelineAnswer
from hawkeye_bench.lmeval.docs import doc_to_problem, load_split
from hawkeye_bench.lmeval.metrics import keep_all_samples, process_results
from hawkeye_bench.lmeval.model import MODEL_ARGS, MODEL_NAME, HawkeyeLM


class TasksNotFound(HawkeyeError):
    """Neither a checkout's tasks/ folder nor the installed task package exists."""


def tasks_dir() -> Path:
    """The folder holding the hawkeye_* task YAMLs (for lm-eval's include path)."""
    found = TASKS.find()
    if found is None:
        raise TasksNotFound(
            f"hawkeye_* task YAMLs not found: no tasks/ folder in this checkout, no installed "
            f"package {TASKS.package} and no {TASKS.env_var}; reinstall hawkeye-bench"
        )
    return found


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
