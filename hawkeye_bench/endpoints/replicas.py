"""Several servers of one model (replicas) behind one client: least-busy routing, failover.

An :class:`~hawkeye_bench.endpoints.client.Endpoint` with ``replica_urls`` is served by a
:class:`ReplicaSet`, which a pipeline uses like any client (``chat``/``complete``):

- each call goes to the live replica with the fewest calls in flight, below its in-flight cap
  (``Endpoint.max_in_flight``, default the run's concurrency); with every live replica at its
  cap, the call waits for a slot;
- a replica whose call fails for a reason that is the server's (no connection, a timeout, 5xx
  or 429 after the client's own retries, a cut or malformed stream, a 200 that is not a
  completion, unusable logprobs, a 404 such as "model does not exist") is taken out and the call
  goes to another replica, so an item is not lost while one replica lives. A refused connection
  fails over at once (the replica's client does not retry it);
- before a run, every replica must list the endpoint's model (``GET /models``);
- a replica taken out is probed (``GET /models``, listing the model) after a cool-down that
  doubles with each failed probe and each time it is taken out again before a call succeeds on
  it (``cooldown_s`` up to ``cooldown_max_s``), and takes calls again once the probe answers;
- with every replica out, a call still tries each of them in turn (a trial request), in rounds
  spaced like the client's retries, ``max_retries`` rounds at most; then it returns the
  connection error, whose ``endpoint`` is :attr:`ReplicaSet.label` (all URLs), so the run's
  outage watch (``eval/health.py``) counts it against the whole set.

A call that already streamed text to ``on_delta`` is not sent again (the text cannot be taken
back): its error is returned, as the client does. A successful StageResult names the replica
that answered in ``endpoint``; ``attempts`` counts every request sent for it, on all replicas.

Per replica, :meth:`ReplicaSet.stats` counts the calls it took, the HTTP requests they sent,
their errors by type, the times it was taken out, and describes the latency of its answered
calls (``core/stats.describe``): the manifest and summary of a run record them (URLs, no keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Unpack

from openai.types.chat import ChatCompletionMessageParam

from hawkeye_bench.core.stats import describe
from hawkeye_bench.core.trace import StageResult, TokenSource
from hawkeye_bench.endpoints.call_params import CallParams
from hawkeye_bench.endpoints.client import EndpointClient
from hawkeye_bench.endpoints.endpoint import Endpoint, EndpointUnavailable, unavailable_among
from hawkeye_bench.endpoints.replica_report import ReplicaReport
from hawkeye_bench.endpoints.retry import backoff_delay

#: Joins a replica set's URLs into its label, the `endpoint` of a call that found every replica
#: down (``eval/health.py`` splits it to know which replicas the outage is about).
REPLICA_SEPARATOR = ", "

#: Error types of a call that say the replica failed (after the client's own retries), not the
#: request: the call goes to another replica and the replica is taken out for a cool-down. A 404
#: is the server's (no such model or path there), never the request's.
REPLICA_FAILURES = frozenset(
    {
        "connection",
        "timeout",
        "stream_cut",
        "malformed_sse",
        "malformed_response",
        "malformed_logprobs",
        "stream_error",
        "http_404",
        "http_408",
        "http_429",
    }
)

#: One call of a client, given the client and the parameters to call it with.
_Send = Callable[[EndpointClient, CallParams], Awaitable[StageResult]]


def is_replica_failure(error_type: str | None) -> bool:
    """True for an error that another replica may not have (5xx included)."""
    if error_type is None:
        return False
    if error_type in REPLICA_FAILURES:
        return True
    status = error_type.removeprefix("http_")
    return status != error_type and status.isdigit() and int(status) >= 500


@dataclass
class ReplicaStats:
    """What one replica did in this run (this process; a resumed run counts anew)."""

    url: str
    calls: int = 0  # calls routed to it
    requests: int = 0  # HTTP requests those calls sent (client retries included)
    errors: Counter[str] = field(default_factory=Counter)  # failed calls by error type
    taken_out: int = 0  # times it was taken out of service
    probes: int = 0  # GET /models probes while it was out
    latencies_s: list[float | None] = field(default_factory=list)  # of its answered calls

    def report(self) -> ReplicaReport:
        return ReplicaReport(
            url=self.url,
            calls=self.calls,
            requests=self.requests,
            errors=sum(self.errors.values()),
            error_types=dict(self.errors),
            taken_out=self.taken_out,
            probes=self.probes,
            latency_s=describe(self.latencies_s),
        )


@dataclass(eq=False)
class _Replica:
    client: EndpointClient
    stats: ReplicaStats
    in_flight: int = 0
    out: bool = False  # taken out of service
    failures: int = 0  # times taken out and failed probes, since its last answered call
    out_since: float = 0.0
    probe: asyncio.Task[None] | None = None


class ReplicaSet:
    """One endpoint served by several base URLs: use with ``async with`` like an
    :class:`EndpointClient` (see the module docstring)."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        concurrency: int | None,
        cooldown_s: float = 1.0,
        cooldown_max_s: float = 30.0,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 8.0,
    ) -> None:
        urls = endpoint.base_urls
        if len(set(urls)) != len(urls):
            raise ValueError(f"replica URLs repeat: {', '.join(urls)}")
        self.endpoint = endpoint
        self.label = REPLICA_SEPARATOR.join(urls)
        caps = [c for c in (endpoint.max_in_flight, concurrency) if c is not None]
        #: calls in flight per replica at most (None: no cap)
        self.cap: int | None = min(caps) if caps else None
        self.cooldown_s = cooldown_s
        self.cooldown_max_s = cooldown_max_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.replicas = [
            _Replica(
                EndpointClient(
                    replace(endpoint, base_url=url, replica_urls=(), max_in_flight=None),
                    connection_limit=self.cap or 0,  # a pool as large as the calls it may carry
                    backoff_base_s=backoff_base_s,
                    backoff_max_s=backoff_max_s,
                    retry_connection_errors=False,
                ),
                ReplicaStats(url),
            )
            for url in urls
        ]
        self._changed: asyncio.Event | None = None  # set when a slot frees or a replica returns
        self._stack: contextlib.AsyncExitStack | None = None

    # -- lifetime ------------------------------------------------------------------------------

    async def __aenter__(self) -> ReplicaSet:
        async with contextlib.AsyncExitStack() as stack:
            for replica in self.replicas:
                await stack.enter_async_context(replica.client)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc: object) -> None:
        probes = [r.probe for r in self.replicas if r.probe is not None]
        for probe in probes:
            probe.cancel()
        await asyncio.gather(*probes, return_exceptions=True)
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    # -- what a client offers ------------------------------------------------------------------

    async def check(self, role: str | None = None) -> None:
        """Raise EndpointUnavailable unless every replica answers ``GET /models`` listing the
        model (a replica that is down or serves another model before the run starts is a mistake
        to fix, not a failure to absorb)."""
        outcomes = await asyncio.gather(
            *(r.client.check(role, require_model=True) for r in self.replicas),
            return_exceptions=True,
        )
        failures = unavailable_among(outcomes)
        if failures:
            raise EndpointUnavailable(
                f"{len(failures)} of {len(self.replicas)} replicas are not available:\n"
                + "\n".join(str(f) for f in failures)
            )

    async def chat(
        self, messages: list[ChatCompletionMessageParam], **params: Unpack[CallParams]
    ) -> StageResult:
        """:meth:`EndpointClient.chat` on the least busy live replica."""
        return await self._call(lambda client, sent: client.chat(messages, **sent), params)

    async def complete(self, prompt: str | list[int], **params: Unpack[CallParams]) -> StageResult:
        """:meth:`EndpointClient.complete` on the least busy live replica."""
        return await self._call(lambda client, sent: client.complete(prompt, **sent), params)

    async def count_text_tokens(self, text: str) -> tuple[int, TokenSource] | None:
        """:meth:`EndpointClient.count_text_tokens` on the least busy live replica."""
        return await self._least_busy().client.count_text_tokens(text)

    async def token_ids(self, text: str) -> list[int] | None:
        """:meth:`EndpointClient.token_ids` on the least busy live replica."""
        return await self._least_busy().client.token_ids(text)

    def reports(self) -> list[ReplicaReport]:
        """Per replica, in the order given: what it did so far (see :class:`ReplicaStats`)."""
        return [r.stats.report() for r in self.replicas]

    def stats(self) -> list[dict[str, Any]]:
        """:meth:`reports` in their JSON form."""
        return [report.to_json() for report in self.reports()]

    # -- routing -------------------------------------------------------------------------------

    def _least_busy(self) -> _Replica:
        live = [r for r in self.replicas if not r.out] or self.replicas
        return min(live, key=lambda r: r.in_flight)

    async def _call(self, send: _Send, params: CallParams) -> StageResult:
        """Send one call (``send`` with a client and the call's parameters) to the replicas."""
        on_delta = params.get("on_delta")
        forwarded = False

        async def forward(channel: str, text: str) -> None:
            nonlocal forwarded
            forwarded = True
            assert on_delta is not None
            pending = on_delta(channel, text)
            if pending is not None:
                await pending

        tried: set[_Replica] = set()
        failed: list[StageResult] = []
        rounds = sent_before = 0
        while True:
            replica = await self._acquire(tried)
            if replica is None:  # every replica failed this call: wait, then try them again
                rounds += 1
                if rounds > self.endpoint.max_retries:
                    return self._all_failed(params["role"], failed)
                await asyncio.sleep(self._round_delay(rounds))
                tried.clear()
                continue
            sent = params.copy()
            sent["on_delta"] = forward if on_delta is not None else None
            try:
                result = await send(replica.client, sent)
            finally:
                replica.in_flight -= 1
                self._notify()
            self._count(replica, result)
            sent_before += result.attempts
            result.attempts = sent_before  # every request this call sent, on every replica
            if result.ok:
                return result
            if is_replica_failure(result.error_type):
                self._take_out(replica)
            if forwarded or not is_replica_failure(result.error_type):
                return result
            tried.add(replica)
            failed.append(result)

    async def _acquire(self, tried: set[_Replica]) -> _Replica | None:
        """The replica for the next try of a call, its slot taken: the least busy live one not
        tried yet, else (none live) the one out longest not tried yet; None when every replica
        was tried. Waits while the chosen kind are all at their cap."""
        while True:
            untried = [r for r in self.replicas if r not in tried]
            if not untried:
                return None
            live = [r for r in untried if not r.out]
            if live:
                candidates = sorted(live, key=lambda r: r.in_flight)
            else:
                candidates = sorted(untried, key=lambda r: r.out_since)
            cap = self.cap
            chosen = next((r for r in candidates if cap is None or r.in_flight < cap), None)
            if chosen is not None:
                chosen.in_flight += 1
                return chosen
            await self._wait_for_change()

    async def _wait_for_change(self) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        await self._changed.wait()

    def _notify(self) -> None:
        """Wake the calls waiting for a slot (they choose again)."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def _count(self, replica: _Replica, result: StageResult) -> None:
        stats = replica.stats
        stats.calls += 1
        stats.requests += result.attempts
        if result.ok:
            stats.latencies_s.append(result.latency_s)
            replica.failures = 0
            if replica.out:  # a trial call answered: back in service
                replica.out = False
                self._notify()
        else:
            stats.errors[result.error_type or "error"] += 1

    def _take_out(self, replica: _Replica) -> None:
        """Take a replica out (its calls in flight failing one after another count once)."""
        if not replica.out:
            replica.failures += 1
            replica.out = True
            replica.out_since = time.monotonic()
            replica.stats.taken_out += 1
            self._notify()  # calls waiting on its slots choose another replica
        if replica.probe is None or replica.probe.done():
            replica.probe = asyncio.create_task(self._probe(replica))

    async def _probe(self, replica: _Replica) -> None:
        """Probe a replica taken out, after each cool-down, until it answers or is back."""
        while replica.out:
            await asyncio.sleep(self._cooldown(replica.failures))
            if not replica.out:
                return
            replica.stats.probes += 1
            try:
                await replica.client.check(require_model=True)
            except EndpointUnavailable:
                replica.failures += 1
                continue
            replica.out = False
            self._notify()

    def _cooldown(self, failures: int) -> float:
        return min(self.cooldown_s * 2 ** max(failures - 1, 0), self.cooldown_max_s)

    def _round_delay(self, rounds: int) -> float:
        return backoff_delay(rounds, self.backoff_base_s, self.backoff_max_s)

    def _all_failed(self, role: str, failed: list[StageResult]) -> StageResult:
        """The last failure, now naming the whole set and what each replica answered."""
        last = failed[-1] if failed else StageResult(role=role, model=self.endpoint.model)
        causes = "; ".join(f"{f.endpoint}: {f.error}" for f in failed[-len(self.replicas) :])
        last.endpoint = self.label
        last.error = f"all {len(self.replicas)} replicas failed ({causes})"
        last.error_type = last.error_type or "connection"
        return last
