"""Running `hawkeye-bench` as a subprocess, the way users do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-m", "hawkeye_bench.cli"]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def eval_args(
    out: Path,
    *extra: str,
    url: str | None = None,
    model: str = "m",
    task: str = "gsm8k",
    pipeline: str = "baseline",
    limit: int = 3,
) -> list[str]:
    """`eval` arguments for a quiet run into ``out``, against ``url`` when given."""
    args = ["eval", "--task", task, "--pipeline", pipeline, "--limit", str(limit)]
    args += ["--out", str(out), "--no-progress"]
    if url:
        args += ["--endpoint", url, "--model", model]
    return [*args, *extra]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))
