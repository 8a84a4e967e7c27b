"""Fail when a module of the package is longer than the limit (the lint env runs it).

A module a newcomer can hold in their head: docs/ARCHITECTURE.md states the limit; the scripted
test server under ``hawkeye_bench/testing/`` is exempt.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def too_long(root: Path, max_lines: int, exempt: list[Path]) -> list[tuple[Path, int]]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if any(path.is_relative_to(folder) for folder in exempt):
            continue
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > max_lines:
            found.append((path, lines))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--max-lines", type=int, default=500)
    parser.add_argument("--exempt", type=Path, action="append", default=[])
    args = parser.parse_args()
    found = too_long(args.root, args.max_lines, args.exempt)
    for path, lines in found:
        print(f"{path}: {lines} lines (the limit is {args.max_lines}; split it along its seams)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
