"""Replicas of one model behind one endpoint: least-busy spread, in-flight cap, failover when a
replica dies, recovery when it returns, an outage of all of them, per-replica stats in the run's
manifest and summary (eval, serve, lm-eval), and the URL lists' parsing."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from cli_helpers import CLI, eval_args, read_json, run_cli

from hawkeye_bench.commands.arguments import load_config_file
from hawkeye_bench.endpoints.client import Endpoint, EndpointUnavailable
from hawkeye_bench.endpoints.pool import ClientPool
from hawkeye_bench.endpoints.replicas import ReplicaSet, is_replica_failure
from hawkeye_bench.endpoints.settings import (
    ConfigError,
    EndpointSettings,
    parse_base_urls,
    resolve_endpoints,
)
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.testing.scripted_server import (
    Fault,
    ReplyRule,
    ScriptedConfig,
    ScriptedServer,
    start_subprocess,
)

ANSWER = ReplyRule(match="", content="so \\boxed{18}")
#: the scripted servers' model: every replica must list the model it is asked for
MODEL = "scripted-model"


def replica_endpoint(urls: list[str], **options: object) -> Endpoint:
    return Endpoint(base_url=urls[0], replica_urls=tuple(urls[1:]), model=MODEL, **options)  # type: ignore[arg-type]


async def ask(client: ReplicaSet, text: str = "q") -> object:
    return await client.chat([{"role": "user", "content": text}], role="single", max_tokens=8)


# -- routing ----------------------------------------------------------------------------------


async def test_calls_go_to_the_least_busy_replica() -> None:
    servers = [ScriptedServer(ScriptedConfig(ttft_ms=100, tokens=2)) for _ in range(3)]
    urls = [server.start() for server in servers]
    try:
        async with ReplicaSet(replica_endpoint(urls), concurrency=30) as replicas:
            await replicas.check()
            results = await asyncio.gather(*(ask(replicas) for _ in range(30)))
        assert all(r.ok for r in results)  # type: ignore[attr-defined]
        assert [s.stats()["requests"] for s in servers] == [10, 10, 10]
        stats = replicas.stats()
        assert [r["url"] for r in stats] == urls
        assert [r["calls"] for r in stats] == [10, 10, 10]
        assert all(r["latency_s"]["n"] == 10 and r["errors"] == 0 for r in stats)
        # each answer names the replica that gave it
        assert {r.endpoint for r in results} == set(urls)  # type: ignore[attr-defined]
    finally:
        for server in servers:
            server.stop()


async def test_in_flight_cap_per_replica_and_pools_sized_to_it() -> None:
    servers = [ScriptedServer(ScriptedConfig(ttft_ms=100, tokens=2)) for _ in range(2)]
    urls = [server.start() for server in servers]
    seen: list[int] = []
    try:
        endpoint = replica_endpoint(urls, max_in_flight=2)
        async with ClientPool({"single": endpoint}, concurrency=16) as pool:
            replicas = pool["single"]
            assert isinstance(replicas, ReplicaSet) and replicas.cap == 2
            limits = [r.client.session.connector.limit for r in replicas.replicas]  # type: ignore[union-attr]
            assert limits == [2, 2]  # never aiohttp's default of 100

            async def sample() -> None:
                while True:
                    seen.extend(r.in_flight for r in replicas.replicas)
                    await asyncio.sleep(0.005)

            sampler = asyncio.create_task(sample())
            started = time.perf_counter()
            results = await asyncio.gather(*(ask(replicas) for _ in range(12)))
            wall = time.perf_counter() - started
            sampler.cancel()
        assert all(r.ok for r in results)  # type: ignore[attr-defined]
        assert max(seen) == 2
        assert wall >= 0.3  # 12 calls, 4 at a time, 100 ms each
        assert sum(s.stats()["requests"] for s in servers) == 12
    finally:
        for server in servers:
            server.stop()
    # without a cap, a replica's pool is the concurrency's size, or unbounded for serve
    unbounded = ClientPool({"single": replica_endpoint(urls)}, concurrency=None)["single"]
    assert isinstance(unbounded, ReplicaSet) and unbounded.cap is None
    assert ReplicaSet(replica_endpoint(urls), concurrency=64).cap == 64


def test_which_failures_take_a_replica_out() -> None:
    server_side = ("connection", "timeout", "stream_cut", "http_500", "http_503", "http_429")
    # a 404 ("model does not exist") and a 200 that is no completion are the replica's fault too
    server_side += ("http_404", "malformed_response", "malformed_sse", "malformed_logprobs")
    for error_type in server_side:
        assert is_replica_failure(error_type), error_type
    for error_type in (None, "http_400", "http_401", "exception", "missing_logprobs"):
        assert not is_replica_failure(error_type), error_type


async def test_cool_down_doubles_per_failure_episode_up_to_its_cap() -> None:
    endpoint = replica_endpoint(["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"])
    replicas = ReplicaSet(endpoint, concurrency=4, cooldown_s=1.0, cooldown_max_s=30.0)
    assert [replicas._cooldown(n) for n in (1, 2, 3, 5, 6, 12)] == [1, 2, 4, 16, 30, 30]
    first = replicas.replicas[0]
    for _ in range(50):  # fifty calls in flight fail on it: one episode, not fifty
        replicas._take_out(first)
    assert first.failures == 1 and first.stats.taken_out == 1
    assert first.probe is not None
    first.probe.cancel()


async def test_a_failing_replica_is_taken_out_and_its_calls_go_elsewhere() -> None:
    broken = ScriptedServer(ScriptedConfig(tokens=2, faults=[Fault(kind="status", status=500)]))
    good = ScriptedServer(ScriptedConfig(tokens=2))
    urls = [broken.start(), good.start()]
    try:
        endpoint = replica_endpoint(urls, max_retries=1)
        async with ReplicaSet(endpoint, concurrency=8, backoff_base_s=0.01) as replicas:
            results = [await ask(replicas) for _ in range(6)]
            assert all(r.ok for r in results)  # type: ignore[attr-defined]
            first = results[0]
            assert first.endpoint == urls[1] and first.attempts == 3  # type: ignore[attr-defined]
            broken_stats, good_stats = replicas.stats()
        # one call reached the broken replica (two requests: the client retried the 500 once)
        assert broken_stats["calls"] == 1 and broken_stats["requests"] == 2
        assert broken_stats["error_types"] == {"http_500": 1} and broken_stats["taken_out"] == 1
        assert good_stats["calls"] == 6 and good_stats["errors"] == 0
        # a request's own fault (400) is returned, not sent to every replica
        bad = ScriptedServer(ScriptedConfig(faults=[Fault(kind="status", status=400)]))
        bad_urls = [bad.start(), urls[1]]
        try:
            async with ReplicaSet(replica_endpoint(bad_urls), concurrency=2) as replicas:
                result = await ask(replicas)
            assert result.error_type == "http_400"  # type: ignore[attr-defined]
            assert [r["calls"] for r in replicas.stats()] == [1, 0]
        finally:
            bad.stop()
    finally:
        broken.stop()
        good.stop()


async def test_a_replica_that_comes_back_takes_calls_again(loopback_port: int) -> None:
    port = loopback_port  # down (refused) until the returning server listens on it
    first = ScriptedServer(ScriptedConfig(tokens=2))
    urls = [first.start(), f"http://127.0.0.1:{port}/v1"]
    returning: ScriptedServer | None = None
    try:
        endpoint = replica_endpoint(urls)
        async with ReplicaSet(endpoint, concurrency=4, cooldown_s=0.05) as replicas:
            # the second replica is down: its first call fails over at once
            results = await asyncio.gather(*(ask(replicas) for _ in range(4)))
            assert all(r.ok and r.endpoint == urls[0] for r in results)  # type: ignore[attr-defined]
            assert replicas.stats()[1]["taken_out"] == 1
            assert replicas.stats()[1]["error_types"] == {"connection": 2}  # two were sent there
            returning = ScriptedServer(ScriptedConfig(tokens=2, port=port))
            returning.start()
            deadline = time.monotonic() + 10
            while replicas.replicas[1].out and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert not replicas.replicas[1].out  # a probe found it answering
            results = await asyncio.gather(*(ask(replicas) for _ in range(6)))
            assert all(r.ok for r in results)  # type: ignore[attr-defined]
            stats = replicas.stats()
        assert stats[1]["probes"] >= 1
        assert returning.stats()["requests"] == 3  # its share again
    finally:
        first.stop()
        if returning is not None:
            returning.stop()


async def test_all_replicas_down_returns_a_connection_error_naming_the_set(
    dead_base_url: str, loopback_port: int
) -> None:
    urls = [dead_base_url, f"http://127.0.0.1:{loopback_port}/v1"]
    endpoint = replica_endpoint(urls, max_retries=1)
    async with ReplicaSet(endpoint, concurrency=2, backoff_base_s=0.01) as replicas:
        with pytest.raises(EndpointUnavailable, match="2 of 2 replicas are not available"):
            await replicas.check("single")
        result = await ask(replicas)
    assert result.error_type == "connection"  # type: ignore[attr-defined]
    assert result.endpoint == replicas.label == ", ".join(urls)  # type: ignore[attr-defined]
    assert result.error.startswith("all 2 replicas failed")  # type: ignore[attr-defined]
    assert result.attempts == 4  # two rounds over both  # type: ignore[attr-defined]
    assert [r["calls"] for r in replicas.stats()] == [2, 2]


# -- eval, serve, lm-eval -----------------------------------------------------------------------


def _wait_until(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    """Poll ``condition`` while the eval ``process`` runs; fail the test at the deadline."""
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


def _wait_for_records(store: RunStore, count: int, process: subprocess.Popen[str]) -> None:
    _wait_until(lambda: len(store.load_records()) >= count, process, f"{count} records")


def _requests_received(url: str) -> int:
    """Completion requests a scripted server subprocess has received (answered or not)."""
    with urllib.request.urlopen(f"{url.removesuffix('/v1')}/stats", timeout=5) as response:
        return int(json.load(response)["requests"])


def test_eval_survives_a_killed_replica_and_records_each_replicas_share(tmp_path: Path) -> None:
    config = ScriptedConfig(ttft_ms=150, rules=[ANSWER])
    # The replica to kill answers its first SERVED calls and holds every later one unanswered:
    # the run cannot end before the kill, and the kill cuts a call in flight. (The first fault
    # is a stall after chunk 10**6 of a three-word reply: it never fires, it only counts.)
    served = 3
    doomed = ScriptedConfig(
        ttft_ms=150,
        rules=[ANSWER],
        faults=[Fault(kind="hang", after_chunks=10**6, first_n=served), Fault(kind="hang")],
    )
    started = [start_subprocess(c) for c in (config, doomed, config)]
    urls = [url for _, url in started]
    out = tmp_path / "run"
    args = eval_args(out, "--concurrency", "6", url=",".join(urls[:2]), model=MODEL, limit=40)
    args += ["--endpoint", urls[2]]  # a repeated flag adds a replica
    process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    store = RunStore(out)

    def answered_by_doomed() -> int:
        return sum(s.endpoint == urls[1] for r in store.load_records() for s in r.trace.stages)

    try:
        _wait_until(
            lambda: answered_by_doomed() >= served and _requests_received(urls[1]) > served,
            process,
            f"{served} answers from the replica to kill and a call held there",
        )
        started[1][0].kill()  # a replica crashes mid-run: streams cut, connections refused
        started[1][0].wait()
        _, stderr = process.communicate(timeout=120)
    finally:
        for server, _ in started:
            server.kill()
            server.wait()
    assert process.returncode == 0, stderr
    records = store.load_records()
    assert len({r.key for r in records}) == len(records) == 40  # no item lost
    assert not [r for r in records if r.error]
    assert {s.endpoint for r in records for s in r.trace.stages} <= set(urls)
    assert answered_by_doomed() == served
    manifest = read_json(out / "manifest.json")
    assert manifest["endpoints"]["single"]["replica_urls"] == urls[1:]
    (replica_set,) = manifest["replicas"]
    assert replica_set["roles"] == ["single"]
    alive, killed, other = replica_set["replicas"]
    assert [alive["url"], killed["url"], other["url"]] == urls
    assert killed["taken_out"] >= 1 and killed["errors"] >= 1
    assert set(killed["error_types"]) <= {"connection", "stream_cut"}
    assert killed["calls"] - killed["errors"] == served
    assert alive["errors"] == other["errors"] == 0
    assert alive["calls"] + other["calls"] + killed["calls"] - killed["errors"] == 40
    assert alive["latency_s"]["n"] == alive["calls"] and alive["latency_s"]["p50"] >= 0.15
    summary = read_json(out / "summary.json")
    shares = [r["share_of_calls"] for r in summary["replicas"][0]["replicas"]]
    assert abs(sum(shares) - 1) < 1e-9 and shares[0] > 0.3 and shares[2] > 0.3
    assert "sk-" not in (out / "manifest.json").read_text()


def test_eval_stops_as_an_outage_when_every_replica_is_down(tmp_path: Path) -> None:
    started = [start_subprocess(ScriptedConfig(ttft_ms=200, rules=[ANSWER])) for _ in range(2)]
    urls = [url for _, url in started]
    out = tmp_path / "run"
    args = eval_args(
        out, "--concurrency", "2", "--max-retries", "1", url="|".join(urls), model=MODEL, limit=40
    )
    process = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        _wait_for_records(RunStore(out), 4, process)
        for server, _ in started:
            server.kill()
            server.wait()
        _, stderr = process.communicate(timeout=120)
    finally:
        for server, _ in started:
            if server.poll() is None:
                server.kill()
                server.wait()
    assert process.returncode == 3, stderr
    assert f"endpoint {', '.join(urls)} stopped answering" in stderr
    assert "all 2 replicas failed" in stderr and "Traceback" not in stderr
    records = RunStore(out).load_records()
    assert 4 <= len(records) < 40 and not [r for r in records if r.error]
    manifest = read_json(out / "manifest.json")
    assert manifest["status"] == "stopped"
    assert all(r["taken_out"] >= 1 for r in manifest["replicas"][0]["replicas"])


async def test_serve_spreads_upstream_calls_over_replicas() -> None:
    from hawkeye_bench.serve.server import PipelineServer

    upstreams = [ScriptedServer(ScriptedConfig(ttft_ms=200, rules=[ANSWER])) for _ in range(2)]
    urls = [server.start() for server in upstreams]
    try:
        server = PipelineServer("baseline", {"single": replica_endpoint(urls)})
        async with server, aiohttp.ClientSession() as http:
            payload = {"model": "baseline", "messages": [{"role": "user", "content": "q"}]}

            async def one() -> int:
                url = f"{server.base_url}/chat/completions"
                async with http.post(url, json={**payload, "stream": False}) as response:
                    await response.read()
                    return response.status

            assert await asyncio.gather(*(one() for _ in range(8))) == [200] * 8
        assert [s.stats()["requests"] for s in upstreams] == [4, 4]
    finally:
        for upstream in upstreams:
            upstream.stop()


def test_lm_eval_model_takes_replicas_separated_by_bars(tmp_path: Path) -> None:
    from lm_eval.api.instance import Instance
    from lm_eval.utils import simple_parse_args_string

    from hawkeye_bench.lmeval import HawkeyeLM, load_split

    upstreams = [ScriptedServer(ScriptedConfig(rules=[ANSWER])) for _ in range(2)]
    urls = [server.start() for server in upstreams]
    try:
        model_args = simple_parse_args_string(
            f"pipeline=baseline,url={'|'.join(urls)},model=scripted-model,num_concurrent=4,"
            f"max_in_flight=2,traces={tmp_path / 'traces.jsonl'}"
        )
        lm = HawkeyeLM(**model_args)
        assert lm.endpoints["single"].base_urls == tuple(urls)
        assert lm.endpoints["single"].max_in_flight == 2
        docs = list(load_split("gsm8k")["test"].select(range(6)))
        requests = [
            Instance(
                request_type="generate_until",
                doc=doc,
                arguments=(doc["prompt"], {"until": [], "do_sample": False}),
                idx=0,
                metadata=("hawkeye_gsm8k", i, 1),
            )
            for i, doc in enumerate(docs)
        ]
        answers = lm.generate_until(requests)
        assert not [a for a in answers if a.failed]
        info = lm.get_model_info()["hawkeye"]
        calls = [r["calls"] for r in info["replicas"][0]["replicas"]]
        assert sum(calls) == 6 and min(calls) >= 1
        assert [s.stats()["requests"] for s in upstreams] == calls
        assert info["endpoints"]["single"]["replica_urls"] == (urls[1],)
        with pytest.raises(ConfigError, match="an empty URL"):
            HawkeyeLM(**simple_parse_args_string(f"url={urls[0]}|,model=m"))
        with pytest.raises(ConfigError, match="max_in_flight=0: must be >= 1"):
            HawkeyeLM(url=urls[0], model="m", max_in_flight=0)
    finally:
        for upstream in upstreams:
            upstream.stop()


# -- parsing ------------------------------------------------------------------------------------


def test_url_lists_from_strings_lists_and_repeated_flags() -> None:
    a, b, c = "http://a:8000/v1", "http://b:8000/v1", "https://c.example/v1"
    assert parse_base_urls("r", a + "/") == (a,)
    assert parse_base_urls("r", f"{a}, {b}|{c}") == (a, b, c)
    assert parse_base_urls("r", [a, f"{b},{c}"]) == (a, b, c)
    settings = EndpointSettings(
        per_role={"single": {"base_url": [a, b], "model": "m"}}, max_in_flight=3
    )
    endpoint = resolve_endpoints(settings, ["single"])["single"]
    assert (endpoint.base_url, endpoint.replica_urls, endpoint.max_in_flight) == (a, (b,), 3)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http://a/v1,,http://b/v1", "an empty URL in base_url"),
        ("http://a/v1,", "an empty URL in base_url"),
        ("", "an empty URL in base_url"),
        ("http://a/v1 http://b/v1", "is not an http(s) base URL"),
        ("a:8000/v1", "is not an http(s) base URL"),
        ("http://a/v1|http://a/v1/", "lists http://a/v1 twice"),
        ([], "lists no URL"),
        (["http://a/v1", 8000], "must be a URL or a list of URLs"),
    ],
)
def test_bad_url_lists_are_clear_errors(value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_endpoints(
            EndpointSettings(from_file={"single": {"base_url": value, "model": "m"}}), ["single"]
        )


def test_config_file_lists_replicas_and_bad_input_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "replicas.yaml"
    config.write_text(
        "endpoints:\n"
        "  single:\n"
        "    base_url: [http://a:8000/v1, http://b:8000/v1]\n"
        "    model: m\n"
        "    max_in_flight: 4\n"
    )
    settings = EndpointSettings(from_file=load_config_file(config)["endpoints"])
    endpoint = resolve_endpoints(settings, ["single"])["single"]
    assert endpoint.base_urls == ("http://a:8000/v1", "http://b:8000/v1")
    assert endpoint.max_in_flight == 4
    config.write_text(config.read_text().replace("max_in_flight: 4", "max_in_flight: 0"))
    result = run_cli(*eval_args(tmp_path / "run", "--config", str(config)))
    assert result.returncode == 2
    assert "endpoint 'single': max_in_flight: '0' is out of range" in result.stderr
    result = run_cli(*eval_args(tmp_path / "run", url="http://127.0.0.1:9/v1,"))
    assert result.returncode == 2 and "an empty URL in base_url" in result.stderr
    assert "Traceback" not in result.stderr
