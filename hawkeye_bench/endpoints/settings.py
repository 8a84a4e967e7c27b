"""Endpoints per role, resolved from settings given as flags, a config file's ``endpoints``
mapping or lm-eval model_args (``commands/arguments.py`` reads the flags and the file).

A config file holds the same settings as the flags (by their long names, dashes or
underscores) plus an ``endpoints`` mapping::

    endpoints:
      reasoner:  {base_url: http://gpu1:8000/v1, model: my-reasoner, api_key_env: GPU1_KEY}
      responder: {base_url: http://gpu2:8000/v1, model: Qwen/Qwen2.5-0.5B-Instruct}
      single:    {base_url: http://gpu1:8000/v1, model: deepseek-ai/DeepSeek-R1-Distill-Qwen-7B}
    task: math500
    concurrency: 64

Flags given on the command line win over the file. API keys are never in the file: only the
*name* of the environment variable that holds each key.

Replicas: ``base_url`` may list several base URLs of the same model, as a YAML list, or one
string separated by ``,`` or ``|`` (lm-eval splits its model_args on commas, so there use
``|``); flags may also be repeated. Requests then go to the least busy replica
(``endpoints/replicas.py``); ``max_in_flight`` caps the calls in flight per replica::

    endpoints:
      reasoner: {base_url: [http://gpu1:8000/v1, http://gpu2:8000/v1], model: r, max_in_flight: 64}
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.ranges import non_negative_int, positive_float, positive_int
from hawkeye_bench.endpoints.client import Endpoint

ENDPOINT_KEYS = {
    "base_url", "model", "api_key_env", "timeout_s", "max_retries", "extra_body", "prices",
    "max_in_flight",
}  # fmt: skip
#: What separates the base URLs of replicas in one string (lm-eval model_args: only ``|``).
URL_SEPARATORS = re.compile(r"[,|]")
_BASE_URL = re.compile(r"https?://[^\s/?#]+(/\S*)?")
API_KEY_IN_FILE = (
    "api_key: keys are never read from files; put the key in an environment variable and "
    "name it with api_key_env: VAR"
)


class ConfigError(HawkeyeError):
    """The config file or flags do not describe a usable setup."""


def _checked_number(role: str, key: str, value: Any, convert: Callable[[str], Any]) -> Any:
    try:
        return convert(str(value))
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(f"endpoint {role!r}: {key}: {exc}") from None


def parse_base_urls(role: str, value: Any) -> tuple[str, ...]:
    """The base URLs of an endpoint: one URL, a string of URLs separated by ``,`` or ``|``,
    or a list of such strings (a YAML list, a repeated flag); trailing slashes dropped."""
    parts = value if isinstance(value, list | tuple) else [value]
    urls: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise ConfigError(
                f"endpoint {role!r}: base_url must be a URL or a list of URLs, not {part!r}"
            )
        for url in URL_SEPARATORS.split(part):
            url = url.strip().rstrip("/")
            if not url:
                raise ConfigError(
                    f"endpoint {role!r}: an empty URL in base_url {part!r}; separate replicas' "
                    "base URLs with ',' or '|' (in lm-eval model_args: '|'), none empty"
                )
            if not _BASE_URL.fullmatch(url):
                raise ConfigError(
                    f"endpoint {role!r}: {url!r} is not an http(s) base URL such as "
                    "http://host:8000/v1 (separate replicas with ',' or '|')"
                )
            urls.append(url)
    if not urls:
        raise ConfigError(f"endpoint {role!r}: base_url lists no URL")
    repeated = sorted({url for url in urls if urls.count(url) > 1})
    if repeated:
        raise ConfigError(f"endpoint {role!r}: base_url lists {', '.join(repeated)} twice")
    return tuple(urls)


def _endpoint_from_mapping(role: str, data: Any, *, timeout_s: float, retries: int) -> Endpoint:
    if not isinstance(data, dict) or "base_url" not in data or "model" not in data:
        raise ConfigError(f"endpoint {role!r} needs base_url and model")
    if "api_key" in data:
        raise ConfigError(f"endpoint {role!r}: {API_KEY_IN_FILE}")
    unknown = set(data) - ENDPOINT_KEYS
    if unknown:
        raise ConfigError(f"endpoint {role!r}: unknown keys {sorted(unknown)}")
    urls = parse_base_urls(role, data["base_url"])
    max_in_flight = data.get("max_in_flight")
    return Endpoint(
        base_url=urls[0],
        replica_urls=urls[1:],
        max_in_flight=(
            None
            if max_in_flight is None
            else _checked_number(role, "max_in_flight", max_in_flight, positive_int)
        ),
        model=str(data["model"]),
        api_key_env=data.get("api_key_env"),
        timeout_s=_checked_number(
            role, "timeout_s", data.get("timeout_s", timeout_s), positive_float
        ),
        max_retries=_checked_number(
            role, "max_retries", data.get("max_retries", retries), non_negative_int
        ),
        extra_body=dict(data.get("extra_body") or {}),
        prices=_prices(role, data.get("prices")),
        name=role,
    )


def _prices(role: str, prices: Any) -> dict[str, float | str] | None:
    """An endpoint's ``prices`` mapping, kept as given (checked by ``cost`` when it prices)."""
    if prices is None:
        return None
    if not isinstance(prices, dict) or not all(
        isinstance(v, int | float | str) and not isinstance(v, bool) for v in prices.values()
    ):
        raise ConfigError(
            f"endpoint {role!r}: prices must map names to numbers, e.g. "
            "{input: 0.15, output: 0.6} (USD per 1M tokens) or {gpu_hour_usd: 2.5, gpus: 1}"
        )
    return dict(prices)


@dataclass(frozen=True)
class EndpointSettings:
    """Where each role's model is, as a command line, a config file or lm-eval's model_args
    give it, before resolution: ``generic`` applies to every role not given on its own."""

    generic: Mapping[str, str | None] = field(default_factory=dict)  # base_url, model, key env
    per_role: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    from_file: Mapping[str, Any] = field(default_factory=dict)  # the file's endpoints mapping
    timeout_s: float = 3600.0
    max_retries: int = 3
    #: calls in flight per base URL at most, for endpoints whose own settings give no cap
    max_in_flight: int | None = None


def resolve_endpoints(settings: EndpointSettings, roles: Sequence[str]) -> dict[str, Endpoint]:
    """Endpoints for the roles a pipeline needs; an empty dict means "use the embedded model".

    Per role: its own URL and model (``--<role>-url/--<role>-model``), else the config file's
    entry for the role, else the generic ``--endpoint/--model`` (or the file's ``default``).
    """
    from_file = settings.from_file
    timeout_s, retries = settings.timeout_s, settings.max_retries
    generic: Mapping[str, Any] | None = None
    if settings.generic.get("base_url"):
        generic = settings.generic
    elif "default" in from_file:
        generic = from_file["default"]
    resolved: dict[str, Endpoint] = {}
    for role in roles:
        own = settings.per_role.get(role) or {}
        mapping = own if own.get("base_url") else (from_file.get(role) or generic)
        if mapping is None:
            continue
        if not mapping.get("model"):
            raise ConfigError(f"endpoint for role {role!r} ({mapping['base_url']}) needs a model")
        mapping = {k: v for k, v in mapping.items() if v is not None}
        if settings.max_in_flight is not None:
            mapping.setdefault("max_in_flight", settings.max_in_flight)
        resolved[role] = _endpoint_from_mapping(role, mapping, timeout_s=timeout_s, retries=retries)
    missing = [role for role in roles if role not in resolved]
    if resolved and missing:
        raise ConfigError(
            f"no endpoint for role(s) {missing}; give --{missing[0]}-url/--{missing[0]}-model, "
            "a generic --endpoint/--model, or an 'endpoints' entry in --config"
        )
    return resolved
