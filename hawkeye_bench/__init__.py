"""hawkeye-bench: evaluation and benchmarking of efficient reasoning by model collaboration."""

__version__ = "0.1.0"
