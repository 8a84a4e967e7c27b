"""Reading a user's YAML file (a config, a preset, prices) into a one-line error when it cannot
be read: missing, a folder, not text, or not YAML (PyYAML's own message spans several lines with
a caret picture; only its position and problem are kept)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from hawkeye_bench.core.errors import HawkeyeError


def yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error as one line: ``line L, column C: <problem>``."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return f"{where}{problem}"
    return " ".join(str(exc).split())


def read_yaml_file(path: Path | str, what: str, error: type[HawkeyeError]) -> Any:
    """The YAML document in ``path`` (None for an empty file), or ``error`` with one line
    naming ``what`` ("config file", "preset file", ...) and the path."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{what} {path} is a folder: give the YAML file")
    if not path.is_file():
        raise error(f"{what} not found: {path}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path}: not a text file (not UTF-8: {exc.reason})") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise error(f"{what} {path}: not valid YAML: {yaml_problem(exc)}") from None
