"""The example report's command (reports/make_example.sh) still runs end to end, tiny."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.local_model
@pytest.mark.slow
@pytest.mark.timeout(960)  # above the script's own 900 s limit
def test_make_example_runs_every_command_and_writes_every_section(tmp_path: Path) -> None:
    bindir = Path(sys.executable).parent
    env = {
        **os.environ,
        "HAWKEYE_BENCH": str(bindir / "hawkeye-bench"),
        "PYTHON": sys.executable,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "OUT": str(tmp_path / "example"),
        "LIMIT": "1",
        "MAX_TOKENS": "16",
        "LIMIT_JUDGE": "1",
        "LOAD_REQUESTS": "2",
        "LOAD_CONCURRENCY": "1",
        "LOAD_RATES": "0.2,0.4",
        "LOAD_RATE_SECONDS": "5",
    }
    result = subprocess.run(
        ["bash", str(ROOT / "reports" / "make_example.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = (tmp_path / "example" / "report.md").read_text()
    for section in ("## 1. Accuracy", "## 2. Latency", "## 3. Judge"):
        assert section in report
    assert (tmp_path / "example" / "report.json").is_file()
    assert len(list((tmp_path / "example").glob("*.png"))) >= 4
