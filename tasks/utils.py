"""Functions the task YAMLs here name with ``!function utils.<name>``: re-exported from the
hawkeye-bench package, so the code lives (and is tested) in one place. Importing the package
also registers the lm-eval model ``hawkeye``."""

from hawkeye_bench.lmeval import keep_all_samples, load_split, process_results

__all__ = ["keep_all_samples", "load_split", "process_results"]
