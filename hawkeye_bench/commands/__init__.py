"""Subcommands of `hawkeye-bench`, one module each (see hawkeye_bench/cli.py)."""
