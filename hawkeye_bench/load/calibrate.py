"""Calibration: measure a server whose timing is known and report the measurement error.

The scripted test server sends a role chunk at once, the first token after ``ttft_ms`` and one
token every ``gap_ms`` (scheduled on absolute deadlines), stamping each chunk with its
``perf_counter`` so the delivery lag (server write -> client read) is measured directly. Server
and Locust are pinned to different cores when the machine has more than one. The run goes
through the same stock-``locust`` path as a real load test, so a buffering client, a saturated
load generator or a timing bug shows up here as an error against known truth.

:func:`measure_ceiling` runs it at rising concurrency with one load process and keeps the
highest rate of streamed events it read with delivery lag p99 under the bound: the one-process
ceiling that ``--processes auto`` sizes stages with (:mod:`hawkeye_bench.load.capacity`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from hawkeye_bench.load import LOCUSTFILE
from hawkeye_bench.load.capacity import Capacity, new_capacity
from hawkeye_bench.load.metrics import chunk_gaps, distribution, share_below
from hawkeye_bench.load.records import read_requests
from hawkeye_bench.load.runner import LoadPlan, Target, analyse_stage, run_stage
from hawkeye_bench.testing.scripted_server import ScriptedConfig, start_subprocess

#: a gap below this fraction of the configured gap counts as near zero
NEAR_ZERO_FRACTION = 0.1


@dataclass(frozen=True)
class Tolerances:
    """Pass limits (lag uses the shared-machine/CI limit)."""

    ttft_p50_ms: float = 3.0
    tbt_mean_fraction: float = 0.01
    near_zero_share: float = 0.01
    lag_p99_ms: float = 5.0


@dataclass(frozen=True)
class Truth:
    ttft_ms: float = 100.0
    gap_ms: float = 20.0
    tokens: int = 64
    tokens_per_chunk: int = 1

    def server_config(self) -> ScriptedConfig:
        return ScriptedConfig(
            ttft_ms=self.ttft_ms,
            gap_ms=self.gap_ms,
            tokens=self.tokens,
            tokens_per_chunk=self.tokens_per_chunk,
            role_chunk=True,
            usage="requested",
            continuous_usage_stats=True,
        )

    def e2e_ms(self) -> float:
        chunks = -(-self.tokens // self.tokens_per_chunk)
        return self.ttft_ms + (chunks - 1) * self.gap_ms


def split_cores(server_processes: int = 1) -> tuple[set[int] | None, set[int] | None]:
    """(server cores, client cores): the last core(s) for the server (one per server process,
    at most half of them), the rest for Locust."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None, None
    server = max(1, min(server_processes, len(cores) // 2))
    return set(cores[-server:]), set(cores[:-server])


def machine_load() -> dict[str, Any]:
    """Load average and cores: calibration on a busy machine measures the machine too."""
    one, five, _ = os.getloadavg()
    return {"load_1min": one, "load_5min": five, "cores": os.cpu_count()}


def write_calibration_prompts(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"messages": [{"role": "user", "content": "calibration"}]}\n')
    return path


def _check(name: str, measured: float | None, limit: float, text: str) -> dict[str, Any]:
    return {
        "check": name,
        "measured": measured,
        "limit": limit,
        "passed": measured is not None and measured <= limit,
        "text": text,
    }


def evaluate(stage: dict[str, Any], raw_dir: Path, truth: Truth, tol: Tolerances) -> dict[str, Any]:
    """Measured vs configured for one concurrency, with pass/fail per check."""
    records = [r for r in read_requests(raw_dir) if r.measured and r.error is None]
    gaps = np.concatenate([chunk_gaps(r) for r in records]) if records else np.empty(0)
    # the server's own first-token write, relative to our send (measured TTFT minus its lag):
    # separates "the server was late" (e.g. a busy machine) from "the client measured late"
    first = [r.chunks[0] for r in records if r.chunks and len(r.chunks[0]) > 3]
    server_ttft = distribution(c[0] - c[3] for c in first)
    first_lag = distribution(c[3] for c in first)
    near_zero = share_below(gaps, NEAR_ZERO_FRACTION * truth.gap_ms)
    checks = _calibration_checks(stage, server_ttft, near_zero, truth, tol)
    window = (stage.get("throughput") or {}).get("window_s")
    events = sum(len(r.chunks) for r in records)
    measured = _measured(stage, server_ttft, first_lag, near_zero)
    measured["events_per_s"] = events / window if window else None
    # the same gaps between the server's own writes: near-zero gaps there mean the server
    # wrote in bursts (it could not keep its schedule), not that the client read late
    server_gaps = [
        np.diff([c[0] - c[3] for c in r.chunks])
        for r in records
        if r.chunks and all(len(c) > 3 for c in r.chunks)
    ]
    server_gap_array = np.concatenate(server_gaps) if server_gaps else np.empty(0)
    measured["server_near_zero_gap_share"] = share_below(
        server_gap_array, NEAR_ZERO_FRACTION * truth.gap_ms
    )
    return {
        "concurrency": stage["concurrency"],
        "truth": truth.__dict__ | {"e2e_ms": truth.e2e_ms()},
        "measured": measured,
        "checks": checks,
        "passed": all(c["passed"] for c in checks),
        "machine": machine_load(),
        "stage": stage,
    }


def _calibration_checks(
    stage: dict[str, Any],
    server_ttft: dict[str, float | int] | None,
    near_zero: float | None,
    truth: Truth,
    tol: Tolerances,
) -> list[dict[str, Any]]:
    metrics = stage.get("metrics") or {}
    ttft = metrics.get("ttft_ms") or {}
    tbt = metrics.get("tbt_ms") or {}  # per token: gap / tokens in the chunk
    lag = metrics.get("delivery_lag_ms") or {}
    ttft_error = abs(ttft["p50"] - truth.ttft_ms) if ttft else None
    # the measurement's own error: what we measured vs when the server really wrote the token
    ttft_vs_server = abs(ttft["p50"] - server_ttft["p50"]) if ttft and server_ttft else None
    token_gap = truth.gap_ms / truth.tokens_per_chunk
    tbt_error = abs(tbt["mean"] - token_gap) / token_gap if tbt else None
    counts = stage.get("requests") or {}
    cpu = stage.get("cpu") or {}
    return [
        _check("ttft_p50_error_ms", ttft_error, tol.ttft_p50_ms, "|TTFT p50 - configured|"),
        _check(
            "ttft_p50_vs_server_ms",
            ttft_vs_server,
            tol.ttft_p50_ms,
            "|TTFT p50 - server's first-token write p50| (both from our send)",
        ),
        _check("tbt_mean_error", tbt_error, tol.tbt_mean_fraction, "|mean TBT - truth| / truth"),
        _check(
            "near_zero_gap_share",
            near_zero,
            tol.near_zero_share,
            f"share of gaps < {NEAR_ZERO_FRACTION * truth.gap_ms:g} ms",
        ),
        _check("delivery_lag_p99_ms", lag.get("p99"), tol.lag_p99_ms, "server write -> read p99"),
        _check("errors", counts.get("errors"), 0, "failed measured requests"),
        _check(
            "client_cpu_saturated",
            float(bool(cpu.get("saturated"))) if cpu.get("sampled") else None,
            0,
            "load generator saturated (1 = yes)",
        ),
    ]


def _measured(
    stage: dict[str, Any],
    server_ttft: dict[str, float | int] | None,
    first_lag: dict[str, float | int] | None,
    near_zero: float | None,
) -> dict[str, Any]:
    metrics = stage.get("metrics") or {}
    ttft = metrics.get("ttft_ms") or {}
    tbt = metrics.get("tbt_ms") or {}
    lag = metrics.get("delivery_lag_ms") or {}
    counts = stage.get("requests") or {}
    cpu = stage.get("cpu") or {}
    return {
        "ttft_p50_ms": ttft.get("p50"),
        "ttft_p99_ms": ttft.get("p99"),
        "tbt_mean_ms": tbt.get("mean"),
        "tbt_p50_ms": tbt.get("p50"),
        "tbt_p99_ms": tbt.get("p99"),
        "e2e_p50_ms": (metrics.get("e2e_ms") or {}).get("p50"),
        "tt_ack_p50_ms": (metrics.get("tt_ack_ms") or {}).get("p50"),
        "server_ttft_p50_ms": server_ttft["p50"] if server_ttft else None,
        "first_token_lag_p50_ms": first_lag["p50"] if first_lag else None,
        "lag_p50_ms": lag.get("p50"),
        "lag_p99_ms": lag.get("p99"),
        "near_zero_gap_share": near_zero,
        "requests_ok": counts.get("ok"),
        "client_cpu_mean_percent": cpu.get("busiest_mean_percent"),
        "client_cpu_max_percent": cpu.get("max_percent"),
    }


def calibrate(
    concurrencies: list[int],
    out_dir: Path,
    *,
    requests_per_user: int = 5,
    warmup_s: float = 1.0,
    processes: int = 0,
    truth: Truth | None = None,
    tolerances: Tolerances | None = None,
    locustfile: Path = LOCUSTFILE,
    pin_cores: bool = True,
    progress: Callable[[str], None] = print,
    server_processes: int = 1,
    stop_when: Callable[[dict[str, Any]], bool] | None = None,
) -> list[dict[str, Any]]:
    """Run the calibration at each concurrency; one evaluation per concurrency (up to the first
    that ``stop_when`` accepts)."""
    truth = truth or Truth()
    tolerances = tolerances or Tolerances()
    server_cpus, client_cpus = split_cores(server_processes) if pin_cores else (None, None)
    config = truth.server_config()
    config.processes = server_processes
    process, base_url = start_subprocess(config, cpus=server_cpus)
    pinning = (
        f"server on core {sorted(server_cpus)}, locust on {sorted(client_cpus)}"
        if server_cpus and client_cpus
        else "not pinned: server and client share the cores"
    )
    progress(f"scripted server at {base_url} ({pinning})")
    evaluations = []
    try:
        prompts = write_calibration_prompts(out_dir / "calibration_prompts.jsonl")
        for concurrency in concurrencies:
            plan = LoadPlan(
                targets=[Target("scripted", base_url)],
                concurrencies=[concurrency],
                out_dir=out_dir,
                requests=requests_per_user * concurrency,
                prompts=str(prompts),
                model="scripted-model",
                max_tokens=truth.tokens,
                warmup_s=warmup_s,
                processes=processes,
                stop_timeout_s=30,
                cpus=client_cpus,
                locustfile=locustfile,
            )
            progress(f"calibrating at concurrency {concurrency} ({plan.requests} requests)")
            server = psutil.Process(process.pid)
            server_processes_now = [server, *server.children(recursive=True)]
            for watched in server_processes_now:
                watched.cpu_percent(None)
            run = run_stage(plan, plan.targets[0], concurrency, progress)
            # the server's average CPU over the stage (Locust start-up included): a busy
            # scripted server answers late, which shows as TTFT above the configured value
            # percent of one core, all server processes together
            server_cpu = sum(watched.cpu_percent(None) for watched in server_processes_now)
            stage = analyse_stage(plan, run)
            if "failed" in stage:
                raise RuntimeError(f"calibration at c={concurrency} failed: {stage['failed']}")
            evaluation = evaluate(stage, run.raw_dir, truth, tolerances)
            evaluation["machine"]["server_cpu_percent"] = server_cpu
            evaluation["machine"]["server_rss_mb"] = _rss_mb(server)
            evaluation["processes"] = processes
            evaluations.append(evaluation)
            if stop_when is not None and stop_when(evaluation):
                break
    finally:
        _stop(process)
    return evaluations


def _rss_mb(process: psutil.Process) -> float:
    """Resident memory of a server process and its children (a multi-process server)."""
    processes = [process, *process.children(recursive=True)]
    return sum(p.memory_info().rss for p in processes) / 2**20


def within_lag_bound(evaluation: dict[str, Any], bound_ms: float) -> bool:
    """Read on time: delivery lag p99 under the bound, no error, client CPU not saturated."""
    measured = evaluation["measured"]
    lag = measured["lag_p99_ms"]
    cpu = evaluation["stage"].get("cpu") or {}
    errors = (evaluation["stage"].get("requests") or {}).get("errors")
    return lag is not None and lag < bound_ms and not cpu.get("saturated") and not errors


def measure_ceiling(
    concurrencies: list[int],
    out_dir: Path,
    *,
    bound_ms: float = Tolerances().lag_p99_ms,
    requests_per_user: int = 5,
    truth: Truth | None = None,
    pin_cores: bool = True,
    progress: Callable[[str], None] = print,
) -> tuple[Capacity | None, list[dict[str, Any]]]:
    """One load process at rising concurrency (stopping after two in a row miss the lag bound:
    on a shared machine one miss can be noise): the highest events/s read with lag p99 <
    ``bound_ms``, and every evaluation."""
    misses = [0]

    def two_misses_in_a_row(evaluation: dict[str, Any]) -> bool:
        misses[0] = 0 if within_lag_bound(evaluation, bound_ms) else misses[0] + 1
        return misses[0] >= 2

    evaluations = calibrate(
        sorted(concurrencies),
        out_dir,
        requests_per_user=requests_per_user,
        truth=truth,
        pin_cores=pin_cores,
        progress=progress,
        stop_when=two_misses_in_a_row,
    )
    good = [
        ev
        for ev in evaluations
        if within_lag_bound(ev, bound_ms) and ev["measured"]["events_per_s"] is not None
    ]
    if not good:
        return None, evaluations
    best = max(good, key=lambda ev: ev["measured"]["events_per_s"])
    measured = best["measured"]
    capacity = new_capacity(
        measured["events_per_s"], measured["lag_p99_ms"], best["concurrency"], bound_ms
    )
    return capacity, evaluations


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def render(evaluations: list[dict[str, Any]]) -> str:
    """Measured vs configured, one block per concurrency."""
    lines = []
    for ev in evaluations:
        truth, m = ev["truth"], ev["measured"]
        verdict = "PASS" if ev["passed"] else "FAIL"
        lines += [
            f"concurrency {ev['concurrency']}: {verdict} ({m['requests_ok']} requests)",
            f"  TTFT p50      {_f(m['ttft_p50_ms'])} ms   (configured {truth['ttft_ms']:g} ms; "
            f"p99 {_f(m['ttft_p99_ms'])} ms; TT_ACK p50 {_f(m['tt_ack_p50_ms'])} ms)",
            f"  TBT mean      {_f(m['tbt_mean_ms'], 3)} ms  (configured "
            f"{truth['gap_ms'] / truth['tokens_per_chunk']:g} ms per token; "
            f"p50 {_f(m['tbt_p50_ms'])}, p99 {_f(m['tbt_p99_ms'])} ms)",
            f"  server TTFT   {_f(m['server_ttft_p50_ms'])} ms p50 (its first-token write after "
            f"our send; first-token lag p50 {_f(m['first_token_lag_p50_ms'], 3)} ms)",
            f"  E2E p50       {_f(m['e2e_p50_ms'])} ms   (ideal {truth['e2e_ms']:g} ms)",
            f"  near-zero gaps {_f(_pct(m['near_zero_gap_share']), 2)} %",
            f"  delivery lag  p50 {_f(m['lag_p50_ms'], 3)} ms, p99 {_f(m['lag_p99_ms'], 3)} ms "
            f"({_f(m.get('events_per_s'), 0)} streamed events/s read)",
            f"  client CPU    mean {_f(m['client_cpu_mean_percent'], 0)} %, "
            f"max {_f(m['client_cpu_max_percent'], 0)} %",
            f"  machine       load average {ev['machine']['load_1min']:.1f} "
            f"on {ev['machine']['cores']} cores; scripted server CPU "
            f"{_f(ev['machine'].get('server_cpu_percent'), 0)} % (stage average)",
        ]
        for check in ev["checks"]:
            mark = "ok  " if check["passed"] else "FAIL"
            lines.append(
                f"  [{mark}] {check['check']}: {_f(check['measured'], 4)} "
                f"(limit {check['limit']:g}; {check['text']})"
            )
    return "\n".join(lines)


def _pct(value: float | None) -> float | None:
    return None if value is None else value * 100


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"
