"""What each replica of a replica set did in a run: the manifest's ``replicas`` entries.

Written by :meth:`ClientPool.replica_stats <hawkeye_bench.endpoints.pool.ClientPool.
replica_stats>` (per replica set: the roles it serves and one :class:`ReplicaReport` per
replica), read back with :meth:`ReplicaSetReport.from_json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: ``core/stats.describe`` of a replica's answered calls' latencies (n, missing, mean, p50, ...).
LatencySummary = dict[str, float | int | None]


@dataclass(frozen=True)
class ReplicaReport:
    """One replica's counts: calls routed to it, the HTTP requests they sent (client retries
    included), failed calls (in all and by error type), times it was taken out of service,
    ``GET /models`` probes while it was out, and the latency of its answered calls."""

    url: str
    calls: int = 0
    requests: int = 0
    errors: int = 0
    error_types: dict[str, int] = field(default_factory=dict)
    taken_out: int = 0
    probes: int = 0
    latency_s: LatencySummary = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "calls": self.calls,
            "requests": self.requests,
            "errors": self.errors,
            "error_types": dict(self.error_types),
            "taken_out": self.taken_out,
            "probes": self.probes,
            "latency_s": dict(self.latency_s),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReplicaReport:
        return cls(
            url=str(data.get("url", "")),
            calls=int(data.get("calls", 0)),
            requests=int(data.get("requests", 0)),
            errors=int(data.get("errors", 0)),
            error_types={str(k): int(v) for k, v in (data.get("error_types") or {}).items()},
            taken_out=int(data.get("taken_out", 0)),
            probes=int(data.get("probes", 0)),
            latency_s=dict(data.get("latency_s") or {}),
        )


@dataclass(frozen=True)
class ReplicaSetReport:
    """One replica set of a run: the roles it served and each replica's report, in order."""

    roles: tuple[str, ...]
    replicas: tuple[ReplicaReport, ...]

    def to_json(self) -> dict[str, Any]:
        return {"roles": list(self.roles), "replicas": [r.to_json() for r in self.replicas]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReplicaSetReport:
        return cls(
            roles=tuple(str(role) for role in data.get("roles") or ()),
            replicas=tuple(ReplicaReport.from_json(r) for r in data.get("replicas") or ()),
        )
