"""The hawkeye lm-eval model against a baseline run: the paired comparison in its output."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_lm_eval_unit import gsm8k_docs, instance

from hawkeye_bench.core.record import Record
from hawkeye_bench.endpoints.settings import ConfigError
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.lmeval import HawkeyeLM
from hawkeye_bench.testing.scripted_server import ReplyRule, ScriptedConfig, ScriptedServer


def test_model_info_pairs_the_run_with_its_baseline_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = ScriptedConfig(rules=[ReplyRule(match="", content="So \\boxed{18}.")])
    docs = gsm8k_docs(3)
    with ScriptedServer(config) as url:
        base_traces = tmp_path / "baseline.jsonl"
        base_lm = HawkeyeLM(pipeline="baseline", url=url, model="m", traces=str(base_traces))
        base_answers = base_lm.generate_until([instance(d, i) for i, d in enumerate(docs)])
        assert "accuracy_vs_baseline" not in base_lm.get_model_info()["hawkeye"]
        # an eval run folder as the baseline: every problem right there
        folder = tmp_path / "base-run"
        store = RunStore(folder)
        for answer in base_answers:
            record = Record.from_dict(answer.record.to_dict())
            record.correct = True
            store.append(record)
        store.close()
        lms = {
            "traces": HawkeyeLM(
                url=url,
                model="m",
                baseline_run=str(base_traces),
                margin=2,
                traces=str(tmp_path / "paired-traces.jsonl"),
            ),
            "folder": HawkeyeLM(
                url=url,
                model="m",
                baseline_run=str(folder),
                margin="2",
                traces=str(tmp_path / "paired-folder.jsonl"),
            ),
        }
        answers = {k: lm.generate_until([instance(d, i) for i, d in enumerate(docs)])
                   for k, lm in lms.items()}  # fmt: skip
    right = sum(bool(a.record.correct) for a in answers["traces"])
    assert right == sum(bool(a.record.correct) for a in base_answers)  # same answer: 18
    same = lms["traces"].get_model_info()["hawkeye"]
    assert same["baseline_run"] == str(base_traces)
    paired = same["accuracy_vs_baseline"]["gsm8k"]
    assert paired["n_problems"] == 3 and paired["difference_pp"] == 0.0
    assert paired["ci95_pp"][0] < 0 < paired["ci95_pp"][1]  # 3 problems show little
    assert paired["verdict"] == "not shown"
    lower = lms["folder"].get_model_info()["hawkeye"]["accuracy_vs_baseline"]["gsm8k"]
    assert lower["baseline_accuracy"] == 1.0
    assert lower["difference_pp"] == pytest.approx((right / 3 - 1) * 100)
    assert lower["margin_pp"] == 2.0
    assert "hawkeye gsm8k: +0.0 pp" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"margin": 2}, "add baseline_run"),
        ({"margin": -1, "baseline_run": "x"}, "must be a finite number >= 0"),
        ({"margin": "two", "baseline_run": "x"}, "expected a number"),
        ({"baseline_run": "/nonexistent/run"}, "no such run folder or traces file"),
    ],
)
def test_bad_baseline_arguments_are_one_line_errors(args: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        HawkeyeLM(url="http://127.0.0.1:9/v1", model="m", **args)


def test_a_file_that_is_not_records_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"not": "a record"}\n')
    with pytest.raises(ConfigError, match="not an eval run or a traces file"):
        HawkeyeLM(url="http://127.0.0.1:9/v1", model="m", baseline_run=str(bad))
