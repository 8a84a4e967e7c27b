"""Time and peak memory of load's tables and of ``report`` over a large raw folder.

Builds a synthetic load folder in a temporary directory (never in the repository): two targets,
one stage each, raw request files of ``--size-gb`` in all (default 1 GB; each request with
``--chunks`` token chunks, stamped with a delivery lag, as a long stage at high concurrency
writes them). Then, each in its own process so that its peak resident memory (ru_maxrss) is
its own:

- ``load``: the stage statistics and load's tables (``load_results.json``, ``load_table.md``)
  from the raw files, as ``load`` computes them after a stage: one streaming pass;
- ``report``: ``hawkeye-bench report`` on the folder (tables and figures);
- ``held`` (``--before``): the statistics the way both did before, every record with its
  chunks held in a list; run it on a smaller ``--before-size-gb`` (it needs about 10 times
  the raw size) and compare the ratios, peak memory / raw size.

    .venv/bin/python benchmarks/bench_load_results_memory.py [--size-gb 1] [--before]
        [--before-size-gb 0.1] [--keep DIR]

Figures: seconds, peak RSS, peak RSS minus an idle interpreter's (imports only) and that
increment as a share of the raw size (goal: at most 1).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGETS = ("baseline", "hawkeye")
PROCESSES = 4  # raw files per stage, as --processes 4 writes them


def _record(target: str, pid: int, seq: int, chunks: int, rng: random.Random) -> str:
    ttft = 80.0 + rng.random() * 400.0
    gap = 20.0 if target == "baseline" else 12.0
    reasoning = chunks // 2 if target == "hawkeye" else 0
    rows: list[list[Any]] = []
    t = ttft
    for k in range(chunks):
        rows.append([round(t, 4), 1, "r" if k < reasoning else "c", round(rng.random(), 4)])
        t += gap * (0.5 + rng.random())
    e2e = rows[-1][0]
    record: dict[str, Any] = {
        "t_send_wall": 1.7e9 + seq * 0.01, "t_send_perf": 1000.0 + seq * 0.01, "pid": pid,
        "seq": seq, "stage": f"{target}/c1000", "host": "bench", "prompt_index": seq % 500,
        "status": 200, "tt_headers_ms": 2.0, "tt_ack_ms": 3.0, "ttft_ms": ttft,
        "ttft_content_ms": rows[reasoning][0], "e2e_ms": e2e, "e2e_done_ms": e2e + 0.5,
        "finished_ms": e2e + 0.6, "output_tokens": chunks, "output_tokens_source": "usage",
        "chunk_tokens_source": "usage", "finish_reason": "stop", "chunks": rows,
    }  # fmt: skip
    if reasoning:
        record.update(
            ttft_reasoning_ms=ttft,
            reasoning_tokens=reasoning,
            cot_end_ms=rows[reasoning - 1][0],
            cot_end_source="stage_end",
            cot_tokens=reasoning,
            cot_chunks=reasoning,
        )
    return json.dumps(record, separators=(",", ":")) + "\n"


def build_folder(folder: Path, size_bytes: int, chunks: int) -> int:
    """Write the raw files and load_results.json; the raw bytes written."""
    from hawkeye_bench.load.plan import PlanDescription
    from hawkeye_bench.load.results import build_results, write_outputs

    rng = random.Random(7)
    per_file = size_bytes // (len(TARGETS) * PROCESSES)
    stages, written = [], 0
    for target in TARGETS:
        raw = folder / "raw" / target / "c1000"
        raw.mkdir(parents=True)
        for pid in range(1, PROCESSES + 1):
            size, seq = 0, 0
            with (raw / f"requests-bench-{pid}.jsonl").open("w") as handle:
                while size < per_file:
                    line = _record(target, pid, seq, chunks, rng)
                    handle.write(line)
                    size += len(line)
                    seq += 1
            written += size
        stages.append(
            {"target": target, "url": f"http://127.0.0.1:9/{target}", "concurrency": 1000,
             "stage": f"{target}/c1000", "raw_dir": str(raw), "reliable": True,
             "unreliable_reasons": [], "requests": {}, "metrics": {}}
        )  # fmt: skip
    plan = {
        "targets": [{"name": t, "url": f"http://127.0.0.1:9/{t}"} for t in TARGETS],
        "baseline": TARGETS[0], "concurrencies": [1000], "requests_per_stage": 0,
        "duration_s": 3600, "prompts": "synthetic", "model": "m", "max_tokens": chunks,
        "warmup_s": 0.0, "slo": {"ttft_ms": 400.0}, "max_error_rate": 0.05,
    }  # fmt: skip
    (folder / "plan.json").write_text(json.dumps({"plan": plan, "stages": stages}))
    # replaced by the load mode's tables
    write_outputs(build_results(PlanDescription.from_json(plan), []), folder)
    return written


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def run_mode(mode: str, folder: Path) -> dict[str, Any]:
    """One measurement, in this (fresh) process."""
    import matplotlib  # noqa: F401  (every mode pays the same imports)

    from hawkeye_bench.core.jsonl import read_jsonl
    from hawkeye_bench.load.metrics import scan_stage, stage_metrics
    from hawkeye_bench.load.plan import PlanDescription
    from hawkeye_bench.load.records import REQUESTS_GLOB, RequestRecord
    from hawkeye_bench.load.results import build_results, write_outputs
    from hawkeye_bench.load.stage_result import LoadStageResult
    from hawkeye_bench.reporting import write_report

    saved = json.loads((folder / "plan.json").read_text())
    plan, stages = saved["plan"], saved["stages"]
    start = time.perf_counter()
    if mode == "load":
        for stage in stages:
            scan = scan_stage(Path(stage["raw_dir"]), plan["slo"], keep_records=False)
            stage.update(scan.metrics)
        typed = [LoadStageResult.from_json(stage) for stage in stages]
        write_outputs(build_results(PlanDescription.from_json(plan), typed), folder)
    elif mode == "report":
        write_report([folder], folder / "report")
    elif mode == "held":
        for stage in stages:
            records = [
                RequestRecord.from_dict(row)
                for path in sorted(Path(stage["raw_dir"]).glob(REQUESTS_GLOB))
                for row in read_jsonl(path)
            ]
            stage.update(stage_metrics(records, plan["slo"]))
            del records
    elif mode != "idle":
        raise SystemExit(f"unknown mode {mode}")
    return {"mode": mode, "seconds": time.perf_counter() - start, "peak_rss_mb": _peak_mb()}


def measure(mode: str, folder: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--mode", mode, "--folder", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def bench(size_gb: float, chunks: int, modes: list[str], keep: Path | None) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="hawkeye-bench-memory-"))
    try:
        folder = root / "load"
        raw_bytes = build_folder(folder, int(size_gb * 1e9), chunks)
        idle = measure("idle", folder)
        rows = []
        for mode in modes:
            result = measure(mode, folder)
            extra = result["peak_rss_mb"] - idle["peak_rss_mb"]
            result.update(
                raw_mb=raw_bytes / 1e6,
                above_idle_mb=extra,
                above_idle_per_raw=extra / (raw_bytes / 1e6),
            )
            rows.append(result)
        return {"raw_mb": raw_bytes / 1e6, "idle_rss_mb": idle["peak_rss_mb"], "modes": rows}
    finally:
        if keep is not None:
            shutil.copytree(root, keep, dirs_exist_ok=True)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--chunks", type=int, default=100, help="token chunks per request")
    parser.add_argument("--before", action="store_true", help="also the held-in-a-list way")
    parser.add_argument("--before-size-gb", type=float, default=0.1)
    parser.add_argument("--keep", type=Path, help="copy the synthetic folder here")
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # a child measuring one mode
        print(json.dumps(run_mode(args.mode, args.folder)))
        return 0
    results = {"after": bench(args.size_gb, args.chunks, ["load", "report"], args.keep)}
    if args.before:
        results["before"] = bench(args.before_size_gb, args.chunks, ["held", "load"], None)
    print(json.dumps(results, indent=2))
    worst = max(m["above_idle_per_raw"] for m in results["after"]["modes"])
    return 0 if worst <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
