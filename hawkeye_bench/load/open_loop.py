"""What an open-loop (``load --rate``) stage achieved, from its raw records.

Each record keeps when it was due and when it was sent. The stage reports the requested rate,
the rate of the due times it drew (the schedule itself, seeded), the achieved rate of the actual
sends, the send lag (sent - due) and how many requests waited for a free user under
``--max-concurrency``, and the number of requests in flight over time. A stage whose sends fell
behind their schedule did not run at the rate asked for: it is named and marked unreliable,
never reported as the requested rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hawkeye_bench.load.metrics import distribution
from hawkeye_bench.load.records import RequestRecord

#: sends later than this at p99 mean the target or this client could not keep the schedule
SEND_LAG_P99_LIMIT_MS = 250.0
#: an achieved rate below this share of the schedule's own rate is a saturated stage
MIN_RATE_SHARE = 0.95
#: a due request that waited longer than this for a free user counts as delayed by the cap
QUEUED_MS = 1.0
IN_FLIGHT_EVERY_S = 1.0


#: one quantity's statistics: n, mean, p50/p90/p99, min, max (None where it has no sample)
Distribution = dict[str, int | float]


@dataclass
class InFlight:
    """Requests in flight (sent, not yet done), sampled every ``every_s`` seconds from the first
    send: ``series`` is ``[[seconds, count], ...]``; ``max`` is exact."""

    max: int | None = None
    mean: float | None = None
    every_s: float = IN_FLIGHT_EVERY_S
    series: list[list[int | float]] = field(default_factory=list)


@dataclass
class OpenLoopStats:
    """What an open-loop stage (or a trace replay) achieved against its schedule."""

    requested_per_s: float | None = None
    scheduled_per_s: float | None = None
    achieved_per_s: float | None = None
    sent: int = 0
    send_lag_ms: Distribution | None = None
    delayed_by_cap: int = 0
    queued_ms: Distribution | None = None
    in_flight: InFlight = field(default_factory=InFlight)
    #: why the stage fell behind its schedule (:func:`saturation_reasons`; none: it kept it)
    saturation: list[str] = field(default_factory=list)

    def stat(self, name: str, stat: str) -> float | None:
        """A statistic of ``send_lag_ms`` or ``queued_ms`` (None: no sample)."""
        dist = self.send_lag_ms if name == "send_lag_ms" else self.queued_ms
        return None if dist is None else dist.get(stat)


@dataclass
class TraceStats:
    """A trace replay: rows sent of the trace's, and the lengths the server counted against
    those asked for."""

    rows: int = 0
    sent: int = 0
    input_measured_per_asked: float | None = None
    output_measured_per_asked: float | None = None
    ignore_eos_sent: int = 0
    ignore_eos_refused: bool = False


def _rate(times: np.ndarray) -> float | None:
    """Requests per second of ``times`` (seconds): (n - 1) / span."""
    if times.size < 2:
        return None
    span = float(times.max() - times.min())
    return (times.size - 1) / span if span > 0 else None


def open_loop_stats(records: Sequence[RequestRecord], requested: float | None) -> OpenLoopStats:
    """Requested, scheduled and achieved rate, send lag, cap delays and in-flight counts of
    the stage's requests sent after the warmup, and why it fell behind (if it did)."""
    sent = [r for r in records if not r.warmup and r.t_scheduled_wall is not None]
    sends = np.array([r.t_send_wall for r in sent], dtype=float)
    due = np.array([r.t_scheduled_wall for r in sent], dtype=float)
    queued = [r.queued_ms or 0.0 for r in sent]
    stats = OpenLoopStats(
        requested_per_s=requested,
        scheduled_per_s=_rate(due),
        achieved_per_s=_rate(sends),
        sent=len(sent),
        send_lag_ms=distribution(lag for r in sent if (lag := r.send_lag_ms) is not None),
        delayed_by_cap=sum(q > QUEUED_MS for q in queued),
        queued_ms=distribution(q for q in queued if q > QUEUED_MS),
        in_flight=in_flight(records),
    )
    stats.saturation = saturation_reasons(stats)
    return stats


def in_flight(records: Sequence[RequestRecord], every_s: float = IN_FLIGHT_EVERY_S) -> InFlight:
    """Requests in flight, sampled every ``every_s`` seconds from the first send."""
    spans = [
        (r.t_send_wall, r.t_send_wall + r.finished_ms / 1e3)
        for r in records
        if r.finished_ms is not None
    ]
    if not spans:
        return InFlight(every_s=every_s)
    starts = np.sort(np.array([s for s, _ in spans]))
    ends = np.sort(np.array([e for _, e in spans]))
    grid = np.arange(starts[0], ends[-1] + every_s, every_s)
    counts = np.searchsorted(starts, grid, "right") - np.searchsorted(ends, grid, "right")
    # exact maximum: the count right after each start
    peak = np.searchsorted(starts, starts, "right") - np.searchsorted(ends, starts, "right")
    return InFlight(
        max=int(peak.max()),
        mean=float(counts.mean()),
        every_s=every_s,
        series=[
            [round(float(t - starts[0]), 3), int(n)] for t, n in zip(grid, counts, strict=True)
        ],
    )


def saturation_reasons(stats: OpenLoopStats) -> list[str]:
    """Why the stage did not run at its rate (none when it did)."""
    achieved, scheduled = stats.achieved_per_s, stats.scheduled_per_s
    requested = stats.requested_per_s or scheduled or 0.0
    lag_p99 = stats.stat("send_lag_ms", "p99")
    behind = achieved is not None and scheduled and achieved < MIN_RATE_SHARE * scheduled
    late = lag_p99 is not None and lag_p99 > SEND_LAG_P99_LIMIT_MS
    if stats.sent < 2:
        return [f"fewer than 2 requests sent: no rate measured (asked for {requested:g}/s)"]
    if not (behind or late):
        return []
    achieved_text = "–" if achieved is None else _rate_text(achieved)
    lag_text = "–" if lag_p99 is None else _seconds_or_ms(lag_p99)
    delayed = stats.delayed_by_cap
    cap = f"; {delayed} requests waited for --max-concurrency" if delayed else ""
    # a short stage's seeded draws can run well off the requested rate: say so, so an achieved
    # rate above the requested one does not read as a contradiction
    drawn = (
        f" (its seeded schedule: {_rate_text(scheduled)}/s)"
        if scheduled and requested and abs(scheduled / requested - 1) > 0.1
        else ""
    )
    return [
        f"achieved {achieved_text} of {requested:g} requests/s{drawn}; send lag p99 {lag_text}"
        f"{cap}: the target or this client is saturated"
    ]


def _rate_text(per_s: float) -> str:
    return f"{per_s:.1f}" if per_s >= 1 else f"{per_s:.2g}"


def trace_stats(records: Sequence[RequestRecord], rows: int) -> TraceStats:
    """A trace replay: rows sent of the trace's, and the lengths asked for against those the
    server counted (prompt tokens from usage: filler words are not exactly one token each)."""
    sent = [r for r in records if r.trace_input_tokens is not None and not r.warmup]
    ok = [r for r in sent if r.ok]

    def ratio(measured: list[int | None], asked: list[int | None]) -> float | None:
        pairs = [(m, a) for m, a in zip(measured, asked, strict=True) if m and a]
        return sum(m for m, _ in pairs) / sum(a for _, a in pairs) if pairs else None

    return TraceStats(
        rows=rows,
        sent=len(sent),
        input_measured_per_asked=ratio(
            [r.prompt_tokens for r in ok], [r.trace_input_tokens for r in ok]
        ),
        output_measured_per_asked=ratio(
            [r.output_tokens for r in ok], [r.trace_output_tokens for r in ok]
        ),
        ignore_eos_sent=sum(bool(r.ignore_eos) for r in sent),
        ignore_eos_refused=any(r.ignore_eos is False for r in sent),
    )


def _seconds_or_ms(ms: float) -> str:
    return f"{ms / 1e3:.1f} s" if ms >= 1000 else f"{ms:.1f} ms"
