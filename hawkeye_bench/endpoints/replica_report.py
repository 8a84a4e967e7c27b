"""What each replica of a replica set did in a run: the manifest's ``replicas`` entries.

Written by :meth:`ClientPool.replica_reports <hawkeye_bench.endpoints.pool.ClientPool.
replica_reports>` (per replica set: the roles it serves and one :class:`ReplicaReport` per
replica), read back with :meth:`ReplicaSetReport.from_json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hawkeye_bench.core.json_form import JsonPayload

#: ``core/stats.describe`` of a replica's answered calls' latencies (n, missing, mean, p50, ...).
LatencySummary = dict[str, float | int | None]


@dataclass(frozen=True)
class ReplicaReport(JsonPayload):
    """One replica's counts: calls routed to it, the HTTP requests they sent (client retries
    included), failed calls (in all and by error type), times it was taken out of service,
    ``GET /models`` probes while it was out, and the latency of its answered calls."""

    url: str = ""
    calls: int = 0
    requests: int = 0
    errors: int = 0
    error_types: dict[str, int] = field(default_factory=dict)
    taken_out: int = 0
    probes: int = 0
    latency_s: LatencySummary = field(default_factory=dict)


@dataclass(frozen=True)
class ReplicaSetReport(JsonPayload):
    """One replica set of a run: the roles it served and each replica's report, in order (as
    JSON lists; a part an older manifest lacks reads as empty)."""

    roles: tuple[str, ...] = ()
    replicas: tuple[ReplicaReport, ...] = ()
