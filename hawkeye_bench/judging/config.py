"""Judge panels and rubrics, read from the YAML files in the top-level ``judges/`` folder.

``judges/rubrics/<name>.yaml`` holds one criterion (rubric text, scale, version);
``judges/panels/<name>.yaml`` holds the judges of one panel (endpoint, model, the NAME of the
environment variable holding the key, capabilities, limits, prices). Users add a criterion or
a judge by adding a file; no code changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.user_data import JUDGES
from hawkeye_bench.core.yaml_files import read_yaml_file
from hawkeye_bench.cost.pricing import TokenPrices

#: How a provider is asked for JSON. ``json_schema``: OpenAI strict structured outputs.
#: ``json_object_schema``: ``{"type": "json_object", "schema": ...}`` (llama-cpp-python, which
#: compiles the schema into a grammar). ``json_object``: JSON mode without a schema.
#: ``prompt``: the shape is described in the prompt only and the reply is parsed tolerantly.
StructuredOutput = Literal["json_schema", "json_object_schema", "json_object", "prompt"]

DEFAULT_CRITERIA = ("clarity", "coherence", "conciseness")
JUDGES_DIR_ENV = JUDGES.env_var


class JudgeConfigError(HawkeyeError):
    """A panel or rubric file is missing or invalid; the message names the file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Scale(_Strict):
    min: int = 1
    max: int = 10

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.min >= self.max:
            raise ValueError(f"scale min ({self.min}) must be below max ({self.max})")
        return self


class Criterion(_Strict):
    """One rated axis. ``version`` is part of the cache key: bump it when the rubric changes."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str = ""
    version: int = 1
    scale: Scale = Scale()
    rubric: str


class TemperatureRange(_Strict):
    min: float = 0.0
    max: float = 2.0


class Capabilities(_Strict):
    structured_output: StructuredOutput = "prompt"
    logprobs: bool = False
    temperature: TemperatureRange = TemperatureRange()
    token_limit_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    seed: bool = False


#: A judge's ``prices``: USD per million tokens, or LiteLLM's per-token key names; None =
#: unknown (the ledger then reports cost as unknown). See :mod:`hawkeye_bench.cost.pricing`.
Prices = TokenPrices


class Limits(_Strict):
    concurrency: int = Field(default=4, ge=1)
    rpm: float | None = Field(default=None, gt=0)


class JudgeSpec(_Strict):
    """One judge model. ``embedded`` judges get base_url/model from the local model server."""

    name: str
    family: str = ""
    provider: str
    base_url: str | None = None
    model: str | None = None
    api_key_env: str | None = None
    embedded: bool = False
    capabilities: Capabilities = Capabilities()
    prices: Prices = Prices()
    limits: Limits = Limits()
    max_tokens: int = Field(default=1024, ge=1)
    temperature: float = 0.0
    seed: int | None = 0
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    explanation_max_chars: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _endpoint_given(self) -> JudgeSpec:
        if not self.embedded and (not self.base_url or not self.model):
            raise ValueError(f"judge {self.name!r} needs base_url and model (or embedded: true)")
        return self

    @property
    def effective_temperature(self) -> float:
        """The configured temperature clipped to what the provider allows."""
        rng = self.capabilities.temperature
        return min(max(self.temperature, rng.min), rng.max)


class Panel(_Strict):
    name: str
    description: str = ""
    judges: tuple[JudgeSpec, ...]

    @model_validator(mode="after")
    def _unique_names(self) -> Panel:
        names = [j.name for j in self.judges]
        if not names:
            raise ValueError("a panel needs at least one judge")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"judge names must be unique; repeated: {', '.join(duplicates)}")
        return self

    @property
    def needs_local_server(self) -> bool:
        return any(j.embedded for j in self.judges)


def default_judges_dir() -> Path:
    """``$HAWKEYE_JUDGES_DIR``, else ``./judges``, else the ``judges/`` folder of this checkout,
    else the copy installed with the wheel (package ``hawkeye_bench.judges_data``)."""
    found = JUDGES.find()
    if found is None:
        raise JudgeConfigError(f"no judges folder: set {JUDGES.env_var} or reinstall")
    return found


def _names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def available_panels(judges_dir: Path) -> list[str]:
    return _names(judges_dir / "panels")


def available_criteria(judges_dir: Path) -> list[str]:
    return _names(judges_dir / "rubrics")


def _load_yaml(path: Path, kind: str, choices: list[str]) -> Mapping[str, object]:
    if not path.is_file():
        listed = ", ".join(choices) or "none"
        raise JudgeConfigError(f"unknown {kind} {path.stem!r} (no {path}); choices: {listed}")
    data = read_yaml_file(path, f"{kind} file", JudgeConfigError)
    if not isinstance(data, dict):
        raise JudgeConfigError(f"{path}: expected a mapping at the top level")
    return data


def _validation_message(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid {exc.title}"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return "\n".join(lines)


def load_criteria(judges_dir: Path, names: Iterable[str] = DEFAULT_CRITERIA) -> list[Criterion]:
    choices = available_criteria(judges_dir)
    criteria = []
    for name in names:
        path = judges_dir / "rubrics" / f"{name}.yaml"
        data = _load_yaml(path, "criterion", choices)
        try:
            criterion = Criterion.model_validate(data)
        except ValidationError as exc:
            raise JudgeConfigError(_validation_message(path, exc)) from exc
        if criterion.name != name:
            raise JudgeConfigError(f"{path}: name {criterion.name!r} differs from file name")
        criteria.append(criterion)
    if not criteria:
        raise JudgeConfigError(f"no criteria chosen; choices: {', '.join(choices)}")
    return criteria


def load_panel(judges_dir: Path, name: str) -> Panel:
    path = judges_dir / "panels" / f"{name}.yaml"
    data = _load_yaml(path, "panel", available_panels(judges_dir))
    try:
        return Panel.model_validate(data)
    except ValidationError as exc:
        raise JudgeConfigError(_validation_message(path, exc)) from exc


def missing_key_variables(panel: Panel) -> list[str]:
    """Names of key variables the panel needs that are unset or empty in the environment."""
    return sorted(
        {j.api_key_env for j in panel.judges if j.api_key_env and not os.environ.get(j.api_key_env)}
    )
