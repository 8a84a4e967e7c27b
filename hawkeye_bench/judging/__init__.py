"""Judge panels: closed (or local) models rate answers on rubric criteria, with statistics.

Public entry points: :func:`run_judge` (one `hawkeye-bench judge` invocation), the
:class:`JudgeEngine` with its :class:`ChatBackend` boundary, :class:`JudgeResult` (a line of
``judgements.jsonl``) and :func:`read_results`. Panels and rubrics are YAML in ``judges/``.

They are imported on first use: the report reads ``judge_summary.json`` through
``judging.summary_file`` without loading the judge clients (the OpenAI SDK, scikit-learn).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hawkeye_bench.judging.client import ChatBackend, ChatReply, JudgeAPIError, Usage
    from hawkeye_bench.judging.config import (
        Criterion,
        JudgeSpec,
        Panel,
        load_criteria,
        load_panel,
    )
    from hawkeye_bench.judging.engine import JudgeEngine
    from hawkeye_bench.judging.results import JudgeResult, read_results
    from hawkeye_bench.judging.session import JudgeSettings, run_judge

#: public name -> the module of this package that defines it
_EXPORTS = {
    "ChatBackend": "client",
    "ChatReply": "client",
    "Criterion": "config",
    "JudgeAPIError": "client",
    "JudgeEngine": "engine",
    "JudgeResult": "results",
    "JudgeSettings": "session",
    "JudgeSpec": "config",
    "Panel": "config",
    "Usage": "client",
    "load_criteria": "config",
    "load_panel": "config",
    "read_results": "results",
    "run_judge": "session",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = [
    "ChatBackend",
    "ChatReply",
    "Criterion",
    "JudgeAPIError",
    "JudgeEngine",
    "JudgeResult",
    "JudgeSettings",
    "JudgeSpec",
    "Panel",
    "Usage",
    "load_criteria",
    "load_panel",
    "read_results",
    "run_judge",
]
