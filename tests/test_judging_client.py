"""OpenAIChatBackend through the real openai SDK against the scripted server: keys, retries."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import openai
import pytest
from aiohttp import web
from judging_fakes import (
    LocalChatServer,
    chat_completion,
    fake_judge,
    write_panel,
    write_run,
)

from hawkeye_bench.judging.client import JudgeAPIError, OpenAIChatBackend, _classify
from hawkeye_bench.judging.config import JudgeSpec
from hawkeye_bench.judging.session import JudgeSettings, run_judge
from hawkeye_bench.testing.scripted_server import Fault, ReplyRule, ScriptedConfig, ScriptedServer

REPO_JUDGES = Path(__file__).resolve().parent.parent / "judges"
SECRET = "sk-test-SECRETKEY0123456789"
REPLY = json.dumps({"clarity": {"explanation": "easy to follow", "score": 7}})


def spec(base_url: str, **overrides: object) -> JudgeSpec:
    return JudgeSpec.model_validate(
        fake_judge(
            "scripted",
            base_url=base_url,
            api_key_env="HAWKEYE_TEST_JUDGE_KEY",
            timeout_s=10,
            **overrides,
        )
    )


def test_judge_run_over_http_uses_the_key_and_never_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAWKEYE_TEST_JUDGE_KEY", SECRET)
    shutil.copytree(REPO_JUDGES / "rubrics", tmp_path / "judges" / "rubrics")
    write_run(tmp_path / "base", {"q1": "The answer is 5.", "q2": "It is 7."})
    config = ScriptedConfig(rules=[ReplyRule(match="Answer to rate", content=REPLY)])
    server = ScriptedServer(config)
    with server as base_url:
        write_panel(
            tmp_path / "judges",
            "http",
            [fake_judge("scripted", base_url=base_url, api_key_env="HAWKEYE_TEST_JUDGE_KEY")],
        )
        out, err = io.StringIO(), io.StringIO()
        settings = JudgeSettings(
            runs=[tmp_path / "base"],
            out=tmp_path / "out",
            panel="http",
            criteria=["clarity"],
            judges_dir=tmp_path / "judges",
        )
        assert run_judge(settings, out=out, err=err) == 0
        seen = [r["authorization"] for r in server.requests]
    assert seen == [f"Bearer {SECRET}"] * 2  # the key went to the server, from the env var
    results = [
        json.loads(x) for x in (tmp_path / "out" / "judgements.jsonl").read_text().splitlines()
    ]
    assert [r["scores"] for r in results] == [{"clarity": 7}, {"clarity": 7}]
    assert results[0]["usage"]["prompt_tokens"] > 0 and results[0]["cost_usd"] > 0
    written = [p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(written) >= 5  # results, summary, table, two cache entries
    assert all(SECRET not in text for text in [*written, out.getvalue(), err.getvalue()])
    summary = json.loads((tmp_path / "out" / "judge_summary.json").read_text())
    assert summary["example_requests"]["scripted"]["api_key_env"] == "HAWKEYE_TEST_JUDGE_KEY"


async def test_sdk_retries_once_then_succeeds_no_extra_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HAWKEYE_TEST_JUDGE_KEY", SECRET)
    config = ScriptedConfig(
        rules=[ReplyRule(match="rate", content=REPLY)],
        faults=[Fault(kind="status", status=503, first_n=1, retry_after_s=0.01)],
    )
    server = ScriptedServer(config)
    with server as base_url:
        backend = OpenAIChatBackend(spec(base_url, max_retries=1))
        reply = await backend.complete(
            [{"role": "user", "content": "rate this"}], {"max_tokens": 50}
        )
        assert reply.text == REPLY and reply.usage is not None
        assert server.stats()["requests"] == 2  # one failure, one SDK retry
        server.reset()
        config.faults[0].first_n = 0  # now every request fails
        backend_fail = OpenAIChatBackend(spec(base_url, max_retries=2))
        with pytest.raises(JudgeAPIError) as info:
            await backend_fail.complete([{"role": "user", "content": "rate"}], {"max_tokens": 50})
        assert info.value.kind == "server" and info.value.status == 503
        assert server.stats()["requests"] == 3  # 1 + max_retries, nothing stacked on top
        await backend.aclose()
        await backend_fail.aclose()


def test_missing_key_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HAWKEYE_TEST_JUDGE_KEY", raising=False)
    from hawkeye_bench.core.secrets import MissingApiKey

    with pytest.raises(MissingApiKey, match="HAWKEYE_TEST_JUDGE_KEY"):
        OpenAIChatBackend(spec("http://127.0.0.1:9/v1"))


def _sdk_error(status: int, code: str | None = None) -> openai.APIError:
    """The error the openai SDK itself raises for a server's HTTP ``status`` reply."""
    error = {"message": "refused", "type": "error", "code": code}

    def handler(body: dict) -> web.Response:
        return web.json_response({"error": error}, status=status)

    with LocalChatServer(handler) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)
        try:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        except openai.APIError as exc:
            return exc
        finally:
            client.close()
    raise AssertionError(f"HTTP {status} raised no openai.APIError")


def test_error_classification_separates_quota_from_rate_limits() -> None:
    assert _classify(_sdk_error(429, "insufficient_quota")) == ("quota", 429)
    assert _classify(_sdk_error(429, "rate_limit_exceeded")) == ("rate_limit", 429)
    assert _classify(_sdk_error(401))[0] == "auth"
    assert _classify(_sdk_error(400))[0] == "bad_request"
    assert _classify(_sdk_error(502))[0] == "server"


def test_html_page_with_http_200_is_a_typed_failure_and_the_run_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy answering 200 text/html (here echoing the key) fails that answer only."""
    monkeypatch.setenv("HAWKEYE_TEST_JUDGE_KEY", SECRET)
    shutil.copytree(REPO_JUDGES / "rubrics", tmp_path / "judges" / "rubrics")
    answers = {f"q{i}": f"The answer is {i}." for i in range(4)}
    answers["q2"] = "The answer is 2. BEHIND-A-PROXY"
    write_run(tmp_path / "base", answers)
    page = f"<html><body><h1>Gateway login</h1><p>token {SECRET}</p></body></html>"

    def handler(body: dict) -> web.Response:
        if "BEHIND-A-PROXY" in body["messages"][-1]["content"]:
            return web.Response(text=page, content_type="text/html")
        return chat_completion(REPLY)

    with LocalChatServer(handler) as base_url:
        judge = fake_judge("html", base_url=base_url, api_key_env="HAWKEYE_TEST_JUDGE_KEY")
        write_panel(tmp_path / "judges", "html", [judge])
        out, err = io.StringIO(), io.StringIO()
        settings = JudgeSettings(
            runs=[tmp_path / "base"],
            out=tmp_path / "out",
            panel="html",
            criteria=["clarity"],
            judges_dir=tmp_path / "judges",
            bootstrap_resamples=200,
        )
        assert run_judge(settings, out=out, err=err) == 0, err.getvalue()
    lines = (tmp_path / "out" / "judgements.jsonl").read_text().splitlines()
    results = {r["id"]: r for r in map(json.loads, lines)}
    assert sorted(results) == ["q0", "q1", "q2", "q3"]
    failed = results.pop("q2")
    assert failed["status"] == "api_error" and failed["scores"] is None
    assert failed["error_kind"] == "invalid_response" and "HTTP 200" in failed["error"]
    assert "<h1>Gateway login</h1>" in failed["raw_text"]  # kept for diagnosis...
    assert SECRET not in failed["raw_text"] and "[redacted]" in failed["raw_text"]  # ...redacted
    assert all(r["status"] == "ok" and r["scores"] == {"clarity": 7} for r in results.values())
    summary = json.loads((tmp_path / "out" / "judge_summary.json").read_text())
    (row,) = summary["judges"]
    assert row["ok"] == 3 and row["failures"]["api_error"] == 1
    written = [p.read_text() for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert all(SECRET not in text for text in [*written, out.getvalue(), err.getvalue()])
