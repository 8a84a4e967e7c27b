"""A stage's result from its raw files: the statistics, and every reason the stage cannot be
trusted (Locust's exit code, lost or torn records, a saturated load generator, a lost worker's
records, an open-loop stage behind its schedule, too many failed requests)."""

from __future__ import annotations

from collections import Counter

from hawkeye_bench.core.secrets import redact
from hawkeye_bench.load.arrivals import trace_rate
from hawkeye_bench.load.cpu import CpuSummary, summarize_cpu
from hawkeye_bench.load.locust_command import locust_error, stage_name
from hawkeye_bench.load.locust_process import StageRun, log_tail
from hawkeye_bench.load.metrics import scan_stage
from hawkeye_bench.load.open_loop import open_loop_stats, trace_stats
from hawkeye_bench.load.plan import LoadPlan
from hawkeye_bench.load.records import RawRecordError, RequestRecord, load_cpu_samples
from hawkeye_bench.load.shipping import transfer_problems
from hawkeye_bench.load.stage_result import Arrival, LoadStageResult, RequestCounts, StageStatistics
from hawkeye_bench.load.traces import read_trace

#: Locust exit codes that still mean "the run happened": 0, and 1 = some requests failed.
LOCUST_RAN = (0, 1)


def analyse_stage(plan: LoadPlan, run: StageRun) -> LoadStageResult:
    """Statistics of one stage from its raw files, with reliability verdicts."""
    result = LoadStageResult(
        target=run.target.name,
        url=run.target.url,
        concurrency=run.concurrency,
        stage=stage_name(run.target, run.concurrency, run.rate, run.trace),
        locust_exit_code=run.exit_code,
        seconds=round(run.seconds, 2),
        raw_dir=str(run.raw_dir),
        locust_log=str(run.log_path),
    )
    reasons: list[str] = []
    if run.exit_code not in LOCUST_RAN:
        reasons.append(f"locust exited with code {run.exit_code} (see {run.log_path})")
    try:
        # one streaming pass; the records (open loop, traces) come back without their chunks
        open_loop = run.rate is not None or run.trace
        scan = scan_stage(run.raw_dir, plan.slo, keep_records=open_loop)
        cpu_samples, torn_cpu = load_cpu_samples(run.raw_dir)
    except RawRecordError as exc:
        result.failed = _failure(run, exc)
        result.log_tail = log_tail(run.log_path)
        result.reliable = False
        result.unreliable_reasons = [*reasons, "no usable raw records"]
        return result
    statistics = StageStatistics.from_json(scan.metrics)
    # a key echoed by the server is redacted when recorded; this covers older raw files
    errors = Counter[str]()
    for message, count in statistics.errors_by_message.items():
        errors[redact(message)] += count
    statistics.errors_by_message = dict(errors)
    result.statistics = statistics
    # lines cut by a SIGKILL at the deadline: dropped, and counted here
    result.torn_lines.requests, result.torn_lines.cpu = scan.torn, torn_cpu
    reasons += _lost_request_reasons(plan, statistics.requests.incomplete, scan.torn)
    result.cpu = summarize_cpu(cpu_samples)
    result.load_processes = len(result.cpu.processes)
    reasons += _client_cpu_reasons(result.cpu)
    result.raw_transfer_problems = transfer_problems(run.raw_dir)
    reasons += result.raw_transfer_problems
    reasons += _open_loop(plan, run, result, scan.records)
    result.error_share, result.too_many_errors, result.error_reasons = _error_verdict(
        plan, statistics.requests
    )
    reasons += result.error_reasons
    if run.exit_code not in LOCUST_RAN:
        result.log_tail = log_tail(run.log_path)
    result.reliable = not reasons
    result.unreliable_reasons = reasons
    share = result.goodput_share
    if plan.min_goodput is not None:
        result.slo_met = share is not None and share >= plan.min_goodput
    return result


def _failure(run: StageRun, exc: RawRecordError) -> str:
    """Why a stage has no usable raw records: Locust's own error where it exited badly (it
    says why, not the empty folder), else the raw files' error."""
    if run.exit_code in LOCUST_RAN:
        return str(exc)
    output = run.log_path.read_text(encoding="utf-8", errors="replace")
    return f"locust exited with code {run.exit_code}: {locust_error(output)} ({exc})"


def _open_loop(
    plan: LoadPlan, run: StageRun, result: LoadStageResult, records: list[RequestRecord]
) -> list[str]:
    """An open-loop stage's or a trace replay's timing against its schedule, set on
    ``result``; the reasons it fell behind."""
    if run.rate is not None:
        result.rate = run.rate
        result.arrival = Arrival(plan.arrival, plan.burstiness)
        result.open_loop = open_loop_stats(records, run.rate)
        return list(result.open_loop.saturation)
    if run.trace and plan.trace is not None:
        rows = read_trace(plan.trace)
        result.open_loop = open_loop_stats(records, trace_rate(rows, plan.trace_speed))
        result.trace = trace_stats(records, len(rows))
        return list(result.open_loop.saturation)
    return []


def _lost_request_reasons(plan: LoadPlan, incomplete: int, torn: int) -> list[str]:
    """Requests the statistics leave out because they were lost, not because they failed: cut
    by --stop-timeout (the slowest ones, so the figures are biased low) or torn in the raw
    file."""
    reasons = []
    if incomplete:
        reasons.append(
            f"{incomplete} measured requests were still streaming when --stop-timeout "
            f"({plan.stop_timeout_s:g} s) ran out: cut and left out of the statistics"
        )
    if torn:
        reasons.append(f"{torn} raw request records were torn (a killed process) and dropped")
    return reasons


def _client_cpu_reasons(cpu: CpuSummary) -> list[str]:
    """Why the load generator's CPU makes the latencies unreliable (none when it does not)."""
    reasons = []
    if cpu.saturated:
        busy = [p.process for p in cpu.processes if p.saturated]
        reasons.append(
            f"load generator CPU saturated (>= {cpu.threshold_percent:g} % for "
            f"{cpu.consecutive_samples} s; {len(busy)} of {len(cpu.processes)} "
            f"process(es): {', '.join(busy)}): latencies include client delay"
        )
    if not cpu.sampled:
        reasons.append("client CPU was not sampled (run shorter than 1 s?)")
    return reasons


def _error_verdict(plan: LoadPlan, counts: RequestCounts) -> tuple[float | None, bool, list[str]]:
    """(share of measured requests that failed, too many failed, reasons) of one stage."""
    measured, ok, failed = counts.measured, counts.ok, counts.errors
    error_share = failed / measured if measured else None
    too_many_errors = ok == 0 or (error_share is not None and error_share > plan.max_error_rate)
    reasons = []
    if ok == 0:
        reasons.append("no request succeeded")
    elif error_share is not None and error_share > plan.max_error_rate:
        reasons.append(
            f"{100 * error_share:.1f} % of measured requests failed ({failed} of {measured}), "
            f"above --max-error-rate {100 * plan.max_error_rate:.1f} %"
        )
    if plan.requests and 0 < ok < plan.requests:
        reasons.append(f"only {ok} of {plan.requests} requests succeeded")
    if counts.refused:
        reasons.append(
            f"{counts.refused} requests found the target refusing connections "
            "(each user backed off before trying again)"
        )
    return error_share, too_many_errors, reasons


def one_line(stage: LoadStageResult) -> str:
    """A stage's result in one progress line."""
    if stage.failed is not None:
        return f"FAILED: {stage.failed}"
    counts = stage.requests
    parts = [f"{counts.ok} ok, {counts.errors} errors"]
    if counts.refused:
        parts[0] += f" ({counts.refused} refused connections)"
    e2e, ttft = stage.stat("e2e_ms", "mean"), stage.stat("ttft_ms", "p50")
    if e2e is not None and ttft is not None:
        parts.append(f"E2E mean {e2e / 1000:.3f} s, TTFT p50 {ttft:.1f} ms")
    cpu = stage.cpu.max_percent
    if cpu is not None:
        parts.append(f"client CPU max {cpu:.0f} %")
    share = stage.goodput_share
    if share is not None:
        parts.append(f"goodput {100 * share:.1f} %")
    open_loop = stage.open_loop
    if open_loop is not None and open_loop.achieved_per_s is not None:
        lag = open_loop.stat("send_lag_ms", "p99")
        requested = open_loop.requested_per_s or open_loop.scheduled_per_s or 0.0
        lag_text = "–" if lag is None else f"{lag:.2f}"
        parts.append(f"achieved {open_loop.achieved_per_s:.2f} of {requested:.4g} "
                     f"requests/s, send lag p99 {lag_text} ms")  # fmt: skip
    if not stage.reliable:
        parts.append("UNRELIABLE: " + "; ".join(stage.unreliable_reasons))
    return ", ".join(parts)
