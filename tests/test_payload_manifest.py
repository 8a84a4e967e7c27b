"""manifest.json (eval.manifest.Manifest, RecordedPlan) through its JSON form, and the form
written before the plan was typed (``config`` held the command line's flags)."""

from __future__ import annotations

import json
from pathlib import Path

from hawkeye_bench.endpoints.replica_report import ReplicaReport, ReplicaSetReport
from hawkeye_bench.eval.manifest import (
    Environment,
    Manifest,
    RecordedPlan,
    RoleEndpoint,
    Writer,
)
from hawkeye_bench.eval.store import RunStore


def _manifest() -> Manifest:
    return Manifest(
        identity={"task": "gsm8k", "pipeline": "hawkeye", "samples": 1},
        config=RecordedPlan(
            task="gsm8k",
            pipeline="hawkeye",
            preset="default",
            limit=4,
            samples=1,
            seed=0,
            concurrency=2,
            max_tokens=64,
            temperature=0.0,
            stage2_input="full",
            pipeline_options={"keep": 0.5},
            roles={"reasoner": RoleEndpoint("big", "http://a/v1")},
            baseline_run="runs/base",
            margin_pp=2.0,
            max_error_rate=0.1,
            max_consecutive_failures=5,
        ),
        started_at="2026-01-01T00:00:00+0000",
        ended_at="2026-01-01T00:01:00+0000",
        status="complete",
        writer=Writer(pid=12, host="h"),
        resumed_from=3,
        error="boom",
        endpoints={"reasoner": {"model": "big", "base_url": "http://a/v1", "api_key_env": "K"}},
        preset={"name": "default", "stages": {}},
        dataset={"dataset": "gsm8k", "source": "hub"},
        pipeline_setup={"threshold": 0.5},
        replicas=[ReplicaSetReport(("reasoner",), (ReplicaReport("http://a/v1", calls=3),))],
        import_={"match": "id"},
        environment=Environment(
            versions={"python": "3.12"},
            git_revision="abc",
            platform="Linux",
            machine="x86_64",
            argv=("hawkeye-bench", "eval"),
        ),
    )


def test_manifest_round_trips_through_json() -> None:
    manifest = _manifest()
    assert Manifest.from_json(json.loads(json.dumps(manifest.to_json()))) == manifest
    bare = Manifest(identity={"task": "gsm8k"})
    assert Manifest.from_json(json.loads(json.dumps(bare.to_json()))) == bare


def test_the_store_writes_and_reads_the_manifest(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    assert store.read_manifest() is None
    store.write_manifest(_manifest())
    assert store.read_manifest() == _manifest()


def test_a_manifest_whose_config_holds_the_flags_still_loads() -> None:
    old = {
        "kind": "hawkeye-bench-run",
        "identity": {"task": "gsm8k", "pipeline": "baseline"},
        "config": {  # vars(args) of `hawkeye-bench eval`, as written before RecordedPlan
            "task": "gsm8k",
            "pipeline": "baseline",
            "preset": None,
            "limit": 2,
            "samples": 1,
            "concurrency": 1,
            "seed": 0,
            "max_tokens": 64,
            "temperature": None,
            "data_dir": "d",
            "out": "runs/x",
            "resume": False,
            "retry_errors": False,
            "baseline_run": None,
            "margin": 2.0,
            "max_error_rate": 0.1,
            "max_consecutive_failures": 5,
            "no_progress": True,
            "stage2_input": None,
            "single_url": "http://a/v1",
        },
        "started_at": "2026-01-01T00:00:00+0000",
        "status": "running",
        "writer": {"pid": 7, "host": "h"},
        "resumed_from": None,
        "versions": {"python": "3.12"},
        "git_revision": None,
        "host": {"platform": "Linux", "machine": "x86_64"},
        "argv": ["hawkeye-bench", "eval"],
        "endpoints": {"single": {"model": "m", "base_url": "http://a/v1"}},
        "preset": {"name": "default"},
        "dataset": {"source": "mirror", "files": []},
    }
    manifest = Manifest.from_json(old)
    assert manifest.config.concurrency == 1 and manifest.config.max_tokens == 64
    assert manifest.config.margin_pp == 2.0 and manifest.config.task == "gsm8k"
    assert manifest.writer == Writer(pid=7, host="h")
    assert manifest.models() == {"single": "m"} and manifest.preset_name == "default"
    assert manifest.environment is not None and manifest.environment.platform == "Linux"
    again = manifest.to_json()
    for key in ("kind", "identity", "started_at", "status", "writer", "resumed_from", "versions",
                "git_revision", "host", "argv", "endpoints", "preset", "dataset"):  # fmt: skip
        assert again[key] == old[key], key
    assert again["config"]["concurrency"] == 1


def test_an_imported_runs_manifest_loads() -> None:
    manifest = Manifest.from_json(
        {"kind": "hawkeye-bench-run", "identity": {"source": "import"}, "import": {"match": "id"}}
    )
    assert manifest.import_ == {"match": "id"} and manifest.environment is None
    assert manifest.config == RecordedPlan()
