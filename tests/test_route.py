"""The route pipeline (token-level routing) against two scripted servers with deterministic
per-token logprobs: one word = one token, and the reply words at the rule's ``uncertain``
positions have probability 0.4 (the rest 0.9), so every routing position, share and count below
is stated by hand."""

from __future__ import annotations

import asyncio
import csv
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import read_json, read_jsonl, run_cli

from hawkeye_bench.core.trace import StageResult, TokenLogprob
from hawkeye_bench.pipelines.route import RoutePipeline
from hawkeye_bench.presets import load_preset
from hawkeye_bench.routing import get_router
from hawkeye_bench.testing.scripted_server import (
    Fault,
    ReplyRule,
    ScriptedConfig,
    ScriptedServer,
)

QUESTION_0_GOLD = "18"  # gsm8k/0 (Janet's ducks)
SMALL_REPLY = "Janet has 9 eggs so she makes \\boxed{16}"  # 8 words; unsure at 2 and 7
LARGE_REPLY = "Janet has 9 eggs so she makes \\boxed{18}"
ANSWER = r"\nAnswer:"


def _config(model: str, content: str, uncertain: list[int], **extra: Any) -> ScriptedConfig:
    rule = ReplyRule(match=ANSWER, content=content, continues=True, uncertain=uncertain)
    return ScriptedConfig(model=model, rules=[rule], **extra)


@pytest.fixture
def servers() -> Iterator[tuple[ScriptedServer, ScriptedServer]]:
    small = ScriptedServer(_config("small", SMALL_REPLY, [2, 7]))
    large = ScriptedServer(_config("large", LARGE_REPLY, []))
    small.start()
    large.start()
    yield small, large
    small.stop()
    large.stop()


def _route(
    small: ScriptedServer, large: ScriptedServer, out: Path, *extra: str, limit: int = 1
) -> Any:
    args = ["eval", "--task", "gsm8k", "--pipeline", "route", "--limit", str(limit)]
    args += ["--out", str(out), "--no-progress", "--small-url", small.base_url]
    args += ["--small-model", "small", "--large-url", large.base_url, "--large-model", "large"]
    return run_cli(*args, *extra)


def _record(out: Path) -> dict[str, Any]:
    (record,) = read_jsonl(out / "records.jsonl")
    return record


def _prompt_words(index: int = 0) -> int:
    """Words of the rendered prompt of gsm8k/<index> (the scripted server's prompt tokens)."""
    row = read_jsonl(Path(__import__("os").environ["HAWKEYE_DATA_DIR"]) / "gsm8k/test.jsonl")
    return len(load_preset("route").stage("small").render(row[index]["question"], "").split())


def test_routes_at_the_first_unsure_token_of_each_chunk(
    servers: tuple[ScriptedServer, ScriptedServer], tmp_path: Path
) -> None:
    small, large = servers
    result = _route(small, large, tmp_path / "run", "--chunk-tokens", "4", "--threshold", "0.5")
    assert result.returncode == 0, result.stderr
    record = _record(tmp_path / "run")
    stages = [(s["role"], s["content"], s["completion_tokens"]) for s in record["trace"]["stages"]]
    # chunk 1 (words 0-3) is unsure at 2: keep 2, the large model writes word 2; chunk 2 (3-6)
    # is sure; chunk 3 (word 7) is unsure at once: keep none, the large model ends the answer
    assert stages == [
        ("small", "Janet has", 2),
        ("large", " 9", 1),
        ("small", " eggs so she makes", 4),
        ("small", "", 0),
        ("large", " \\boxed{18}", 1),
    ]
    assert record["trace"]["final_text"] == LARGE_REPLY and record["correct"] is True
    info = record["trace"]["extra"]["route"]
    assert [e["position"] for e in info["events"]] == [2, 7]
    assert [e["small_token"] for e in info["events"]] == [" 9", " \\boxed{16}"]
    assert info["events"][0]["score"] == pytest.approx(0.4)
    assert (info["small_tokens"], info["large_tokens"], info["tokens"]) == (6, 2, 8)
    assert info["routed_share"] == 2 / 8
    assert info["route_events"] == 2 and info["discarded_small_tokens"] == 3
    assert (info["small_calls"], info["large_calls"]) == (3, 2)
    assert info["calls_per_100_tokens"] == pytest.approx(100 * 5 / 8)
    prompt = _prompt_words()
    # the prefixes sent hold 2 and 7 answer words; the first joins "Answer:" into one word
    assert info["uploaded_context_tokens"] == (prompt + 2 - 1) + (prompt + 7 - 1)
    assert info["cached_prompt_tokens"] is None  # the scripted server reports no cache
    assert info["activated_params_per_token"] is None and info["delay_s"] == 0.0
    # every small call asked for logprobs; the large ones for at most the span
    bodies = [r["body"] for r in small.requests]
    assert [b["logprobs"] for b in bodies] == [5, 5, 5]
    assert [b["max_tokens"] for b in bodies] == [4, 4, 4]
    assert [r["body"]["max_tokens"] for r in large.requests] == [1, 1]
    summary = read_json(tmp_path / "run" / "summary.json")["route"]
    assert summary["pooled_routed_share"] == 0.25 and summary["routed_share"]["mean"] == 0.25


def test_a_larger_chunk_routes_at_the_same_tokens_with_fewer_calls(
    servers: tuple[ScriptedServer, ScriptedServer], tmp_path: Path
) -> None:
    small, large = servers
    params = ["--small-params", "0.5", "--large-params", "32"]
    result = _route(small, large, tmp_path / "run", "--chunk-tokens", "8", *params)
    assert result.returncode == 0, result.stderr
    info = _record(tmp_path / "run")["trace"]["extra"]["route"]
    assert [e["position"] for e in info["events"]] == [2, 7]
    assert (info["small_calls"], info["large_calls"]) == (2, 2)
    assert info["discarded_small_tokens"] == 6 + 1  # words 2-7, then word 7 again
    assert info["routed_share"] == 0.25
    assert info["activated_params_per_token"] == pytest.approx((6 * 0.5 + 2 * 32) / 8)


def test_a_low_threshold_routes_nothing_and_the_rtt_delays_each_large_call(
    servers: tuple[ScriptedServer, ScriptedServer], tmp_path: Path
) -> None:
    small, large = servers
    result = _route(small, large, tmp_path / "a", "--threshold", "0.3")
    assert result.returncode == 0, result.stderr
    record = _record(tmp_path / "a")
    info = record["trace"]["extra"]["route"]
    assert (info["routed_share"], info["route_events"], info["large_calls"]) == (0.0, 0, 0)
    assert record["trace"]["final_text"] == SMALL_REPLY and record["correct"] is False
    assert large.stats()["requests"] == 0
    delayed = _route(small, large, tmp_path / "b", "--rtt-ms", "40", "--chunk-tokens", "8")
    assert delayed.returncode == 0, delayed.stderr
    info = _record(tmp_path / "b")["trace"]["extra"]["route"]
    assert info["large_calls"] == 2 and info["delay_s"] >= 2 * 0.04  # 40 ms per large call
    assert info["delay_s"] < 4  # milliseconds, not seconds
    assert info["end_to_end_s"] >= info["small_s"] + info["large_s"] + info["delay_s"]


def test_anchors_answer_from_one_model_on_the_same_prompt(
    servers: tuple[ScriptedServer, ScriptedServer], tmp_path: Path
) -> None:
    small, large = servers
    for anchor, text, share in (("small", SMALL_REPLY, 0.0), ("large", LARGE_REPLY, 1.0)):
        result = _route(small, large, tmp_path / anchor, "--anchor", anchor)
        assert result.returncode == 0, result.stderr
        record = _record(tmp_path / anchor)
        assert [s["role"] for s in record["trace"]["stages"]] == [anchor]
        assert record["trace"]["final_text"] == text
        assert record["trace"]["extra"]["route"]["routed_share"] == share
    prompts = {r["body"]["prompt"] for r in [*small.requests, *large.requests]}
    assert len(prompts) == 1  # the same prompt text for both anchors


@pytest.mark.parametrize(("server", "error_type"), [("small", "http_400"), ("large", "http_400")])
def test_a_fault_mid_item_is_a_typed_error_never_a_shorter_answer(
    server: str, error_type: str, tmp_path: Path
) -> None:
    # the fault hits the first request whose prompt already holds "Janet has 9 eggs": the third
    # small call, or the second large call
    fault = Fault(kind="status", status=400, match=r"Answer:Janet has 9 eggs")
    small = ScriptedServer(
        _config("small", SMALL_REPLY, [2, 7], faults=[fault] * (server == "small"))
    )
    large = ScriptedServer(_config("large", LARGE_REPLY, [], faults=[fault] * (server == "large")))
    with small, large:
        result = _route(small, large, tmp_path / "run", "--chunk-tokens", "4")
    assert result.returncode == 1  # every item failed: over --max-error-rate
    record = _record(tmp_path / "run")
    failed = record["trace"]["stages"][-1]
    assert failed["role"] == server and failed["error_type"] == error_type
    assert record["error"] and record["correct"] is None
    assert record["trace"]["final_text"] == ""  # the partial text is never graded
    assert record["trace"]["extra"]["route"]["partial_text"].startswith("Janet has 9")


def test_token_id_prompts_need_one_tokenizer(tmp_path: Path) -> None:
    small = ScriptedServer(_config("small", SMALL_REPLY, [2, 7]))
    other = ScriptedServer(_config("large", LARGE_REPLY, [], tokenize_special_tokens=1))
    with small, other:
        refused = _route(small, other, tmp_path / "a", "--prompt-ids")
    assert refused.returncode == 2
    assert "do not share" not in refused.stderr or "tokenize the probe text" in refused.stderr
    assert "token-id prompts need one tokenizer" in refused.stderr
    assert "use text prompts" in refused.stderr
    same = ScriptedServer(_config("large", LARGE_REPLY, []))
    small = ScriptedServer(_config("small", SMALL_REPLY, [2, 7]))
    with small, same:
        result = _route(small, same, tmp_path / "b", "--prompt-ids", "--threshold", "0.95")
        prompts = [r["body"]["prompt"] for r in small.requests]
    assert result.returncode == 0, result.stderr
    assert prompts and all(
        isinstance(p, list) and all(isinstance(i, int) for i in p) for p in prompts
    )
    info = _record(tmp_path / "b")["trace"]["extra"]["route"]
    assert info["prompt_mode"] == "tokens" and info["tokenize_calls"] > 0


def test_bad_route_options_are_refused_before_any_call(tmp_path: Path) -> None:
    cases = [
        (("--router", "nope"), "unknown router 'nope'"),
        (("--router", "top1", "--threshold", "1.5"), "takes a threshold from 0 to 1"),
        (("--threshold", "0.2,0.3"), "route-sweep runs several"),
        (("--chunk-tokens", "0"), "expected an integer >= 1"),
        (("--top-logprobs", "21"), "expected an integer from 1 to 20"),
    ]
    for index, (flags, message) in enumerate(cases):
        args = ["eval", "--task", "gsm8k", "--pipeline", "route", "--limit", "1"]
        args += ["--out", str(tmp_path / str(index)), "--no-progress", *flags]
        args += ["--endpoint", "http://127.0.0.1:9/v1", "--model", "m"]
        result = run_cli(*args)
        assert result.returncode == 2, (flags, result.stderr)
        assert message in result.stderr, (flags, result.stderr)


# -- routers on their own ---------------------------------------------------------------------


def _token(*probs: float, sampled: int = 0) -> TokenLogprob:
    top = {f"t{i}": math.log(p) for i, p in enumerate(probs)}
    return {"token": f"t{sampled}", "logprob": math.log(probs[sampled]), "top_logprobs": top}


def test_top1_and_margin_read_the_returned_alternatives() -> None:
    top1 = get_router("top1").build(0.5, __import__("random").Random(0))
    assert top1(_token(0.6, 0.3)).flagged is False
    decision = top1(_token(0.45, 0.4, 0.1))
    assert decision.flagged is True and decision.score == pytest.approx(0.45)
    # the most likely alternative counts, not the sampled token (sampling at temperature > 0)
    assert top1(_token(0.7, 0.2, sampled=1)).flagged is False
    margin = get_router("margin").build(0.2, __import__("random").Random(0))
    assert margin(_token(0.5, 0.35)).flagged is True
    assert margin(_token(0.5, 0.25)).flagged is False
    assert margin(_token(0.5, 0.35)).score == pytest.approx(0.15)
    no_logprobs: TokenLogprob = {"token": "x", "logprob": None, "top_logprobs": {}}
    assert top1(no_logprobs).flagged is False and top1(no_logprobs).score is None


def test_entropy_is_a_lower_bound_with_its_residual_mass() -> None:
    entropy = get_router("entropy").build(1.0, __import__("random").Random(0))
    sure = entropy(_token(0.9, 0.05))
    expected = -(0.9 * math.log(0.9) + 0.05 * math.log(0.05))
    assert sure.score == pytest.approx(expected) and sure.flagged is False
    assert sure.residual == pytest.approx(0.05)
    flat = entropy(_token(0.25, 0.25, 0.25, 0.25))
    assert flat.score == pytest.approx(math.log(4)) and flat.flagged is True
    assert flat.residual == pytest.approx(0.0, abs=1e-12)


def test_random_routes_at_its_rate_seeded_per_item() -> None:
    import random

    router = get_router("random")
    draws = [router.build(0.1, random.Random(7))(_token(0.9)) for _ in range(1)]
    first = router.build(0.1, random.Random(7))
    again = router.build(0.1, random.Random(7))
    token = _token(0.99)
    one = [first(token).flagged for _ in range(2000)]
    two = [again(token).flagged for _ in range(2000)]
    assert one == two  # same seed, same decisions
    assert 0.08 < sum(one) / len(one) < 0.12
    assert draws[0].score is not None


def test_a_small_reply_without_logprobs_is_a_typed_error() -> None:
    class NoLogprobs:
        async def complete(self, prompt: Any, **kwargs: Any) -> StageResult:
            return StageResult(
                role=kwargs["role"], model="m", content="words", completion_tokens=1,
                finish_reason="length",
            )  # fmt: skip

    clients: dict[str, Any] = {"small": NoLogprobs(), "large": NoLogprobs()}
    pipeline = RoutePipeline(load_preset("route"), clients)
    trace = asyncio.run(pipeline.run("What?"))
    assert trace.stages[-1].error_type == "missing_logprobs" and not trace.ok
    assert trace.final_text == ""


def test_a_plugin_router_is_one_registered_spec(
    servers: tuple[ScriptedServer, ScriptedServer],
) -> None:
    from hawkeye_bench.endpoints.client import Endpoint, EndpointClient
    from hawkeye_bench.routing import ROUTERS, RouteDecision, RouterSpec, register_router

    def build(threshold: float, rng: Any) -> Any:
        return lambda token: RouteDecision(token["token"] == " eggs", None)

    register_router(RouterSpec("eggs", "route the word eggs", "none", 0.0, build))
    small, large = servers

    async def run() -> Any:
        async with (
            EndpointClient(Endpoint(small.base_url, "small")) as small_client,
            EndpointClient(Endpoint(large.base_url, "large")) as large_client,
        ):
            clients = {"small": small_client, "large": large_client}
            pipeline = RoutePipeline(load_preset("route"), clients, options={"router": "eggs"})
            return await pipeline.run("Janet's ducks?")

    try:
        trace = asyncio.run(run())
    finally:
        ROUTERS.pop("eggs")
    info = trace.extra["route"]
    assert [(e["position"], e["small_token"]) for e in info["events"]] == [(3, " eggs")]
    assert trace.final_text == "Janet has 9 eggs so she makes \\boxed{16}"
    assert info["routed_share"] == 1 / 8


def test_route_user_errors_exit_2() -> None:
    from hawkeye_bench.commands.pipeline_options import PipelineOptionsError
    from hawkeye_bench.core.errors import HawkeyeError
    from hawkeye_bench.pipelines.route import RouteSetupError, TokenizerMismatch
    from hawkeye_bench.routing import UnknownRouter

    for cls in (PipelineOptionsError, RouteSetupError, TokenizerMismatch, UnknownRouter):
        assert issubclass(cls, HawkeyeError) and cls.exit_code == 2


def test_a_router_plugin_reads_a_field_the_server_adds_to_the_choice() -> None:
    """The client keeps the choice's other fields of a call that asked for logprobs, and a
    router with ``reads_choice`` gets the whole reply: here a stand-in for SGLang's hidden
    states, one vector per token, and a router that flags the token whose state is large."""
    from hawkeye_bench.endpoints.client import Endpoint, EndpointClient
    from hawkeye_bench.routing import ROUTERS, ReplyView, RouteDecision, RouterSpec

    hidden = {"text": "", "index": 0, "hidden_states": [[0.1], [0.2], [0.9]]}
    fault = Fault(kind="chunk", payload=__import__("json").dumps({"choices": [hidden]}))
    config = _config("small", SMALL_REPLY, [], faults=[fault])

    def build(threshold: float, rng: Any) -> Any:
        def decide(token: TokenLogprob, reply: ReplyView) -> RouteDecision:
            (states,) = reply.choice["hidden_states"]  # one streamed chunk carried them
            score = states[reply.index][0] if reply.index < len(states) else 0.0
            return RouteDecision(score > threshold, score)

        return decide

    register = RouterSpec("hidden", "an MLP stand-in", "state", 0.5, build, reads_choice=True)
    ROUTERS["hidden"] = register
    small = ScriptedServer(config)
    large = ScriptedServer(_config("large", LARGE_REPLY, []))

    async def run() -> Any:
        async with (
            EndpointClient(Endpoint(small.base_url, "small")) as small_client,
            EndpointClient(Endpoint(large.base_url, "large")) as large_client,
        ):
            clients = {"small": small_client, "large": large_client}
            first = await small_client.complete(
                "x" + ANSWER, role="small", max_tokens=8, extra={"logprobs": 2}
            )
            pipeline = RoutePipeline(load_preset("route"), clients, options={"router": "hidden"})
            return first, await pipeline.run("Janet's ducks?")

    with small, large:
        try:
            first, trace = asyncio.run(run())
        finally:
            ROUTERS.pop("hidden")
    assert first.choice_fields == {"hidden_states": [[[0.1], [0.2], [0.9]]]}
    info = trace.extra["route"]
    event = info["events"][0]
    assert (event["position"], event["small_token"], event["score"]) == (2, " 9", 0.9)
    assert all(s.choice_fields is None for s in trace.stages)  # records stay small


def test_chunked_calls_that_end_by_design_are_not_truncation() -> None:
    """Every chunk and span stops at its limit (``length``) by design: the summary's trunc
    counts only an item's last call cut at its limit (the answer's budget spent)."""
    from hawkeye_bench.core.problem import Problem
    from hawkeye_bench.core.record import Record
    from hawkeye_bench.core.trace import Trace
    from hawkeye_bench.eval.summary import summarize

    def call(role: str, finish: str) -> StageResult:
        return StageResult(role=role, model="m", content="w", completion_tokens=1,
                           finish_reason=finish)  # fmt: skip

    def record(i: int, last: str) -> Record:
        stages = [call("small", "length"), call("large", "length"), call("small", last)]
        problem = Problem(id=f"p{i}", dataset="d", question="q", gold="1")
        return Record(problem, 0, Trace("route", stages, final_text="w"), correct=True)

    stages = summarize([record(0, "stop"), record(1, "length")]).to_json()["stages"]
    assert stages["small"]["truncated_share"] == 1 / 4  # item 1's last call only
    assert stages["large"]["truncated_share"] == 0


def test_an_empty_first_chunk_is_flagged_not_graded() -> None:
    class Empty:
        async def complete(self, prompt: Any, **kwargs: Any) -> StageResult:
            return StageResult(role=kwargs["role"], model="m", content="", completion_tokens=0,
                               finish_reason="stop", token_logprobs=[])  # fmt: skip

    clients: dict[str, Any] = {"small": Empty(), "large": Empty()}
    trace = asyncio.run(RoutePipeline(load_preset("route"), clients).run("What?"))
    assert not trace.ok and trace.stages[-1].error_type == "empty_first_chunk"
    assert trace.final_text == ""


def test_target_share_finds_the_threshold_before_the_run_and_records_the_search(
    servers: tuple[ScriptedServer, ScriptedServer], tmp_path: Path
) -> None:
    """The small reply has 2 unsure words (p 0.4) of 8 (the rest p 0.9): top1 flags a share
    0.25 for any threshold in (0.4, 0.9]; --target-share 0.25 must land there, and the run
    routes with it."""
    small, large = servers
    out = tmp_path / "run"
    result = _route(small, large, out, "--target-share", "0.25", "--calibration-problems", "2")
    assert result.returncode == 0, result.stderr
    manifest = read_json(out / "manifest.json")
    setup = manifest["pipeline_setup"]
    assert setup["target_share"] == 0.25 and setup["flagged_share"] == 0.25
    assert 0.4 < setup["threshold"] <= 0.9
    assert setup["problems"] == 1 and setup["tokens"] == 8  # --limit 1: one question
    assert len(setup["steps"]) > 2
    assert manifest["identity"]["pipeline_options"]["target_share"] == 0.25
    info = _record(out)["trace"]["extra"]["route"]
    assert info["threshold"] == setup["threshold"]
    assert [e["position"] for e in info["events"]] == [2, 7]


def test_a_target_share_with_a_threshold_is_refused(
    servers: tuple[ScriptedServer, ScriptedServer], tmp_path: Path
) -> None:
    small, large = servers
    result = _route(small, large, tmp_path / "r", "--target-share", "0.1", "--threshold", "0.5")
    assert result.returncode == 2 and "not both" in result.stderr
    assert _route(small, large, tmp_path / "r2", "--target-share", "1").returncode == 2
    two = _route(small, large, tmp_path / "r3", "--target-share", "0.1,0.2")
    assert two.returncode == 2 and "route-sweep runs several" in two.stderr


def test_route_sweep_runs_target_shares(
    servers: tuple[ScriptedServer, ScriptedServer], tmp_path: Path
) -> None:
    """route-sweep --target-share: one run per router and share, each calibrated before it
    runs; the table shows the threshold each found."""
    small, large = servers
    out = tmp_path / "sweep"
    args = ["route-sweep", "--task", "gsm8k", "--limit", "1", "--out", str(out), "--no-progress"]
    args += ["--small-url", small.base_url, "--small-model", "small"]
    args += ["--large-url", large.base_url, "--large-model", "large", "--target-share", "0.25"]
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in (out / "runs").iterdir()} == {
        "anchor-small",
        "anchor-large",
        "top1-s0.25",
    }
    with (out / "route_table.csv").open() as handle:
        rows = {r["run"]: r for r in csv.DictReader(handle)}
    assert 0.4 < float(rows["top1-s0.25"]["threshold"]) <= 0.9
    setup = read_json(out / "runs" / "top1-s0.25" / "manifest.json")["pipeline_setup"]
    assert setup["flagged_share"] == 0.25
