"""The judge engine and the `judge` session with a fake backend at the client boundary."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import pytest
from judging_fakes import FakeBackend, answer_of, fake_judge, scores_reply, write_panel, write_run

from hawkeye_bench.judging.client import ChatReply, JudgeAPIError, Usage
from hawkeye_bench.judging.config import JudgeSpec
from hawkeye_bench.judging.ledger import estimate_prompt_tokens
from hawkeye_bench.judging.options import JudgeOptions
from hawkeye_bench.judging.plan import rejudge_keys
from hawkeye_bench.judging.results import read_results
from hawkeye_bench.judging.session import (
    EXIT_STOPPED,
    JudgeSettings,
    JudgeSetupError,
    run_judge,
)

REPO_JUDGES = Path(__file__).resolve().parent.parent / "judges"
CRITERIA = ("clarity", "conciseness")
BASE = {f"q{i}": "long answer " * (10 + i) + f"so the result is {i}." for i in range(6)}
HAWK = {f"q{i}": f"short answer {i}." for i in range(6)}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    shutil.copytree(REPO_JUDGES / "rubrics", tmp_path / "judges" / "rubrics")
    write_run(tmp_path / "baseline", BASE, errors=("q5",))
    write_run(tmp_path / "hawkeye", HAWK)
    return tmp_path


def by_length(messages: list[dict[str, str]], params: dict) -> ChatReply:
    """A judge that prefers short answers: conciseness 9 if short else 4; clarity 7."""
    short = len(answer_of(messages)) < 40
    return scores_reply({"clarity": 7, "conciseness": 9 if short else 4})


def settings(ws: Path, panel: str = "fake", **kwargs: object) -> JudgeSettings:
    return JudgeSettings(
        runs=[ws / "baseline", ws / "hawkeye"],
        out=ws / "out",
        panel=panel,
        criteria=kwargs.pop("criteria", CRITERIA),  # type: ignore[arg-type]
        judges_dir=ws / "judges",
        bootstrap_resamples=500,
        **kwargs,  # type: ignore[arg-type]
    )


def run(ws: Path, backends: dict[str, FakeBackend], **kwargs: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_judge(
        settings(ws, **kwargs),  # type: ignore[arg-type]
        backend_factory=lambda spec: backends[spec.name],
        out=out,
        err=err,
    )
    return code, out.getvalue(), err.getvalue()


def test_full_run_writes_typed_results_summary_and_table(workspace: Path) -> None:
    write_panel(workspace / "judges", "fake", [fake_judge("j1"), fake_judge("j2")])
    backends = {"j1": FakeBackend(by_length), "j2": FakeBackend(by_length)}
    code, out, err = run(workspace, backends)
    assert code == 0, err
    # 5 baseline answers (q5 failed in the run) + 6 hawkeye answers, per judge, one call each
    assert [len(b.calls) for b in backends.values()] == [11, 11]
    assert all(b.closed for b in backends.values())
    assert "1 of 6 records failed" in err
    lines = (workspace / "out" / "judgements.jsonl").read_text().splitlines()
    results = [json.loads(line) for line in lines]
    assert len(results) == 22 and {r["status"] for r in results} == {"ok"}
    assert all(set(r["scores"]) == set(CRITERIA) for r in results)
    # every request asked for all criteria at once, with the strict schema and temperature 0
    _, params = backends["j1"].calls[0]
    assert params["temperature"] == 0.0
    assert set(params["response_format"]["json_schema"]["schema"]["properties"]) == set(CRITERIA)
    summary = json.loads((workspace / "out" / "judge_summary.json").read_text())
    rows = {(r["judge"], r["criterion"]): r for r in summary["comparisons"]}
    concise = rows[("panel", "conciseness")]
    assert concise["n_questions"] == 5  # paired on the questions both runs answered
    assert concise["mean_baseline"] == 4.0 and concise["mean_candidate"] == 9.0
    assert concise["difference"]["estimate"] == 5.0
    assert rows[("j1", "clarity")]["difference"]["estimate"] == 0.0
    assert summary["sign_consistent_with_panel"]["hawkeye"]["conciseness"] is True
    assert summary["runs"][0]["skipped_errors"] == 1
    assert summary["length_bias"]["j1"]["conciseness"]["spearman_score_vs_chars"] < 0
    assert summary["cost"]["spent_usd"] == pytest.approx(22 * (100 * 1.0 + 20 * 2.0) / 1e6)
    table = (workspace / "out" / "judge_table.md").read_text()
    assert "| conciseness | **panel** | baseline | hawkeye | 4.00 | 9.00 | +5.00" in table
    assert table in out


def test_rerun_costs_nothing_and_cache_serves_a_fresh_output(workspace: Path) -> None:
    write_panel(workspace / "judges", "fake", [fake_judge("j1")])
    first = FakeBackend(by_length)
    assert run(workspace, {"j1": first})[0] == 0
    again = FakeBackend(by_length)
    code, out, _ = run(workspace, {"j1": again})
    assert code == 0 and again.calls == [] and "reused 11" in out
    (workspace / "out" / "judgements.jsonl").unlink()  # lose the results, keep the cache
    cached = FakeBackend(by_length)
    code, out, _ = run(workspace, {"j1": cached})
    assert cached.calls == [] and "cache hits 11" in out
    results = read_results(workspace / "out" / "judgements.jsonl").values()
    assert all(r.cached and r.ok and r.cost_usd == 0.0 for r in results)


def test_failures_are_typed_kept_raw_excluded_and_never_cached(workspace: Path) -> None:
    write_panel(workspace / "judges", "fake", [fake_judge("j1")])

    def flaky(messages: list[dict[str, str]], params: dict) -> ChatReply | Exception:
        answer = answer_of(messages)
        if answer == HAWK["q0"]:
            return ChatReply(text="Clarity: 8/10. Conciseness: great!", finish_reason="stop")
        if answer == HAWK["q1"]:
            return ChatReply(text='{"clarity": {"expl', finish_reason="length")
        if answer == HAWK["q2"]:
            return ChatReply(text=None, refusal="I can't assist with that.")
        if answer == HAWK["q3"]:
            return JudgeAPIError("rate_limit", "Too many requests", status=429)
        return by_length(messages, params)

    code, _, _ = run(workspace, {"j1": FakeBackend(flaky)})
    assert code == 0
    results = {
        (r.run, r.id): r for r in read_results(workspace / "out" / "judgements.jsonl").values()
    }
    expected = {"q0": "parse_error", "q1": "truncated", "q2": "refusal", "q3": "api_error"}
    for qid, status in expected.items():
        result = results[("hawkeye", qid)]
        assert result.status == status and result.scores is None
    assert results[("hawkeye", "q0")].raw_text == "Clarity: 8/10. Conciseness: great!"
    assert results[("hawkeye", "q3")].error_kind == "rate_limit"
    summary = json.loads((workspace / "out" / "judge_summary.json").read_text())
    (judge,) = summary["judges"]
    assert judge["ok"] == 7 and judge["failures"] == {
        "parse_error": 1,
        "refusal": 1,
        "truncated": 1,
        "api_error": 1,
    }
    panel = next(
        r for r in summary["comparisons"] if r["judge"] == "panel" and r["criterion"] == "clarity"
    )
    assert panel["n_questions"] == 1  # only q4 has ok scores in both runs: failures excluded
    # A rerun asks again for exactly the four failures: they were not cached.
    retry = FakeBackend(by_length)
    assert run(workspace, {"j1": retry})[0] == 0
    assert sorted(answer_of(m) for m, _ in retry.calls) == sorted(HAWK[q] for q in expected)
    assert all(r.ok for r in read_results(workspace / "out" / "judgements.jsonl").values())
    assert len((workspace / "out" / "judgements.jsonl").read_text().splitlines()) == 11


def test_quota_error_stops_the_run_and_a_rerun_resumes(workspace: Path) -> None:
    write_panel(workspace / "judges", "fake", [fake_judge("j1", limits={"concurrency": 1})])
    calls = 0

    def quota_after_three(messages: list[dict[str, str]], params: dict) -> ChatReply | Exception:
        nonlocal calls
        calls += 1
        if calls > 3:
            return JudgeAPIError(
                "quota", "You exceeded your current quota", 429, "insufficient_quota"
            )
        return by_length(messages, params)

    backend = FakeBackend(quota_after_three)
    code, out, err = run(workspace, {"j1": backend})
    assert code == EXIT_STOPPED
    assert len(backend.calls) == 4  # three answers, then the quota error: nothing more sent
    assert "out of quota" in err and "insufficient_quota" in err and "7 calls not sent" in err
    summary = json.loads((workspace / "out" / "judge_summary.json").read_text())
    assert "out of quota" in summary["stopped"]
    resumed = FakeBackend(by_length)
    code, out, _ = run(workspace, {"j1": resumed})
    assert code == 0 and len(resumed.calls) == 11 - 3 and "reused 3" in out


def test_budget_stops_before_it_is_exceeded(workspace: Path) -> None:
    judge = fake_judge(
        "j1", limits={"concurrency": 2}, max_tokens=100, prices={"input": 1000.0, "output": 1000.0}
    )
    write_panel(workspace / "judges", "fake", [judge])
    backend = FakeBackend(by_length)
    code, _, err = run(workspace, {"j1": backend}, budget_usd=1.0)
    assert code == EXIT_STOPPED and "budget $1.0000 reached" in err
    summary = json.loads((workspace / "out" / "judge_summary.json").read_text())
    assert 0 < summary["cost"]["spent_usd"] <= 1.0
    # each call really costs (100 + 20) * 1000 / 1e6 = $0.12; its worst case is reserved first
    assert summary["cost"]["spent_usd"] == pytest.approx(len(backend.calls) * 0.12)
    assert len(backend.calls) < 11


def test_dry_run_estimates_without_calling_or_needing_keys(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKE_JUDGE_KEY", raising=False)
    write_panel(workspace / "judges", "fake", [fake_judge("j1", api_key_env="FAKE_JUDGE_KEY")])
    backend = FakeBackend(by_length)
    code, out, _ = run(workspace, {"j1": backend}, dry_run=True)
    assert code == 0 and backend.calls == []
    assert not (workspace / "out" / "judgements.jsonl").exists()
    # the estimate is the sum over the 11 prompts that would be sent
    from hawkeye_bench.judging.answers import load_runs
    from hawkeye_bench.judging.config import load_criteria
    from hawkeye_bench.judging.plan import build_jobs

    spec = JudgeSpec.model_validate(fake_judge("j1"))
    runs = load_runs([workspace / "baseline", workspace / "hawkeye"])
    jobs = build_jobs(runs, [spec], load_criteria(workspace / "judges", CRITERIA), JudgeOptions())
    prompt = sum(estimate_prompt_tokens(j.messages) for j in jobs)
    low, high = prompt * 1.0 / 1e6, (prompt * 1.0 + 11 * 100 * 2.0) / 1e6
    assert f"j1: 11 calls (0 already done or cached, free), ~{prompt} prompt tokens" in out
    assert f"cost ${low:.4f} to ${high:.4f}" in out
    assert "a real run needs FAKE_JUDGE_KEY" in out


def test_missing_key_is_a_clear_error_before_anything_is_sent(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKE_JUDGE_KEY", raising=False)
    write_panel(workspace / "judges", "fake", [fake_judge("j1", api_key_env="FAKE_JUDGE_KEY")])
    backend = FakeBackend(by_length)
    with pytest.raises(JudgeSetupError, match="FAKE_JUDGE_KEY"):
        run(workspace, {"j1": backend})
    assert backend.calls == [] and not (workspace / "out").exists()


def test_no_panel_and_no_keys_falls_back_to_the_local_panel(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(REPO_JUDGES / "panels", workspace / "judges" / "panels")
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "XAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    code, out, err = run(workspace, {}, panel=None, dry_run=True)
    assert code == 0 and "embedded local model judges" in err and "smollm2-135m: 11 calls" in out
    monkeypatch.setenv("OPENAI_API_KEY", "x")  # some keys but not all: say which are missing
    with pytest.raises(JudgeSetupError, match="ANTHROPIC_API_KEY, XAI_API_KEY"):
        run(workspace, {}, panel=None, dry_run=True)


def test_concurrency_and_rpm_limits_per_provider(workspace: Path) -> None:
    write_panel(
        workspace / "judges",
        "fake",
        [
            fake_judge("j1", provider="shared", limits={"concurrency": 2}),
            fake_judge("j2", provider="shared", limits={"concurrency": 3}),
            fake_judge("j3", limits={"concurrency": 1, "rpm": 600}),
        ],
    )
    shared = FakeBackend(by_length, delay_s=0.02)
    limited = FakeBackend(by_length)
    backends = {"j1": shared, "j2": shared, "j3": limited}
    started = time.monotonic()
    assert run(workspace, backends)[0] == 0
    elapsed = time.monotonic() - started
    assert len(shared.calls) == 22 and shared.max_in_flight == 2  # the stricter limit wins
    assert limited.max_in_flight == 1
    assert elapsed >= 10 * 60 / 600  # 11 starts spaced 0.1 s apart


def test_rejudged_subset_gives_self_consistency(workspace: Path) -> None:
    write_panel(workspace / "judges", "fake", [fake_judge("j1")])
    backend = FakeBackend(by_length)
    options = JudgeOptions(rejudge_fraction=0.5, seed=3)
    assert run(workspace, {"j1": backend}, options=options)[0] == 0
    again = rejudge_keys([(f"q{i}", 0) for i in range(6)], 0.5, seed=3)
    assert len(again) == 3  # half of the 6 answer keys, judged again in each run that has them
    expected = 2 * len(again) - (("q5", 0) in again)  # q5 has no baseline answer
    assert len(backend.calls) == 11 + expected
    results = read_results(workspace / "out" / "judgements.jsonl").values()
    assert sum(r.repeat == 1 for r in results) == expected
    summary = json.loads((workspace / "out" / "judge_summary.json").read_text())
    consistency = summary["self_consistency"]["j1"]["conciseness"]
    assert consistency["n"] == expected and consistency["exact_agreement"] == 1.0


def test_pairwise_position_biased_judge_gives_ties_and_flips(workspace: Path) -> None:
    write_panel(workspace / "judges", "fake", [fake_judge("fair"), fake_judge("biased")])

    def verdicts(v: str) -> ChatReply:
        return ChatReply(
            text=json.dumps({c: {"explanation": "", "verdict": v} for c in CRITERIA}),
            finish_reason="stop",
            usage=Usage(10, 5),
        )

    def fair(messages: list[dict[str, str]], params: dict) -> ChatReply:
        if "## Answer A" not in messages[-1]["content"]:
            return by_length(messages, params)
        a = messages[-1]["content"].split("## Answer A\n")[1].split("\n\n## Answer B")[0]
        return verdicts("A" if a.startswith("short") else "B")

    def biased(messages: list[dict[str, str]], params: dict) -> ChatReply:
        if "## Answer A" not in messages[-1]["content"]:
            return by_length(messages, params)
        return verdicts("A")

    backends = {"fair": FakeBackend(fair), "biased": FakeBackend(biased)}
    code, out, _ = run(workspace, backends, options=JudgeOptions(pairwise=True))
    assert code == 0
    assert len(backends["fair"].calls) == 11 + 2 * 5  # both orders for the 5 shared answers
    pair = json.loads((workspace / "out" / "judge_summary.json").read_text())["pairwise"]
    fair_s = pair["hawkeye vs baseline"]["fair"]["criteria"]["clarity"]
    biased_s = pair["hawkeye vs baseline"]["biased"]["criteria"]["clarity"]
    assert (fair_s["wins"], fair_s["flips"], fair_s["win_rate_adjusted"]) == (5, 0, 1.0)
    assert (biased_s["ties"], biased_s["flip_rate"], biased_s["first_position_rate"]) == (
        5,
        1.0,
        1.0,
    )
    assert biased_s["win_rate_adjusted"] == 0.5
    assert "| hawkeye vs baseline | biased | clarity | 5 | 0 | 0 | 5 | 0.50 | 1.00 |" in out


def test_limit_keeps_answers_paired_and_agreement_is_reported(workspace: Path) -> None:
    write_panel(workspace / "judges", "fake", [fake_judge("j1"), fake_judge("j2")])
    backends = {"j1": FakeBackend(by_length), "j2": FakeBackend(by_length)}
    options = JudgeOptions(limit=3)
    assert run(workspace, backends, options=options)[0] == 0
    judged = sorted(
        (r.run, r.id) for r in read_results(workspace / "out" / "judgements.jsonl").values()
    )
    assert judged == sorted(
        [(run, f"q{i}") for run in ("baseline", "hawkeye") for i in range(3)] * 2
    )
    agreement = json.loads((workspace / "out" / "judge_summary.json").read_text())["agreement"]
    assert agreement["conciseness"]["krippendorff_alpha_ordinal"] == pytest.approx(1.0)
    assert agreement["clarity"]["krippendorff_alpha_ordinal"] is None  # every score 7: undefined


def test_a_line_torn_by_a_kill_is_ignored_and_the_next_write_starts_clean(tmp_path: Path) -> None:
    from hawkeye_bench.judging.results import JudgeResult, ResultWriter

    path = tmp_path / "judgements.jsonl"
    done = JudgeResult(
        judge="j",
        model="m",
        task="single",
        run="r",
        id="q1",
        sample=0,
        status="ok",
        scores={"clarity": 5},
    )
    path.write_text(json.dumps(done.to_dict()) + "\n" + '{"judge": "j", "mod')
    assert list(read_results(path)) == [done.key]
    writer = ResultWriter(path)
    writer.write(
        JudgeResult(
            judge="j",
            model="m",
            task="single",
            run="r",
            id="q2",
            sample=0,
            status="ok",
            scores={"clarity": 6},
        )
    )
    writer.close()
    assert sorted(k[4] for k in read_results(path)) == ["q1", "q2"]


def _stored(ws: Path) -> list[dict]:
    return [json.loads(x) for x in (ws / "out" / "judgements.jsonl").read_text().splitlines()]


def test_rerun_with_other_criteria_judges_again_and_summarises_only_those(
    workspace: Path,
) -> None:
    write_panel(workspace / "judges", "fake", [fake_judge("j1")])
    assert run(workspace, {"j1": FakeBackend(by_length)})[0] == 0
    other = ("clarity", "coherence")
    backend = FakeBackend(lambda m, p: scores_reply({"clarity": 6, "coherence": 8}))
    code, out, err = run(workspace, {"j1": backend}, criteria=other)
    assert code == 0, err
    assert len(backend.calls) == 11  # a stored rating on other criteria is not this question
    summary = json.loads((workspace / "out" / "judge_summary.json").read_text())
    assert [c["name"] for c in summary["criteria"]] == list(other)
    assert set(summary["means"]) == set(other)
    assert summary["means"]["coherence"]["panel"]["hawkeye"] == {"mean": 8.0, "n": 6}
    # judgements.jsonl matches the summary: only this plan's results, one line per answer
    stored = _stored(workspace)
    assert len(stored) == 11 and all(set(r["scores"]) == set(other) for r in stored)
    # back to the first criteria: the earlier replies come from the cache, nothing is sent
    again = FakeBackend(by_length)
    code, out, _ = run(workspace, {"j1": again})
    assert code == 0 and again.calls == [] and "cache hits 11" in out
    assert all(set(r["scores"]) == set(CRITERIA) for r in _stored(workspace))


def test_rerun_with_show_reference_asks_again_with_the_reference(workspace: Path) -> None:
    write_panel(workspace / "judges", "fake", [fake_judge("j1")])
    assert run(workspace, {"j1": FakeBackend(by_length)})[0] == 0
    backend = FakeBackend(by_length)
    options = JudgeOptions(show_reference=True)
    code, out, _ = run(workspace, {"j1": backend}, options=options)
    assert code == 0 and len(backend.calls) == 11 and "reused 0" in out
    assert all("## Reference answer\n5" in m[-1]["content"] for m, _ in backend.calls)
    summary = json.loads((workspace / "out" / "judge_summary.json").read_text())
    assert summary["options"]["show_reference"] is True
    assert summary["calls"]["sent"] == 11 and summary["calls"]["reused_from_earlier_run"] == 0


def test_changed_answers_in_a_same_named_run_folder_are_judged_again(workspace: Path) -> None:
    write_panel(workspace / "judges", "fake", [fake_judge("j1")])
    assert run(workspace, {"j1": FakeBackend(by_length)})[0] == 0
    rewritten = {**HAWK, "q0": "a much longer answer than before " * 3 + "so it is 0."}
    write_run(workspace / "hawkeye", rewritten)  # same folder name, one answer changed
    backend = FakeBackend(by_length)
    code, out, _ = run(workspace, {"j1": backend})
    assert code == 0 and "reused 10" in out
    assert [answer_of(m) for m, _ in backend.calls] == [rewritten["q0"]]
    stored = {(r["run"], r["id"]): r for r in _stored(workspace)}
    assert len(stored) == 11 and stored[("hawkeye", "q0")]["scores"]["conciseness"] == 4
    summary = json.loads((workspace / "out" / "judge_summary.json").read_text())
    row = next(
        r
        for r in summary["comparisons"]
        if r["judge"] == "panel" and r["criterion"] == "conciseness"
    )
    assert row["mean_candidate"] == (4 + 9 * 4) / 5  # the new rating of q0, not the stale 9


def test_summary_ignores_results_for_criteria_not_asked(workspace: Path) -> None:
    from hawkeye_bench.judging.answers import load_runs
    from hawkeye_bench.judging.config import load_criteria
    from hawkeye_bench.judging.results import JudgeResult
    from hawkeye_bench.judging.summary import build_summary
    from hawkeye_bench.judging.summary_file import MeanScore

    runs = load_runs([workspace / "baseline", workspace / "hawkeye"])
    criteria = load_criteria(workspace / "judges", ["clarity", "coherence"])
    spec = JudgeSpec.model_validate(fake_judge("j1"))

    def result(run: str, qid: str, scores: dict[str, int], repeat: int = 0) -> JudgeResult:
        return JudgeResult(
            judge="j1",
            model="m",
            task="single",
            run=run,
            id=qid,
            sample=0,
            status="ok",
            scores=scores,
            repeat=repeat,
        )

    results = [
        result("baseline", "q0", {"clarity": 5, "coherence": 6}),
        result("hawkeye", "q0", {"clarity": 7, "coherence": 8}),
        result("baseline", "q1", {"clarity": 5, "conciseness": 4}),  # another plan's rating
        result("hawkeye", "q1", {"clarity": 7, "conciseness": 9}),
        result("hawkeye", "q1", {"conciseness": 9}, repeat=1),
    ]
    summary = build_summary(results, runs, [spec], criteria, n_resamples=200)
    assert summary.means["coherence"]["j1"]["hawkeye"] == MeanScore(mean=8.0, n=1)
    assert summary.means["clarity"]["j1"]["hawkeye"] == MeanScore(mean=7.0, n=1)
    assert summary.to_json()["means"]["coherence"]["j1"]["hawkeye"] == {"mean": 8.0, "n": 1}


def test_a_reply_too_deep_or_too_long_fails_only_its_judgement(workspace: Path) -> None:
    write_panel(workspace / "judges", "fake", [fake_judge("j1")])

    def hostile(messages: list[dict[str, str]], params: dict) -> ChatReply:
        answer = answer_of(messages)
        if answer == HAWK["q0"]:
            return ChatReply(text="[" * 100_000 + "]" * 100_000, finish_reason="stop")
        if answer == HAWK["q1"]:
            return ChatReply(text='{"clarity": {"score": ' + "7" * 4500 + "}}")
        return by_length(messages, params)

    code, _, _ = run(workspace, {"j1": FakeBackend(hostile)})
    assert code == 0
    results = {
        (r.run, r.id): r for r in read_results(workspace / "out" / "judgements.jsonl").values()
    }
    assert len(results) == 11
    assert results[("hawkeye", "q0")].status == "parse_error"
    assert results[("hawkeye", "q1")].status == "parse_error"
    assert "4500 digits" in (results[("hawkeye", "q1")].error or "")
    assert sum(r.ok for r in results.values()) == 9


def test_every_judgement_failed_or_too_many_exits_1(workspace: Path) -> None:
    write_panel(workspace / "judges", "fake", [fake_judge("j1")])
    down = FakeBackend(lambda m, p: JudgeAPIError("server", "bad gateway", status=502))
    code, _, err = run(workspace, {"j1": down})
    assert code == 1 and "every judgement failed (11)" in err
    assert len(read_results(workspace / "out" / "judgements.jsonl")) == 11

    def half(messages: list[dict[str, str]], params: dict) -> ChatReply:
        if answer_of(messages) in HAWK.values():
            return ChatReply(text="no idea")
        return by_length(messages, params)

    assert run(workspace, {"j1": FakeBackend(half)})[0] == 0  # 6 of 11 failed: no threshold
    shutil.rmtree(workspace / "out")
    code, _, err = run(workspace, {"j1": FakeBackend(half)}, max_error_rate=0.5)
    assert code == 1 and "6 of 11 judgements failed (54.5%" in err


def test_relative_improvement_per_criterion_in_summary_table_and_report(
    workspace: Path,
) -> None:
    from hawkeye_bench.reporting.build import write_report

    write_panel(workspace / "judges", "fake", [fake_judge("j1")])
    code, printed, _ = run(workspace, {"j1": FakeBackend(by_length)})
    assert code == 0
    summary = json.loads((workspace / "out" / "judge_summary.json").read_text())
    rows = {(r["judge"], r["criterion"]): r for r in summary["comparisons"]}
    concise = rows[("panel", "conciseness")]
    # short answers 9, long ones 4, on the 5 questions both runs answered: 9 / 4 - 1 = 125%
    assert concise["relative_improvement"]["estimate"] == pytest.approx(1.25)
    assert rows[("panel", "clarity")]["relative_improvement"]["estimate"] == 0.0
    assert "relative [95% CI]" in printed and "+125.0% [+125.0%, +125.0%]" in printed
    report = write_report([workspace / "out"], workspace / "report")
    judges = next(s for s in report.sections if s.key == "judges")
    table = next(t for t in judges.tables if t.name == "judge_differences")
    (row,) = [r for r in table.rows if (r["judge"], r["criterion"]) == ("panel", "conciseness")]
    assert row["relative"] == pytest.approx(1.25) and row["relative_ci"] == pytest.approx(
        [1.25, 1.25]
    )
    assert "relative (%) [95% CI]" in (workspace / "report" / "report.md").read_text()
