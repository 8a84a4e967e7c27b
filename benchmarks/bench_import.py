"""Import benchmark: `hawkeye-bench import` of answers generated elsewhere against plain grading.

    .venv/bin/python benchmarks/bench_import.py [--answers N] [--gigabytes G] [--data-dir DIR]

(a) N (default 10,000) GSM8K answers in a generic JSONL file (one per line, each unique, a
    quarter wrong, with usage counts), imported into a run folder: wall seconds and answers per
    second, against grading the same (text, gold) pairs with the grader alone (no memo) just
    before and just after, in the same process. Goal: the import takes at most 1.5x plain
    grading plus 5 s (reading the file twice, matching, writing records and summary);
(b) a G GB (default 1) file of 10,000 answers, each line padded with an unmapped field: the
    import runs in a subprocess whose peak resident memory is measured. Goal: the file is
    streamed, not read whole: peak RSS under 512 MB.

The data is built on the fly in a temporary folder and deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from hawkeye_bench.cli import main as cli_main
from hawkeye_bench.datasets import DATA_DIR_ENV, load_problems
from hawkeye_bench.grading.workers import Grader

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
MAPPING = "question=q,text=t,completion_tokens=n"
#: The import in a process of its own that prints its peak resident memory (kB) last on stderr
#: (the grader's worker processes hold no file data and are not counted).
MEASURED_IMPORT = (
    "import resource, sys\n"
    "from hawkeye_bench.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)
#: Peak resident memory allowed for the import of the big file (the interpreter, sympy and
#: math-verify take about 170 MB; a 1 GB file read whole would take more than 1 GB alone).
PEAK_RSS_GOAL = 512e6


def answers(n: int, pad: int = 0) -> Iterator[dict[str, object]]:
    """``n`` unique answers over the GSM8K problems (a quarter of them wrong), one at a time."""
    problems = load_problems("gsm8k")
    for i in range(n):
        problem = problems[i % len(problems)]
        value = problem.gold if i % 4 else "1000003"
        row: dict[str, object] = {
            "q": problem.question,
            "t": f"Attempt {i}: adding the parts gives the total.\n\\boxed{{{value}}}",
            "n": 20 + i % 50,
        }
        if pad:
            row["log"] = "x" * pad
        yield row


def write(path: Path, rows: Iterable[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")


def import_args(path: Path, out: Path) -> list[str]:
    return ["import", str(path), "--task", "gsm8k", "--format", "generic", "--map", MAPPING,
            "--out", str(out), "--no-progress"]  # fmt: skip


def plain_grading(rows: list[dict[str, object]]) -> tuple[float, int]:
    """Wall seconds to grade the rows' (text, gold) pairs with the grader alone, and how many
    are right."""
    problems = {p.question: p for p in load_problems("gsm8k")}
    tasks = [(str(r["t"]), problems[str(r["q"])].gold, "gsm8k") for r in rows]
    with Grader(memo=None) as grader:
        start = time.perf_counter()
        grades = grader.grade_many(tasks)
        return time.perf_counter() - start, sum(g.correct for g in grades)


def bench_speed(tmp: Path, n: int) -> bool:
    """Plain grading, the import, plain grading again: the import is compared with the mean of
    the two, so a machine that gets busier or quieter during the run biases neither side."""
    rows = list(answers(n))
    path = tmp / "answers.jsonl"
    write(path, rows)
    before_s, right = plain_grading(rows)  # also starts the grading forkserver for both
    start = time.perf_counter()
    code = cli_main(import_args(path, tmp / "run"))
    import_s = time.perf_counter() - start
    after_s, _ = plain_grading(rows)
    grade_s = (before_s + after_s) / 2
    correct = json.loads((tmp / "run" / "summary.json").read_text())["accuracy"]["correct"]
    print(f"\n(a) {n} answers, {path.stat().st_size / 1e6:.1f} MB")
    print("| step | wall s | answers/s | correct |")
    print("|---|---|---|---|")
    print(f"| plain grading, before | {before_s:.1f} | {n / before_s:.0f} | {right} |")
    print(
        f"| import (2 reads, match, grade, write) | {import_s:.1f} | {n / import_s:.0f} "
        f"| {correct} |"
    )
    print(f"| plain grading, after | {after_s:.1f} | {n / after_s:.0f} | {right} |")
    ok = code == 0 and correct == right and import_s <= 1.5 * grade_s + 5
    print(f"import / plain grading = {import_s / grade_s:.2f} (goal <= 1.5 plus 5 s): "
          f"{'met' if ok else 'NOT met'}")  # fmt: skip
    return ok


def bench_size(tmp: Path, gigabytes: float) -> bool:
    n = 10_000
    pad = max(0, int(gigabytes * 1e9 / n) - 200)
    path = tmp / "big.jsonl"
    write(path, answers(n, pad))
    size = path.stat().st_size
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", MEASURED_IMPORT, *import_args(path, tmp / "big-run")],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    peak_kb = int(result.stderr.strip().splitlines()[-1]) if result.returncode == 0 else 0
    path.unlink()
    print(f"\n(b) a {size / 1e9:.2f} GB file, {n} answers padded to {size / n / 1e3:.0f} kB a line")
    print(f"import: {wall:.1f} s (read twice, 10,000 answers graded), exit "
          f"{result.returncode}, peak RSS {peak_kb / 1e3:.0f} MB")  # fmt: skip
    ok = result.returncode == 0 and peak_kb * 1e3 < PEAK_RSS_GOAL
    if result.returncode:
        print(result.stderr[-2000:])
    print(f"peak RSS < {PEAK_RSS_GOAL / 1e6:.0f} MB: {'met' if ok else 'NOT met'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=10_000)
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)
    os.environ[DATA_DIR_ENV] = str(data_dir)
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        tmp = Path(folder)
        speed = bench_speed(tmp, args.answers)
        size = bench_size(tmp, args.gigabytes) if args.gigabytes > 0 else True
    return 0 if speed and size else 1


if __name__ == "__main__":
    sys.exit(main())
