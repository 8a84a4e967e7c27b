"""One pooled :class:`EndpointClient` per distinct endpoint setting, shared by a pipeline's roles.

``eval``, ``serve`` and the lm-eval model all build their clients here::

    async with ClientPool(endpoints, concurrency=8) as pool:
        await pool.check()
        pipeline = pipeline_cls(preset, pool, ...)  # the pool maps role -> client

Roles whose endpoints agree on every setting but the display ``name`` and ``prices`` (base_url,
model, api_key_env, timeouts, retries, extra_body, tokenizer_path, and any field added later) share
one client, hence one connection pool; any difference gives them separate clients. Each
client's connection pool holds at most ``concurrency`` connections (None: no limit, for a
caller that bounds nothing itself, such as ``serve``), never aiohttp's default of 100.

An endpoint with several base URLs (``replica_urls``) or an in-flight cap (``max_in_flight``) is
served by a :class:`~hawkeye_bench.endpoints.replicas.ReplicaSet`: one client per replica, each
pool sized to the replica's cap (``min(max_in_flight, concurrency)``); :meth:`ClientPool.
replica_stats` gives what each replica did, for the manifest and summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import Iterator, Mapping
from typing import Any

from hawkeye_bench.endpoints.client import EndpointClient
from hawkeye_bench.endpoints.endpoint import Endpoint, EndpointUnavailable, unavailable_among
from hawkeye_bench.endpoints.replica_report import ReplicaSetReport
from hawkeye_bench.endpoints.replicas import ReplicaSet

#: What the pool gives per role: one client, or a replica set for several base URLs.
PoolClient = EndpointClient | ReplicaSet


def client_key(endpoint: Endpoint) -> str:
    """Every setting of ``endpoint`` except its display name and prices, as a canonical string."""
    settings = {
        f.name: getattr(endpoint, f.name)
        for f in dataclasses.fields(endpoint)
        if f.name not in ("name", "prices")
    }
    return json.dumps(settings, sort_keys=True, default=repr)


def _roles_text(roles: tuple[str, ...]) -> str:
    return roles[0] if len(roles) == 1 else f"{', '.join(roles[:-1])} and {roles[-1]}"


def build_client(endpoint: Endpoint, concurrency: int | None) -> PoolClient:
    """A replica set for an endpoint with replicas or an in-flight cap, else one client."""
    if endpoint.replica_urls or endpoint.max_in_flight is not None:
        return ReplicaSet(endpoint, concurrency=concurrency)
    return EndpointClient(endpoint, connection_limit=concurrency or 0)


class ClientPool(Mapping[str, PoolClient]):
    """The clients of one pipeline run, as a ``{role: client}`` mapping; use with ``async with``
    (or :meth:`open` and :meth:`close` for a lifetime that is not one block)."""

    def __init__(self, endpoints: Mapping[str, Endpoint], *, concurrency: int | None) -> None:
        if concurrency is not None and concurrency < 1:
            raise ValueError(f"concurrency must be at least 1 (or None), not {concurrency}")
        self.concurrency = concurrency
        by_key: dict[str, PoolClient] = {}
        roles_of: dict[str, list[str]] = {}
        self._by_role: dict[str, PoolClient] = {}
        for role, endpoint in endpoints.items():
            key = client_key(endpoint)
            if key not in by_key:
                by_key[key] = build_client(endpoint, concurrency)
                roles_of[key] = []
            roles_of[key].append(role)
            self._by_role[role] = by_key[key]
        #: Each distinct client with the roles it serves, in the order the roles were given.
        self.groups: list[tuple[PoolClient, tuple[str, ...]]] = [
            (client, tuple(roles_of[key])) for key, client in by_key.items()
        ]
        self._stack: contextlib.AsyncExitStack | None = None

    # -- the mapping ---------------------------------------------------------------------------

    def __getitem__(self, role: str) -> PoolClient:
        return self._by_role[role]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_role)

    def __len__(self) -> int:
        return len(self._by_role)

    def for_role(self, role: str) -> PoolClient:
        try:
            return self._by_role[role]
        except KeyError:
            raise KeyError(f"no endpoint for role {role!r}; roles: {', '.join(self)}") from None

    @property
    def clients(self) -> list[PoolClient]:
        """The distinct clients (one per distinct endpoint setting)."""
        return [client for client, _ in self.groups]

    def replica_reports(self) -> list[ReplicaSetReport]:
        """Per replica set: the roles it serves and what each replica did (calls, requests,
        errors by type, times taken out, latency); empty when no endpoint has replicas."""
        return [
            ReplicaSetReport(roles, tuple(client.reports()))
            for client, roles in self.groups
            if isinstance(client, ReplicaSet)
        ]

    def replica_stats(self) -> list[dict[str, Any]]:
        """:meth:`replica_reports` in their JSON form (the manifest's ``replicas``)."""
        return [report.to_json() for report in self.replica_reports()]

    # -- lifetime ------------------------------------------------------------------------------

    async def open(self) -> ClientPool:
        """Open every client's session; on a failure the ones already opened are closed."""
        if self._stack is not None:
            return self
        async with contextlib.AsyncExitStack() as stack:
            for client in self.clients:
                await stack.enter_async_context(client)
            self._stack = stack.pop_all()
        return self

    async def close(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def __aenter__(self) -> ClientPool:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def check(self) -> None:
        """``GET /models`` once per distinct client, all at once; raise EndpointUnavailable
        naming every role served by each endpoint that does not answer."""
        outcomes = await asyncio.gather(
            *(client.check(_roles_text(roles)) for client, roles in self.groups),
            return_exceptions=True,
        )
        failures = unavailable_among(outcomes)
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise EndpointUnavailable("\n".join(str(f) for f in failures))
