"""Where the YAML that users read and edit is found: prompt presets, judge rubrics and panels,
lm-eval tasks. All three follow one convention:

- in a checkout, a top-level folder: ``presets/``, ``judges/``, ``tasks/``;
- in an installed wheel, the same files as the package ``hawkeye_bench.<folder>_data``;
- a folder of the user's own, first: the environment variable (``HAWKEYE_PRESETS_DIR``,
  ``HAWKEYE_JUDGES_DIR``, ``HAWKEYE_TASKS_DIR``), or ``./<folder>`` in the working directory
  when it holds what such a folder holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # hawkeye_bench/
_CHECKOUT_DIR = _PACKAGE_DIR.parent  # a checkout: the repository root


@dataclass(frozen=True)
class UserDataKind:
    folder: str  # the top-level folder name
    env_var: str
    marker: str  # a file or folder every such folder has

    @property
    def package(self) -> str:
        """The package the wheel ships the folder as."""
        return f"hawkeye_bench.{self.folder}_data"

    def search_dirs(self) -> list[Path]:
        """The folders to look in, first wins: the user's, then the checkout's or the wheel's."""
        dirs = []
        if override := os.environ.get(self.env_var):
            dirs.append(Path(override))
        candidates = (
            Path.cwd() / self.folder,
            _CHECKOUT_DIR / self.folder,
            _PACKAGE_DIR / f"{self.folder}_data",
        )
        for candidate in candidates:
            if (candidate / self.marker).exists() and candidate.resolve() not in {
                d.resolve() for d in dirs
            }:
                dirs.append(candidate)
        return dirs

    def find(self) -> Path | None:
        """The first folder that has this kind's marker (None: none is installed)."""
        return next((d for d in self.search_dirs() if (d / self.marker).exists()), None)


PRESETS = UserDataKind("presets", "HAWKEYE_PRESETS_DIR", "default.yaml")
JUDGES = UserDataKind("judges", "HAWKEYE_JUDGES_DIR", "panels")
TASKS = UserDataKind("tasks", "HAWKEYE_TASKS_DIR", "hawkeye_math500.yaml")
