"""Judge panels: closed (or local) models rate answers on rubric criteria, with statistics.

Public entry points: :func:`run_judge` (one `hawkeye-bench judge` invocation), the
:class:`JudgeEngine` with its :class:`ChatBackend` boundary, :class:`JudgeResult` (a line of
``judgements.jsonl``) and :func:`read_results`. Panels and rubrics are YAML in ``judges/``.
"""

from hawkeye_bench.judging.client import ChatBackend, ChatReply, JudgeAPIError, Usage
from hawkeye_bench.judging.config import Criterion, JudgeSpec, Panel, load_criteria, load_panel
from hawkeye_bench.judging.engine import JudgeEngine
from hawkeye_bench.judging.results import JudgeResult, read_results
from hawkeye_bench.judging.session import JudgeSettings, run_judge

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
