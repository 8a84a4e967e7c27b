"""Where a model is served (:class:`Endpoint`), and the error for one that does not answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.secrets import api_key_from_env


class EndpointUnavailable(HawkeyeError):
    """An endpoint did not answer ``GET /models`` (raised before a run starts)."""


@dataclass
class Endpoint:
    """Where a model is served. ``base_url`` ends in ``/v1`` (e.g. ``http://host:8000/v1``).

    The API key is never stored: ``api_key_env`` names the environment variable holding it.
    """

    base_url: str
    model: str
    api_key_env: str | None = None
    timeout_s: float = 3600.0  # whole request, stream included
    connect_timeout_s: float = 10.0
    max_retries: int = 3
    extra_body: dict[str, Any] = field(default_factory=dict)  # merged into every request body
    #: A GGUF file whose vocabulary is this model's tokenizer: counts tokens in-process, exactly,
    #: when the server streams no usage (set for the embedded model).
    tokenizer_path: str | None = None
    #: What this endpoint costs (token prices and/or GPU time, see ``cost/prices.py``); recorded
    #: in the manifest, never part of the connection (roles differing only in prices share one).
    prices: dict[str, float | str] | None = None  # names to numbers (or a placement's text)
    name: str = ""
    #: Further base URLs serving the same model (replicas): requests go to the least busy of
    #: ``base_url`` and these (``endpoints/replicas.py``).
    replica_urls: tuple[str, ...] = ()
    #: At most this many requests in flight per base URL (None: only the run's concurrency).
    max_in_flight: int | None = None

    @property
    def base_urls(self) -> tuple[str, ...]:
        """Every base URL of this endpoint: ``base_url`` first, then the replicas."""
        return (self.base_url, *self.replica_urls)

    @property
    def label(self) -> str:
        return self.name or self.model

    @property
    def root_url(self) -> str:
        """The server root, where vLLM/SGLang/llama-cpp put their tokenize endpoints."""
        url = self.base_url.rstrip("/")
        return url.removesuffix("/v1")

    def api_key(self) -> str | None:
        """The key from ``api_key_env``, read now; None when no variable is configured."""
        if not self.api_key_env:
            return None
        return api_key_from_env(self.api_key_env, f"endpoint {self.label!r} ({self.base_url})")

    def to_dict(self) -> dict[str, Any]:
        """JSON form for manifests: the variable's name, never its value."""
        return asdict(self)


def unavailable_among(outcomes: Sequence[object]) -> list[EndpointUnavailable]:
    """The EndpointUnavailable failures among the outcomes of checks gathered with
    ``return_exceptions=True``; any other exception among them is raised as it is."""
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    for failure in failures:
        if not isinstance(failure, EndpointUnavailable):
            raise failure
    return [f for f in failures if isinstance(f, EndpointUnavailable)]
