"""The built-in load metrics, in registry order (the order of ``load_results.json`` and of the
printed definitions); ``csv_rank`` keeps the CSV's column order. A new metric is one entry
here (or a :func:`hawkeye_bench.load.registry.register_load_metric` call elsewhere)."""

from __future__ import annotations

from operator import attrgetter

from hawkeye_bench.core.stats import PERCENTILES
from hawkeye_bench.load.metric_spec import LoadMetric
from hawkeye_bench.load.request_values import (
    chunk_gaps,
    cot_per_token_gaps,
    cot_tokens,
    delivery_lags,
    per_token_gaps,
    reasoning_end_ms,
    tpot_ms,
)

#: registry order = the order of ``load_results.json`` and of the printed definitions;
#: ``csv_rank`` keeps the CSV's column order
BUILTIN_LOAD_METRICS = (
    LoadMetric(
        "e2e_ms",
        "ms",
        "E2E / Time per Req: send -> last token-bearing chunk",
        per_request=attrgetter("e2e_ms"),
        csv_rank=0,
        table_column="time",
        table_stats=("mean", *(f"p{p}" for p in PERCENTILES)),
        slo=True,
    ),
    LoadMetric(
        "e2e_done_ms",
        "ms",
        "send -> `data: [DONE]`",
        per_request=attrgetter("e2e_done_ms"),
        csv_rank=11,
    ),
    LoadMetric(
        "tt_ack_ms",
        "ms",
        "TT_ACK: send -> first SSE chunk of any kind (role-only included)",
        per_request=attrgetter("tt_ack_ms"),
        csv_rank=5,
    ),
    LoadMetric(
        "ttft_ms",
        "ms",
        "TTFT: send -> first non-empty token chunk (reasoning or content)",
        per_request=attrgetter("ttft_ms"),
        csv_rank=1,
        table_column="ttft",
        table_stats=("mean", *(f"p{p}" for p in PERCENTILES)),
        slo=True,
    ),
    LoadMetric(
        "ttft_reasoning_ms",
        "ms",
        "TTFT-reasoning: send -> first reasoning token",
        per_request=attrgetter("ttft_reasoning_ms"),
        csv_rank=3,
        cot_only_column="ttft",
    ),
    LoadMetric(
        "ttft_content_ms",
        "ms",
        "TTFT-content: send -> first answer (content) token; for Hawkeye the first stage-2 token",
        per_request=attrgetter("ttft_content_ms"),
        csv_rank=2,
        slo=True,
    ),
    LoadMetric(
        "tbt_ms",
        "ms",
        "TBT (Avg TBT), per token: each gap between consecutive token-bearing chunks divided by "
        "the tokens in the later chunk, pooled over requests",
        pooled=lambda record: per_token_gaps(record)[0],
        csv_rank=6,
        table_column="tbt",
    ),
    LoadMetric(
        "cot_tbt_ms",
        "ms",
        "CoT TBT, per token: the TBT gaps within the chain of thought (up to its end, see "
        "reasoning_end_ms), pooled over requests",
        pooled=cot_per_token_gaps,
        csv_rank=13,
        cot_only_column="tbt",
    ),
    LoadMetric(
        "reasoning_end_ms",
        "ms",
        "CoT end: send -> last token before the server's `x_hawkeye.stage_end` marker (Hawkeye: "
        "end of the stage-1 CoT as the client sees it, the paper's 'CoT only' time); without a "
        "marker, the last reasoning token, which then includes any reasoning of a final stage "
        "(counted in cot_end_sources)",
        per_request=reasoning_end_ms,
        csv_rank=4,
        cot_only_column="time",
    ),
    LoadMetric(
        "chunk_gap_ms",
        "ms",
        "gaps between consecutive token-bearing chunks, pooled (ITL)",
        pooled=chunk_gaps,
        csv_rank=7,
    ),
    LoadMetric(
        "tpot_ms",
        "ms",
        "TPOT: (E2E - TTFT) / (output tokens - 1), per request",
        per_request=tpot_ms,
        csv_rank=8,
        slo=True,
    ),
    LoadMetric(
        "output_tokens",
        "tokens",
        "Tokens: completion tokens per request (usage, else counted)",
        per_request=attrgetter("output_tokens"),
        csv_rank=9,
        table_column="tokens",
    ),
    LoadMetric(
        "reasoning_tokens",
        "tokens",
        "reasoning tokens per request: every token streamed as reasoning, a final stage's own "
        "reasoning included (usage, else counted)",
        per_request=attrgetter("reasoning_tokens"),
        csv_rank=10,
    ),
    LoadMetric(
        "cot_tokens",
        "tokens",
        "CoT tokens per request: the stages up to the server's `x_hawkeye.stage_end` marker "
        "(its per-stage usage, else the token chunks before it); without a marker, the "
        "reasoning tokens",
        per_request=cot_tokens,
        csv_rank=14,
        cot_only_column="tokens",
    ),
    LoadMetric(
        "delivery_lag_ms",
        "ms",
        "server write -> client read per chunk (only servers that stamp chunks, e.g. the "
        "scripted test server)",
        pooled=delivery_lags,
        csv_rank=12,
    ),
)
