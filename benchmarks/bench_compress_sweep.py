"""Compression sweep efficiency: does `hawkeye-bench compress-sweep` make every model call once,
and only once, and how close is its wall time to the ideal?

N GSM8K problems x 7 kept shares (1.0, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1) x methods llm, truncate
and random, plus the no-CoT and full-CoT anchors, run through the real command line against a
scripted server that answers every call after a fixed latency L (the writer a 40-word CoT, the
compressor a share-specific text, the responder a boxed answer).

- Calls: the server's completion-request count against the minimum, the number of distinct
  prompts it received (every distinct call is needed once; goal: calls == distinct, and every
  run has N records without error). The expected minimum, 29 N, is stated beside it: N writer
  calls, 7 N compressor calls (llm at every share), and 22 N responder calls (no CoT N, full
  CoT N, llm 7 N, truncate and random 6 N each: at share 1.0 both give the full CoT, whose
  answer is already cached).
- Rerun: the same sweep again with --resume makes 0 calls (goal).
- Extension: adding share 0.5 makes exactly the new share's calls (4 N: a compression and three
  responder calls per problem), none of them a prompt sent before (goal).
- Wall time against ideal = minimum calls x L / C (C = --concurrency problems in flight; every
  call costs L and the runs' calls could overlap perfectly). The sweep runs its (method, share)
  runs one after another, each an eval run with its own start-up and grading, so the ratio
  shows that overhead; it is reported, not a goal.

    python benchmarks/bench_compress_sweep.py [--problems 200] [--latency-ms 100]
        [--concurrency 64] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, ScriptedServer

SHARES = (1.0, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1)
EXTRA_SHARE = 0.5
METHODS = ("llm", "truncate", "random")
COT = " ".join(f"step{i} = {i * 3}." for i in range(20))  # 40 words
RESPONDER_CALLS_PER_PROBLEM = 2 + len(SHARES) + 2 * (len(SHARES) - 1)
MINIMUM_PER_PROBLEM = 1 + len(SHARES) + RESPONDER_CALLS_PER_PROBLEM  # 29
EXTENSION_PER_PROBLEM = 4


def scripted_config(latency_ms: float) -> ScriptedConfig:
    words = COT.split()
    compressor = [
        ReplyRule(
            match=rf"about {share * 100:g}% of its length",
            content=" ".join([f"short{share * 100:g}:", *words[: round(share * len(words))]]),
        )
        for share in (*SHARES, EXTRA_SHARE)
    ]
    return ScriptedConfig(
        ttft_ms=latency_ms,
        request_log=-1,  # keep every request: distinct prompts are counted from the log
        tokens_per_chunk=1000,  # each reply in one chunk: the in-process server stays light
        rules=[
            ReplyRule(match="showing every intermediate calculation", content=COT),
            *compressor,
            ReplyRule(match="Using the reasoning above", content="So \\boxed{18}"),
        ],
    )


def prompts(server: ScriptedServer) -> list[str]:
    return [json.dumps(r["body"], sort_keys=True) for r in server.requests if "body" in r]


def sweep(server: ScriptedServer, out: Path, args: argparse.Namespace, shares: tuple[float, ...],
          resume: bool) -> tuple[float, int]:  # fmt: skip
    """Run the command line; (wall seconds, exit code)."""
    command = [sys.executable, "-m", "hawkeye_bench.cli", "compress-sweep", "--task", "gsm8k"]
    command += ["--limit", str(args.problems), "--out", str(out), "--no-progress"]
    command += ["--endpoint", server.base_url, "--model", "scripted"]
    command += ["--concurrency", str(args.concurrency), "--methods", ",".join(METHODS)]
    command += ["--keep", ",".join(f"{s:g}" for s in shares), *(["--resume"] if resume else [])]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
    return wall, done.returncode


def complete_runs(out: Path, problems: int) -> tuple[int, int]:
    """(runs with every problem answered without error, runs in all)."""
    runs = [p.parent for p in out.glob("runs/*/*/records.jsonl")]
    good = 0
    for run in runs:
        lines = [json.loads(x) for x in (run / "records.jsonl").read_text().splitlines() if x]
        good += len(lines) == problems and not any(r["error"] for r in lines)
    return good, len(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="20 problems, concurrency 16")
    args = parser.parse_args()
    if args.quick:
        args.problems, args.concurrency = 20, 16
    os.environ.setdefault(
        "HAWKEYE_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
    )
    n = args.problems
    minimum = MINIMUM_PER_PROBLEM * n
    ideal = minimum * args.latency_ms / 1000 / args.concurrency
    rows: list[dict[str, Any]] = []
    server = ScriptedServer(scripted_config(args.latency_ms))
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "sweep"
            phases = (
                (f"sweep {n} x {len(SHARES)} shares", SHARES, False, minimum),
                ("rerun --resume", SHARES, True, 0),
                (f"extend with share {EXTRA_SHARE}", (*SHARES, EXTRA_SHARE), True,
                 EXTENSION_PER_PROBLEM * n),
            )  # fmt: skip
            for phase, shares, resume, expected in phases:
                counted, logged = server.stats()["requests"], len(server.requests)
                wall, code = sweep(server, out, args, shares, resume)
                earlier = set(prompts(server)[:logged])
                new = prompts(server)[logged:]
                good, total = complete_runs(out, n)
                rows.append(
                    {
                        "phase": phase,
                        "code": code,
                        # the server's own count; the log must hold every one of them
                        "calls": server.stats()["requests"] - counted,
                        "logged": len(new),
                        "distinct": len(set(new)),
                        "repeated": sum(1 for p in new if p in earlier),
                        "expected": expected,
                        "wall": wall,
                        "runs": f"{good} / {total}",
                    }
                )
            tokenize = {k: v for k, v in server.stats()["by_path"].items() if "tokenize" in k}
    finally:
        server.stop()
    print(
        f"\ncompress-sweep: {n} problems, methods {', '.join(METHODS)}, shares "
        f"{', '.join(f'{s:g}' for s in SHARES)}, latency {args.latency_ms:.0f} ms per call, "
        f"concurrency {args.concurrency}\n"
    )
    print("| phase | exit | model calls | distinct | sent before | expected minimum | "
          "complete runs | wall s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['phase']} | {row['code']} | {row['calls']} | {row['distinct']} | "
            f"{row['repeated']} | {row['expected']} | {row['runs']} | {row['wall']:.1f} |"
        )
    first, rerun_row, extension_row = rows
    runs = 2 + len(METHODS) * len(SHARES)  # the two anchors, then every method at every share
    print(f"\ntokenize requests (no latency, not model calls): {tokenize}")
    print(
        f"sweep wall {first['wall']:.1f} s; ideal = {minimum} calls x {args.latency_ms:.0f} ms / "
        f"{args.concurrency} = {ideal:.1f} s; wall / ideal = {first['wall'] / ideal:.2f} "
        "(reported, not a goal: runs one after another, each with its own start-up and grading)"
    )
    print(
        f"overhead per run: (wall - ideal) / {runs} runs = {(first['wall'] - ideal) / runs:.2f} s"
    )
    checks = {
        "every run complete": first["runs"] == f"{runs} / {runs}"
        and extension_row["runs"] == f"{runs + len(METHODS)} / {runs + len(METHODS)}",
        "every call logged": all(row["calls"] == row["logged"] for row in rows),
        "no call repeated": all(
            row["calls"] == row["distinct"] and not row["repeated"] for row in rows
        ),
        "sweep calls == expected minimum": first["calls"] == minimum,
        "rerun makes 0 calls": rerun_row["calls"] == 0,
        "extension makes only the new share's calls": extension_row["calls"]
        == EXTENSION_PER_PROBLEM * n,
        "exit codes 0": all(row["code"] == 0 for row in rows),
    }
    for name, ok in checks.items():
        print(f"- {name}: {'PASS' if ok else 'FAIL'}")
    verdict = all(checks.values())
    print(f"\ncompress-sweep calls: {'PASS' if verdict else 'FAIL'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
