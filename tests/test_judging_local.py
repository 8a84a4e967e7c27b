"""The embedded SmolLM2 server as a real judge with a JSON schema (small: two answers)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from judging_fakes import write_run

from hawkeye_bench.judging.results import read_results
from hawkeye_bench.judging.session import JudgeSettings, run_judge
from hawkeye_bench.serve.embedded import LocalModelServer

REPO_JUDGES = Path(__file__).resolve().parent.parent / "judges"


@pytest.mark.local_model
def test_local_model_judges_with_json_schema(
    local_server: LocalModelServer, tmp_path: Path
) -> None:
    write_run(tmp_path / "base", {"q1": "2 + 3 = 5. The answer is 5.", "q2": "The answer is 7."})
    settings = JudgeSettings(
        runs=[tmp_path / "base"],
        out=tmp_path / "out",
        panel="local",
        criteria=["clarity"],
        judges_dir=REPO_JUDGES,
        bootstrap_resamples=200,
    )
    out, err = io.StringIO(), io.StringIO()
    assert run_judge(settings, local_endpoint=local_server.endpoint, out=out, err=err) == 0
    results = list(read_results(tmp_path / "out" / "judgements.jsonl").values())
    assert len(results) == 2
    # The schema constrains the reply, so the real model's JSON must parse into a score at
    # least once: a reply parser that rejects everything must not pass as typed failures.
    assert any(r.ok for r in results), [(r.status, r.raw_text) for r in results]
    for result in results:
        if result.ok:
            assert result.scores is not None and 1 <= result.scores["clarity"] <= 10
            assert isinstance(result.explanations["clarity"], str)
        else:  # a typed failure keeps what the model said and has no score
            assert result.status in ("parse_error", "truncated", "refusal", "api_error")
            assert result.scores is None and (result.raw_text or result.error)
    summary = json.loads((tmp_path / "out" / "judge_summary.json").read_text())
    request = summary["example_requests"]["smollm2-135m"]
    assert request["params"]["response_format"]["type"] == "json_object"
    assert "clarity" in request["params"]["response_format"]["schema"]["properties"]
    assert summary["judges"][0]["results"] == 2
    # A rerun sends nothing: ok results are reused, failures (if any) are asked again.
    failures = sum(not r.ok for r in results)
    rerun_out = io.StringIO()
    assert run_judge(settings, local_endpoint=local_server.endpoint, out=rerun_out, err=err) == 0
    assert f"calls sent {failures}," in rerun_out.getvalue()
