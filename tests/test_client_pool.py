"""ClientPool: one pooled EndpointClient per distinct endpoint setting, shared by roles."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hawkeye_bench.core.secrets import MissingApiKey
from hawkeye_bench.endpoints.client import Endpoint, EndpointUnavailable
from hawkeye_bench.endpoints.pool import ClientPool, client_key
from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer

BASE = Endpoint(base_url="http://127.0.0.1:9/v1", model="m", extra_body={"a": 1, "b": 2})


def test_roles_with_identical_settings_share_one_client() -> None:
    pool = ClientPool(
        {
            "reasoner": replace(BASE, name="thinker"),
            "responder": replace(BASE, name="writer", extra_body={"b": 2, "a": 1}),
        },
        concurrency=4,
    )
    assert pool.for_role("reasoner") is pool.for_role("responder") is pool["reasoner"]
    assert len(pool.clients) == 1 and dict(pool) == {
        "reasoner": pool.clients[0],
        "responder": pool.clients[0],
    }
    assert pool.groups == [(pool.clients[0], ("reasoner", "responder"))]
    with pytest.raises(KeyError, match="no endpoint for role 'judge'; roles: reasoner, responder"):
        pool.for_role("judge")


@pytest.mark.parametrize(
    "change",
    [
        {"timeout_s": 60.0},
        {"connect_timeout_s": 1.0},
        {"api_key_env": "OTHER_KEY"},
        {"max_retries": 0},
        {"extra_body": {"a": 1, "b": 3}},
        {"tokenizer_path": "/models/m.gguf"},
        {"model": "m2"},
    ],
)
def test_any_other_difference_makes_two_clients(change: dict[str, object]) -> None:
    other = replace(BASE, **change)  # type: ignore[arg-type]
    assert client_key(other) != client_key(BASE)
    pool = ClientPool({"reasoner": BASE, "responder": other}, concurrency=4)
    assert len(pool.clients) == 2
    assert pool["reasoner"] is not pool["responder"]
    assert pool["responder"].endpoint is other


async def test_connection_pool_size_follows_the_concurrency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEY_ONE", "sk-one")
    monkeypatch.setenv("KEY_TWO", "sk-two")
    endpoints = {
        "reasoner": replace(BASE, api_key_env="KEY_ONE"),
        "responder": replace(BASE, api_key_env="KEY_TWO"),
    }
    async with ClientPool(endpoints, concurrency=7) as pool:
        sessions = [client.session for client in pool.clients]
        assert [s.connector.limit for s in sessions] == [7, 7]  # type: ignore[union-attr]
        assert [s.headers["Authorization"] for s in sessions] == ["Bearer sk-one", "Bearer sk-two"]
    assert all(s.closed for s in sessions)
    async with ClientPool(endpoints, concurrency=None) as unbounded:
        # no limit at all: aiohttp's default of 100 would queue a load test silently
        assert unbounded["reasoner"].session.connector.limit == 0  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        ClientPool(endpoints, concurrency=0)


async def test_check_names_both_roles_when_their_shared_server_is_down(dead_base_url: str) -> None:
    dead = Endpoint(base_url=dead_base_url, model="m", name="shared")
    endpoints = {"reasoner": dead, "responder": replace(dead, name="other")}
    async with ClientPool(endpoints, concurrency=2) as pool:
        with pytest.raises(
            EndpointUnavailable, match=r"^reasoner and responder endpoint 'shared' at http"
        ):
            await pool.check()


async def test_check_reports_every_unreachable_server_and_passes_a_live_one(
    dead_base_url: str, loopback_port: int
) -> None:
    dead_a = Endpoint(base_url=dead_base_url, model="a")
    dead_b = Endpoint(base_url=f"http://127.0.0.1:{loopback_port}/v1", model="b")
    with ScriptedServer(ScriptedConfig()) as url:
        live = Endpoint(base_url=url, model="scripted-model")
        async with ClientPool({"reasoner": live, "responder": live}, concurrency=1) as pool:
            await pool.check()
            result = await pool["responder"].chat(
                [{"role": "user", "content": "hi"}], role="responder", max_tokens=4
            )
            assert result.error is None and result.content
        endpoints = {"reasoner": dead_a, "responder": dead_b, "judge": live}
        async with ClientPool(endpoints, concurrency=1) as pool:
            with pytest.raises(EndpointUnavailable) as caught:
                await pool.check()
    lines = str(caught.value).splitlines()
    assert [line.split(" endpoint ")[0] for line in lines] == ["reasoner", "responder"]


async def test_a_client_that_cannot_open_closes_the_ones_already_open(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HAWKEYE_TEST_MISSING_KEY", raising=False)
    pool = ClientPool(
        {"reasoner": BASE, "responder": replace(BASE, api_key_env="HAWKEYE_TEST_MISSING_KEY")},
        concurrency=2,
    )
    with pytest.raises(MissingApiKey, match="HAWKEYE_TEST_MISSING_KEY"):
        await pool.open()
    assert pool["reasoner"]._session is None  # opened, then closed again
