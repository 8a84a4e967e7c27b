"""What one raw request record gives the load statistics: its chunk gaps, per-token gaps,
chain-of-thought end and tokens, TPOT and delivery lags (the samples of the built-in load
metrics, :mod:`hawkeye_bench.load.builtin_metrics`), and whether it was refused."""

from __future__ import annotations

import numpy as np

from hawkeye_bench.load.records import RequestRecord
from hawkeye_bench.load.stream import COT_END_LAST_REASONING, REASONING


def _chunk_arrays(record: RequestRecord) -> tuple[np.ndarray, np.ndarray]:
    if not record.chunks:
        return np.empty(0), np.empty(0)
    times = np.fromiter((c[0] for c in record.chunks), dtype=float, count=len(record.chunks))
    tokens = np.fromiter((c[1] for c in record.chunks), dtype=float, count=len(record.chunks))
    return times, tokens


def chunk_gaps(record: RequestRecord) -> np.ndarray:
    """Gaps between consecutive token-bearing chunks of one request (ms)."""
    times, _ = _chunk_arrays(record)
    return np.diff(times)


def per_token_gap_source(record: RequestRecord) -> str:
    """How the tokens per chunk of one request are known (see :func:`per_token_gaps`)."""
    if record.chunk_tokens_source == "usage":
        return "usage"
    if (
        record.output_tokens_source == "usage"
        and record.output_tokens
        and len(record.chunks) > 0
        and record.output_tokens != len(record.chunks)
    ):
        return "usage_spread"
    return "chunks"


def per_token_gaps(record: RequestRecord) -> tuple[np.ndarray, str]:
    """Per-token gaps of one request and how the tokens per chunk were known.

    ``usage``: the server's cumulative usage per chunk (exact). ``usage_spread``: only the
    total is known from usage, spread evenly over the chunks. ``chunks``: one token per chunk.
    A gap is repeated once per token it covers, so the mean is sum(gaps) / tokens.
    """
    times, tokens = _chunk_arrays(record)
    gaps = np.diff(times)
    source = per_token_gap_source(record)
    if not gaps.size:
        return gaps, source
    if source == "usage_spread":  # equal weights: every chunk holds the same count
        return gaps / ((record.output_tokens or 0) / len(record.chunks)), source
    counts = np.maximum(tokens[1:], 1).astype(int)  # a 0-token delta counts as one token
    return np.repeat(gaps / counts, counts), source


def cot_end(record: RequestRecord) -> tuple[float | None, str | None]:
    """(send -> end of the chain of thought, its source); records written before the stage
    marker was read fall back to the last reasoning chunk, like the meter does."""
    if record.cot_end_ms is not None:
        return record.cot_end_ms, record.cot_end_source or COT_END_LAST_REASONING
    times = [c[0] for c in record.chunks if c[2] == REASONING]
    return (times[-1], COT_END_LAST_REASONING) if times else (None, None)


def reasoning_end_ms(record: RequestRecord) -> float | None:
    return cot_end(record)[0]


def cot_tokens(record: RequestRecord) -> int | None:
    """Tokens of the chain of thought; records written before they were counted: the
    reasoning tokens."""
    return record.cot_tokens if record.cot_tokens is not None else record.reasoning_tokens


def cot_per_token_gaps(record: RequestRecord) -> np.ndarray:
    """Per-token gaps within the chain of thought (the chunks up to its end), weighted as
    :func:`per_token_gaps` weighs them."""
    gaps, _ = per_token_gaps(record)
    end, _ = cot_end(record)
    if end is None:
        return np.empty(0)
    if record.cot_chunks is not None:
        chunks = record.cot_chunks
    else:  # no marker: the chunks up to the last reasoning one (rows keep 4 decimals)
        chunks = sum(1 for c in record.chunks if c[0] <= end + 1e-3)
    if chunks < 2:
        return np.empty(0)
    if per_token_gap_source(record) == "usage_spread":
        return gaps[: chunks - 1]
    counts = np.maximum(np.array([c[1] for c in record.chunks[1:chunks]], dtype=float), 1)
    return gaps[: int(counts.astype(int).sum())]


def tpot_ms(record: RequestRecord) -> float | None:
    if record.e2e_ms is None or record.ttft_ms is None or not record.output_tokens:
        return None
    if record.output_tokens < 2:
        return None
    return (record.e2e_ms - record.ttft_ms) / (record.output_tokens - 1)


def delivery_lags(record: RequestRecord) -> list[float]:
    """Server write -> client read per chunk, for chunks the server stamped (ms)."""
    return [c[3] for c in record.chunks if len(c) > 3]


def refused(record: RequestRecord) -> bool:
    """The request found no server: its connection was refused (no HTTP response)."""
    return record.status is None and "refused" in (record.error or "").lower()
