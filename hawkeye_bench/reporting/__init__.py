"""Reports: markdown + PNG figures + report.json from eval, lm-eval, load and judge folders.

Modules: ``inputs`` (discover and read input folders), ``load_inputs`` / ``lm_eval_inputs``
(those kinds' rows), ``methods`` (the paper's Baseline / CoT only / Full views of a trace),
``tables``, ``figures``, ``provenance``, ``model`` (the report as data), ``render`` (markdown),
``build`` (assemble and write).
"""

from hawkeye_bench.reporting.build import REPORT_JSON, REPORT_MD, build_report, write_report
from hawkeye_bench.reporting.inputs import Inputs, ReportInputError, read_inputs

__all__ = [
    "REPORT_JSON",
    "REPORT_MD",
    "Inputs",
    "ReportInputError",
    "build_report",
    "read_inputs",
    "write_report",
]
