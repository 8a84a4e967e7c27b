"""Prices per role (or model): token prices, GPU time, or both; a price book; named presets.

A role's prices are one mapping, as an endpoint's ``prices:`` in the eval config or an entry of
a ``prices.yaml`` (``hawkeye-bench cost --prices``)::

    reasoner: {input: 0.15, output: 0.6, gpu_hour_usd: 2.5, gpus: 1, placement: dedicated}
    responder: {input_cost_per_token: 2.0e-8, output: 0.06, placement: colocated}
    load_targets: {baseline: [single], hawkeye: [reasoner, responder]}

Token prices are USD per million tokens (:class:`~hawkeye_bench.cost.pricing.TokenPrices`,
LiteLLM's names accepted). GPU time: ``gpu_hour_usd`` per GPU, ``gpus`` and a ``placement``:
``dedicated`` (the role has its GPUs to itself), ``colocated`` (every co-located role of a
pipeline shares one set of GPUs) or ``shared`` (a fleet shared with other work; the role pays
``share`` of its GPUs' time). ``load_targets`` (GPU-time view only) names the roles that serve
each target of a load test. A key is looked up as the role first, then as the model name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hawkeye_bench import pipelines
from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.yaml_files import read_yaml_file
from hawkeye_bench.cost.pricing import LITELLM_KEYS, TokenPrices

Placement = Literal["dedicated", "colocated", "shared"]
TOKEN_KEYS = frozenset({"input", "cached_input", "output", "reasoning", *LITELLM_KEYS})
LOAD_TARGETS_KEY = "load_targets"
#: The poster preset's default price of the small model's tokens, relative to the large one's.
POSTER_RATIO = 0.1


class PricesError(HawkeyeError):
    """A prices mapping or file is not usable."""


class GpuPrices(BaseModel):
    """GPU time of one role: USD per GPU-hour, GPU count, placement (and a fleet share)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gpu_hour_usd: float = Field(ge=0)
    gpus: float = Field(default=1.0, gt=0)
    placement: Placement = "dedicated"
    share: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _share_for_shared(self) -> GpuPrices:
        if self.placement == "shared" and self.share is None:
            raise ValueError("placement 'shared' needs share: the fraction of the GPUs' time paid")
        if self.placement != "shared" and self.share is not None:
            raise ValueError("share is only for placement 'shared'")
        return self

    @property
    def usd_per_hour(self) -> float:
        """What this role's GPUs cost per hour (its share of them on a shared fleet)."""
        return self.gpu_hour_usd * self.gpus * (self.share if self.share is not None else 1.0)


@dataclass(frozen=True)
class RolePrices:
    """Everything known about one role's prices; either part may be None (not given)."""

    tokens: TokenPrices | None = None
    gpu: GpuPrices | None = None

    @classmethod
    def parse(cls, data: Any, where: str) -> RolePrices:
        if not isinstance(data, Mapping):
            raise PricesError(f"{where}: prices must be a mapping, not {type(data).__name__}")
        token_part = {k: v for k, v in data.items() if k in TOKEN_KEYS}
        gpu_part = {k: v for k, v in data.items() if k not in TOKEN_KEYS}
        if gpu_part and "gpu_hour_usd" not in gpu_part:
            raise PricesError(
                f"{where}: unknown price keys {sorted(gpu_part)} (token prices: "
                f"{', '.join(sorted(TOKEN_KEYS))}; GPU time: gpu_hour_usd, gpus, placement, share)"
            )
        try:
            tokens = TokenPrices.model_validate(token_part) if token_part else None
            gpu = GpuPrices.model_validate(gpu_part) if gpu_part else None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'prices'}: {e['msg']}"
                for e in exc.errors()
            )
            raise PricesError(f"{where}: {problems}") from None
        return cls(tokens=tokens, gpu=gpu)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.tokens is not None:
            out.update(self.tokens.model_dump(exclude_none=True))
        if self.gpu is not None:
            out.update(self.gpu.model_dump(exclude_none=True))
        return out


@dataclass(frozen=True)
class PriceBook:
    """Prices by role or model name, with where they came from (a file, a preset, a run)."""

    entries: Mapping[str, RolePrices] = field(default_factory=dict)
    source: str = ""
    load_targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def lookup(self, role: str, model: str | None = None) -> RolePrices | None:
        """The prices of ``role``, else of its ``model``; None: no prices given."""
        if role in self.entries:
            return self.entries[role]
        if model is not None and model in self.entries:
            return self.entries[model]
        return None

    def token_prices(self, role: str, model: str | None = None) -> TokenPrices | None:
        """The token prices of ``role``, else of its ``model`` (an entry may give GPU time only)."""
        for key in (role, model):
            entry = self.entries.get(key) if key is not None else None
            if entry is not None and entry.tokens is not None:
                return entry.tokens
        return None

    @classmethod
    def from_mapping(cls, data: Any, source: str) -> PriceBook:
        if not isinstance(data, Mapping):
            raise PricesError(f"{source}: expected a mapping of role or model name to prices")
        targets_raw = data.get(LOAD_TARGETS_KEY) or {}
        if not isinstance(targets_raw, Mapping) or not all(
            isinstance(v, list) and all(isinstance(r, str) for r in v) for v in targets_raw.values()
        ):
            raise PricesError(f"{source}: {LOAD_TARGETS_KEY} maps a load target to a list of roles")
        entries = {
            str(key): RolePrices.parse(value, f"{source}: {key}")
            for key, value in data.items()
            if key != LOAD_TARGETS_KEY
        }
        targets = {str(k): tuple(v) for k, v in targets_raw.items()}
        return cls(entries=entries, source=source, load_targets=targets)

    @classmethod
    def from_file(cls, path: str | Path) -> PriceBook:
        data = read_yaml_file(path, "prices file", PricesError)
        return cls.from_mapping(data or {}, str(path))

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], source: str) -> PriceBook:
        """The ``prices`` each endpoint of a run carried (recorded in its manifest)."""
        entries: dict[str, RolePrices] = {}
        for role, endpoint in (manifest.get("endpoints") or {}).items():
            prices = endpoint.get("prices") if isinstance(endpoint, Mapping) else None
            if prices:
                entries[str(role)] = RolePrices.parse(prices, f"{source}: endpoint {role}")
        return cls(entries=entries, source=source)


def poster_preset(small_model_ratio: float = POSTER_RATIO) -> PriceBook:
    """The poster's "Serving Cost (%)" as token prices: output tokens of the large model (the
    baseline's and the reasoner's) cost 1 per token, the responder's cost ``r`` of that, input
    tokens nothing. The ratio to the baseline is then
    ``(reasoner tokens + r x responder tokens) / baseline tokens``."""
    if not 0 <= small_model_ratio <= 1:
        raise PricesError(f"--small-model-ratio must be in [0, 1], not {small_model_ratio}")
    large = RolePrices(tokens=TokenPrices(input=0.0, output=1.0))
    small = RolePrices(tokens=TokenPrices(input=0.0, output=small_model_ratio))
    entries: dict[str, RolePrices] = {}
    for cls in pipelines.registered().values():
        for role in cls.roles:
            is_large = cls.is_baseline or role == cls.cot_role
            if is_large or role not in entries:
                entries[role] = large if is_large else small
    note = (
        f"preset poster: relative prices, not USD: input tokens free, the large model's output "
        f"tokens 1, the responder's output tokens r = {small_model_ratio:g} of that; cost % = "
        f"(reasoner tokens + r x responder tokens) / baseline tokens. A reconstruction: the "
        f"paper does not state its formula."
    )
    return PriceBook(
        entries=entries,
        source=f"preset poster (r = {small_model_ratio:g})",
        notes=(note,),
    )


PRESETS = {"poster": poster_preset}
