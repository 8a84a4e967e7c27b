"""Who may use the pipeline server: the client key (a bearer token read from an environment
variable), the 401s, the open /health, and the warning for an open port off loopback."""

from __future__ import annotations

import asyncio
import hmac
import logging
import pickle
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from test_server_cli import ServeProcess

from hawkeye_bench import cli
from hawkeye_bench.commands import serve
from hawkeye_bench.core.secrets import redact
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.presets import load_preset
from hawkeye_bench.serve import client_auth
from hawkeye_bench.serve.client_auth import (
    DEFAULT_CLIENT_KEY_ENV,
    ClientKeyError,
    bearer_matches,
    client_key_from_env,
    is_loopback,
)
from hawkeye_bench.serve.server import PipelineServer
from hawkeye_bench.serve.traces import read_serve_traces
from hawkeye_bench.serve.workers import ServerSpec
from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer

CLIENT_KEY = "hwk-client-3b8e1f0a9c7d"  # not provider-shaped: only remembering it hides it
BODY = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def upstream() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer(ScriptedConfig(tokens=3))
    scripted.start()
    yield scripted
    scripted.stop()


@pytest.fixture
async def guarded(upstream: ScriptedServer) -> AsyncIterator[PipelineServer]:
    ep = Endpoint(base_url=upstream.base_url, model="scripted-model", max_retries=0)
    async with PipelineServer("baseline", {"single": ep}, client_key=CLIENT_KEY) as server:
        yield server


def _root(server: PipelineServer) -> str:
    return server.base_url.removesuffix("/v1")


async def _call(
    http: aiohttp.ClientSession, method: str, url: str, authorization: str | None, **kw: Any
) -> tuple[int, Any, Mapping[str, str]]:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with http.request(method, url, headers=headers, **kw) as response:
        return response.status, await response.json(), response.headers


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Basic {CLIENT_KEY}",
        CLIENT_KEY,
        f"Bearer {CLIENT_KEY[:-1]}",
        f"Bearer {CLIENT_KEY}x",
        f"Bearer {CLIENT_KEY.upper()}",
        "Bearer wrong-key-entirely",
        "Bearer ключ-не-тот",
    ],
    ids=lambda a: "none" if a is None else repr(a.replace(CLIENT_KEY, "KEY")),
)
async def test_requests_without_the_client_key_get_an_openai_401(
    guarded: PipelineServer,
    upstream: ScriptedServer,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    authorization: str | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    root = _root(guarded)
    for method, path in [
        ("POST", "/v1/chat/completions"),
        ("GET", "/v1/models"),
        ("GET", "/no/such/path"),  # 401 before 404: an outsider learns nothing of the routes
    ]:
        status, answer, headers = await _call(
            http, method, root + path, authorization, json=BODY if method == "POST" else None
        )
        assert status == 401, (path, answer)
        assert headers["WWW-Authenticate"] == "Bearer"
        error = answer["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
        assert set(error) == {"message", "type", "param", "code"}
        assert CLIENT_KEY not in str(answer) and CLIENT_KEY[:-1] not in str(answer)
    if authorization is None:
        assert (
            f"Bearer <key>' with the key the server reads from {DEFAULT_CLIENT_KEY_ENV}"
            in (error["message"])
        )
    assert upstream.requests == []  # nothing was forwarded, nothing spent
    assert guarded.stats.unauthorized == 3 and guarded.stats.completed == 0
    assert CLIENT_KEY not in caplog.text


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
async def test_the_client_key_opens_every_route(
    guarded: PipelineServer, http: aiohttp.ClientSession, scheme: str
) -> None:
    root, authorization = _root(guarded), f"{scheme} {CLIENT_KEY}"
    status, answer, _ = await _call(
        http, "POST", root + "/v1/chat/completions", authorization, json=BODY
    )
    assert status == 200 and answer["choices"][0]["message"]["content"] == "tok0 tok1 tok2"
    status, models, _ = await _call(http, "GET", root + "/v1/models", authorization)
    assert status == 200 and models["data"][0]["id"] == "baseline"
    assert guarded.stats.unauthorized == 0


async def test_health_stays_open_and_counts_refusals(
    guarded: PipelineServer, http: aiohttp.ClientSession
) -> None:
    root = _root(guarded)
    await _call(http, "GET", root + "/v1/models", "Bearer nope-nope-nope")
    status, health, _ = await _call(http, "GET", root + "/health", None)
    assert status == 200 and health["status"] == "ok" and health["unauthorized"] == 1


async def test_a_large_body_without_the_key_is_refused_before_it_is_read(
    guarded: PipelineServer, http: aiohttp.ClientSession
) -> None:
    big = {"messages": [{"role": "user", "content": "x" * (17 * 2**20)}]}
    status, answer, _ = await _call(
        http, "POST", _root(guarded) + "/v1/chat/completions", None, json=big
    )
    assert status == 401 and answer["error"]["code"] == "invalid_api_key"  # not a 413
    assert guarded.stats.bad_requests == 0


async def test_without_a_client_key_the_server_stays_open(
    upstream: ScriptedServer, http: aiohttp.ClientSession
) -> None:
    ep = Endpoint(base_url=upstream.base_url, model="scripted-model", max_retries=0)
    async with PipelineServer("baseline", {"single": ep}) as server:
        status, _, _ = await _call(http, "POST", server.base_url + "/chat/completions", None,
                                   json=BODY)  # fmt: skip
    assert status == 200 and not server.requires_client_key


def test_the_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(client_auth.hmac, "compare_digest", spy)
    assert bearer_matches(f"Bearer {CLIENT_KEY}", CLIENT_KEY)
    assert not bearer_matches("Bearer guess", CLIENT_KEY)
    assert not bearer_matches(None, CLIENT_KEY)
    assert not bearer_matches("Bearer \udcff", CLIENT_KEY)  # undecodable bytes: no crash
    assert len(compared) == 4 and compared[0] == (CLIENT_KEY.encode(), CLIENT_KEY.encode())


# -- reading the key -----------------------------------------------------------------------------


def test_the_default_variable_may_be_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEFAULT_CLIENT_KEY_ENV, raising=False)
    assert client_key_from_env() is None
    monkeypatch.setenv(DEFAULT_CLIENT_KEY_ENV, CLIENT_KEY)
    assert client_key_from_env() == CLIENT_KEY
    assert redact(f"a log line with {CLIENT_KEY}") == "a log line with [redacted]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "is not set"),
        ("", "is empty"),
        ("short", "at least 8 visible ASCII characters"),
        ("has a space in it", "at least 8 visible ASCII characters"),
        ("ключ-ключ-ключ", "at least 8 visible ASCII characters"),
    ],
)
def test_a_named_variable_must_hold_a_usable_key(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: str
) -> None:
    monkeypatch.delenv("MY_SERVE_KEY", raising=False)
    if value is not None:
        monkeypatch.setenv("MY_SERVE_KEY", value)
    with pytest.raises(ClientKeyError) as caught:
        client_key_from_env("MY_SERVE_KEY")
    message = str(caught.value)
    assert "MY_SERVE_KEY" in message and expected in message and "token_urlsafe" in message
    assert not value or value not in message


def test_an_empty_default_variable_is_an_error_not_an_open_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DEFAULT_CLIENT_KEY_ENV, "")
    with pytest.raises(ClientKeyError, match=f"{DEFAULT_CLIENT_KEY_ENV} is empty"):
        client_key_from_env()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.10", False),
        ("no-such-host.invalid", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# -- the command ---------------------------------------------------------------------------------


SERVE_ARGS = ["serve", "--pipeline", "baseline", "--endpoint", "http://127.0.0.1:9/v1",
              "--model", "m"]  # fmt: skip


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[PipelineServer]:
    """The servers `serve` would run (not started: nothing binds, nothing is contacted)."""
    servers: list[PipelineServer] = []
    monkeypatch.setattr(serve, "_run", servers.append)
    monkeypatch.delenv(DEFAULT_CLIENT_KEY_ENV, raising=False)
    return servers


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_an_open_port_off_loopback_is_warned_about(
    built: list[PipelineServer], capsys: pytest.CaptureFixture[str], host: str
) -> None:
    assert cli.main([*SERVE_ARGS, "--host", host]) == 0
    err = capsys.readouterr().err
    assert f"warning: serving on {host}:8080 with no client key" in err
    assert "every request spends on the upstream API keys" in err
    assert f"set {DEFAULT_CLIENT_KEY_ENV}" in err
    assert not built[0].requires_client_key


def test_no_warning_on_loopback_or_with_a_key(
    built: list[PipelineServer], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli.main(SERVE_ARGS) == 0
    monkeypatch.setenv(DEFAULT_CLIENT_KEY_ENV, CLIENT_KEY)
    assert cli.main([*SERVE_ARGS, "--host", "0.0.0.0"]) == 0
    monkeypatch.setenv("OTHER_KEY_VAR", CLIENT_KEY[::-1])
    assert cli.main([*SERVE_ARGS, "--host", "0.0.0.0", "--client-key-env", "OTHER_KEY_VAR"]) == 0
    assert "warning" not in capsys.readouterr().err
    assert [s.requires_client_key for s in built] == [False, True, True]
    assert [s._client_key for s in built[1:]] == [CLIENT_KEY, CLIENT_KEY[::-1]]
    assert built[2].client_key_env == "OTHER_KEY_VAR"


def test_a_named_but_unset_variable_stops_serve_before_it_starts(
    built: list[PipelineServer], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNSET_SERVE_KEY", raising=False)
    assert cli.main([*SERVE_ARGS, "--client-key-env", "UNSET_SERVE_KEY"]) == 2
    assert "error: client key: environment variable UNSET_SERVE_KEY is not set" in (
        capsys.readouterr().err
    )
    assert built == []


# -- serve --workers -----------------------------------------------------------------------------


def test_the_worker_spec_carries_the_key_but_does_not_show_it() -> None:
    spec = ServerSpec("baseline", {}, load_preset("default"), client_key=CLIENT_KEY)
    assert CLIENT_KEY not in repr(spec)
    copy = pickle.loads(pickle.dumps(spec))  # as spawn hands it to each worker
    server = copy.build()
    assert server.requires_client_key and server._client_key == CLIENT_KEY


async def _statuses(base_url: str, keyed: int, unkeyed: int) -> tuple[list[int], list[int]]:
    """Statuses of ``keyed`` requests with the client key and ``unkeyed`` without, sent at once,
    each on its own connection (so the kernel spreads them over the workers)."""
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        url = f"{base_url}/chat/completions"

        async def one(authorization: str | None) -> int:
            return (await _call(http, "POST", url, authorization, json=BODY))[0]

        good = [one(f"Bearer {CLIENT_KEY}") for _ in range(keyed)]
        bad = [one(None) for _ in range(unkeyed)]
        statuses = await asyncio.gather(*good, *bad)
    return statuses[:keyed], statuses[keyed:]


@pytest.mark.timeout(240)
async def test_every_worker_checks_the_client_key(
    upstream: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEFAULT_CLIENT_KEY_ENV, CLIENT_KEY)
    served = ServeProcess(
        "--pipeline", "baseline", "--endpoint", upstream.base_url, "--model", "scripted-model",
        "--max-retries", "0", "--workers", "2", "--trace-dir", str(tmp_path),
    )  # fmt: skip
    try:
        good: list[int] = []
        bad: list[int] = []
        for _ in range(20):  # waves, until both workers have answered keyed requests
            statuses = await _statuses(served.base_url, 8, 8)
            good, bad = good + statuses[0], bad + statuses[1]
            if len({row.pid for row in read_serve_traces(tmp_path)}) == 2:
                break
        pids = {row.pid for row in read_serve_traces(tmp_path)}
    finally:
        code = served.stop()
    assert served.process.stderr is not None
    err = served.process.stderr.read()
    assert code == 0, err
    assert len(pids) == 2  # both workers answered, between the refusals
    assert set(good) == {200} and set(bad) == {401}
    assert f"with the key in ${DEFAULT_CLIENT_KEY_ENV}" in err and CLIENT_KEY not in err
    assert CLIENT_KEY not in "".join(p.read_text() for p in tmp_path.iterdir())


@pytest.mark.timeout(240)
def test_load_sends_the_client_key_serve_requires(
    upstream: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two ends of the agreed interface: `serve` and `load` both read HAWKEYE_SERVE_KEY."""
    monkeypatch.setenv(DEFAULT_CLIENT_KEY_ENV, CLIENT_KEY)
    served = ServeProcess(
        "--pipeline", "baseline", "--endpoint", upstream.base_url, "--model", "scripted-model",
    )  # fmt: skip
    try:
        code = cli.main(
            ["load", "--target", f"served={served.base_url}", "--concurrency", "2",
             "--requests", "4", "--prompt-limit", "2", "--max-tokens", "4",
             "--out", str(tmp_path / "load")]
        )  # fmt: skip
        health = asyncio.run(_health(served.base_url))
    finally:
        assert served.stop() == 0
    assert code == 0
    assert health["unauthorized"] == 0 and health["completed"] >= 4
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and not [p for p in written if CLIENT_KEY in p.read_text(errors="replace")]


async def _health(base_url: str) -> Any:
    async with aiohttp.ClientSession() as http:
        return (await _call(http, "GET", base_url.removesuffix("/v1") + "/health", None))[1]
