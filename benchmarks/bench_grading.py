"""Grading benchmark: accuracy vs plain math-verify, MATH throughput, pathological inputs.

    .venv/bin/python benchmarks/bench_grading.py [--data-dir DIR] [--workers N] [--deadline S]

(a) accuracy on the public grader cases (data/grader_cases/cases.jsonl) by kind and by source,
    ours vs plain math-verify (``verify(parse(gold), parse(prediction))``, default settings)
    measured in the same run;
(b) the 5000 MATH gold answers, written as a model would, graded against themselves: wall
    seconds, answers per second, failures;
(c) pathological answers: each must come back (as a timeout or a verdict) within the deadline
    plus a small margin; a "hang" is one that does not.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from math_verify import parse, verify

from hawkeye_bench.datasets import DATA_DIR_ENV, load_problems
from hawkeye_bench.grading.workers import GENERIC, Grader

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
HANG_MARGIN_S = 2.0

# A think block ending in a boxed answer, then a post-think summary with no box.
LONG_THINK = "<think>" + "1 + " * 25_000 + r"\boxed{5}</think>"
PATHOLOGICAL = {
    "tower 9^9^9^9": r"\boxed{9^{9^{9^{9}}}}",
    "tower 10^10^10": r"\boxed{10^{10^{10}}}",
    "tower 2^2^2^2^2^2": r"\boxed{2^{2^{2^{2^{2^{2}}}}}}",
    "factorial 100000!": r"\boxed{100000!}",
    "factorial (10^10)!": r"\boxed{(10^{10})!}",
    "200 nested fractions": r"\boxed{" + r"\frac{1}{" * 200 + "2" + "}" * 201,
    "5000-term sum": r"\boxed{" + "+".join(f"x_{{{i}}}^{{{i}}}" for i in range(5000)) + "}",
    "100 kB of digits": r"\boxed{" + "9" * 100_000 + "}",
    "100 kB think block, cut summary": LONG_THINK + "9 " * 2000,
    "20000 repeated boxes": r"\boxed{5}, " * 20_000,
    "unit words after a number": r"\boxed{5 " + "cows " * 2000 + "}",
}


def plain_math_verify(prediction: str, gold: str) -> bool:
    try:
        return bool(verify(parse(gold), parse(prediction)))
    except Exception:
        return False


def table(rows: list[list[Any]], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def pct(hit: int, total: int) -> str:
    return f"{hit}/{total} ({hit / total:.1%})"


def bench_accuracy(grader: Grader, data_dir: Path) -> None:
    path = data_dir / "grader_cases" / "cases.jsonl"
    cases = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    start = time.perf_counter()
    ours = [
        r.correct for r in grader.grade_many([(c["prediction"], c["gold"], GENERIC) for c in cases])
    ]
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    plain = [plain_math_verify(c["prediction"], c["gold"]) for c in cases]
    plain_s = time.perf_counter() - start
    groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for case, mine, theirs in zip(cases, ours, plain, strict=True):
        keys = [("all", "all"), ("kind", case["kind"]), ("source", case["source"].split("@")[0])]
        keys.append(("expected", str(case["expected"]).lower()))
        for key in keys:
            groups[key][0] += mine == case["expected"]
            groups[key][1] += theirs == case["expected"]
            groups[key][2] += 1
    rows = [
        [f"{axis}: {name}", pct(mine, n), pct(theirs, n)]
        for (axis, name), (mine, theirs, n) in sorted(
            groups.items(), key=lambda kv: (kv[0][0] != "all", kv[0])
        )
    ]
    print(f"\n### (a) accuracy on {len(cases)} public grader cases\n")
    print(table(rows, ["group", "hawkeye-bench", "plain math-verify"]))
    print(
        f"\nwall: ours {ours_s:.1f} s on {grader.workers} workers, plain {plain_s:.1f} s in-process"
    )


def bench_math_throughput(grader: Grader, data_dir: Path) -> None:
    problems = load_problems("math", data_dir=data_dir)
    tasks = [(f"... so the answer is $\\boxed{{{p.gold}}}$.", p.gold, "math") for p in problems]
    grader.warm_up()
    start = time.perf_counter()
    results = grader.grade_many(tasks)
    wall = time.perf_counter() - start
    failures = [(p.id, r) for p, r in zip(problems, results, strict=True) if not r.correct]
    print(f"\n### (b) {len(problems)} MATH gold answers graded against themselves\n")
    print(
        table(
            [
                [
                    len(problems),
                    grader.workers,
                    f"{wall:.1f}",
                    f"{len(problems) / wall:.0f}",
                    len(failures),
                ]
            ],
            ["answers", "workers", "wall s", "answers/s", "failures"],
        )
    )
    for problem_id, result in failures[:10]:
        print(f"  failed: {problem_id} {result}")


def bench_pathological(deadline_s: float) -> None:
    rows = []
    hangs = 0
    with Grader(workers=1, timeout_s=deadline_s, memo=None) as grader:
        grader.warm_up()
        for name, text in PATHOLOGICAL.items():
            start = time.perf_counter()
            result = grader.grade(text, "5", "math")
            elapsed = time.perf_counter() - start
            hung = elapsed > deadline_s + HANG_MARGIN_S
            hangs += hung
            verdict = result.error or ("correct" if result.correct else "incorrect")
            rows.append([name, f"{elapsed:.2f}", verdict, "HANG" if hung else "ok"])
        restarts = grader.restarts
    print(
        f"\n### (c) pathological answers, deadline {deadline_s:g} s "
        f"(hang = over deadline + {HANG_MARGIN_S:g} s)\n"
    )
    print(table(rows, ["input", "seconds", "result", "status"]))
    print(f"\nhangs: {hangs}; workers replaced: {restarts}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get(DATA_DIR_ENV, DEFAULT_DATA_DIR))
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--deadline", type=float, default=3.0, help="seconds per pathological answer"
    )
    args = parser.parse_args()
    print(f"# grading benchmark ({os.cpu_count()} CPUs)")
    with Grader(workers=args.workers, timeout_s=20, memo=None) as grader:
        bench_accuracy(grader, args.data_dir)
        bench_math_throughput(grader, args.data_dir)
    bench_pathological(args.deadline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
