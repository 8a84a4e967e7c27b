"""The manifest's ``replicas`` entries (``endpoints/replica_report.py``) through their JSON form."""

from __future__ import annotations

import json

from hawkeye_bench.endpoints.replica_report import ReplicaReport, ReplicaSetReport
from hawkeye_bench.endpoints.replicas import ReplicaStats


def _report() -> ReplicaSetReport:
    stats = ReplicaStats("http://a:8000/v1", calls=3, requests=4, taken_out=1, probes=2)
    stats.errors["timeout"] += 1
    stats.latencies_s.extend([0.5, None, 1.5])
    return ReplicaSetReport(("reasoner", "responder"), (stats.report(), ReplicaReport("http://b")))


def test_a_replica_set_report_round_trips_through_json() -> None:
    report = _report()
    assert ReplicaSetReport.from_json(json.loads(json.dumps(report.to_json()))) == report


def test_the_json_form_is_the_one_the_manifest_has_always_had() -> None:
    written = {
        "roles": ["single"],
        "replicas": [
            {
                "url": "http://a:8000/v1",
                "calls": 2,
                "requests": 3,
                "errors": 1,
                "error_types": {"http_503": 1},
                "taken_out": 1,
                "probes": 0,
                "latency_s": {"n": 1, "missing": 0, "mean": 0.5, "p50": 0.5, "p90": 0.5,
                              "p99": 0.5, "min": 0.5, "max": 0.5},
            }
        ],
    }  # fmt: skip
    report = ReplicaSetReport.from_json(written)
    assert report.roles == ("single",) and report.replicas[0].error_types == {"http_503": 1}
    assert report.to_json() == written


def test_a_report_missing_fields_still_loads() -> None:
    report = ReplicaSetReport.from_json({"replicas": [{"url": "http://a"}]})
    assert report.roles == () and report.replicas[0] == ReplicaReport("http://a")
