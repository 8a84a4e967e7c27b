"""Prompt presets: prompts and sampling per pipeline stage, kept as YAML data.

Built-in presets live beside this file. Users add their own without touching code: pass a path
to a YAML file as the preset name, or put files in a folder named by ``HAWKEYE_PRESETS_DIR``.

Templates substitute only ``{question}`` (alias ``{problem}``) and ``{cot}``; every other brace
is literal, so LaTeX such as ``\\boxed{}`` needs no escaping.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.user_data import PRESETS
from hawkeye_bench.core.yaml_files import read_yaml_file

STAGE2_INPUTS = ("full", "think-only", "answer-masked")
FIELDS = ("{question}", "{problem}", "{cot}")
#: All fields in one pattern: a template is scanned once, so text put in (a question holding
#: ``\operatorname{cot}``, a chain of thought quoting ``{question}``) is never scanned again.
_FIELD_PATTERN = re.compile("|".join(re.escape(f) for f in FIELDS))


class PresetError(HawkeyeError):
    """A preset is unknown or malformed."""


@dataclass(frozen=True)
class StagePrompt:
    """How one stage is prompted and sampled."""

    template: str
    api: Literal["chat", "completion"] = "chat"
    max_tokens: int = 1024
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    system: str | None = None
    extra_body: dict[str, Any] = field(default_factory=dict, hash=False)

    def render(self, question: str, cot: str = "") -> str:
        values = {"{question}": question, "{problem}": question, "{cot}": cot}
        return _FIELD_PATTERN.sub(lambda match: values[match.group(0)], self.template)


@dataclass(frozen=True)
class Preset:
    name: str
    stages: dict[str, StagePrompt]
    description: str = ""
    source: str = ""
    stage2_input: str = "think-only"
    path: str = ""

    def stage(self, role: str) -> StagePrompt:
        if role not in self.stages:
            raise PresetError(f"preset {self.name!r} has no {role!r} stage ({self.path})")
        return self.stages[role]

    def with_overrides(self, **overrides: Any) -> Preset:
        """This preset with sampling fields (max_tokens, temperature, ...) set on all stages."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        stages = {role: replace(stage, **given) for role, stage in self.stages.items()}
        return replace(self, stages=stages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "path": self.path,
            "stage2_input": self.stage2_input,
            "stages": {
                role: {
                    "api": s.api,
                    "template": s.template,
                    "max_tokens": s.max_tokens,
                    "temperature": s.temperature,
                    "top_p": s.top_p,
                    "stop": list(s.stop),
                    "system": s.system,
                    "extra_body": s.extra_body,
                }
                for role, s in self.stages.items()
            },
        }


def _search_dirs() -> list[Path]:
    """``$HAWKEYE_PRESETS_DIR`` first, then the built-in presets (``presets/`` of a checkout,
    or the wheel's copy)."""
    return PRESETS.search_dirs()


def preset_names() -> list[str]:
    names = {p.stem for d in _search_dirs() if d.is_dir() for p in d.glob("*.yaml")}
    return sorted(names)


def _parse_stage(role: str, data: Any, path: Path) -> StagePrompt:
    if not isinstance(data, dict) or not isinstance(data.get("template"), str):
        raise PresetError(f"{path}: stage {role!r} needs a 'template' string")
    unknown = set(data) - {
        "template", "api", "max_tokens", "temperature", "top_p", "stop", "system", "extra_body"
    }  # fmt: skip
    if unknown:
        raise PresetError(f"{path}: stage {role!r} has unknown keys {sorted(unknown)}")
    api = data.get("api", "chat")
    if api not in ("chat", "completion"):
        raise PresetError(f"{path}: stage {role!r}: api must be 'chat' or 'completion': {api!r}")
    return StagePrompt(
        template=data["template"],
        api=api,
        max_tokens=int(data.get("max_tokens", 1024)),
        temperature=data.get("temperature"),
        top_p=data.get("top_p"),
        stop=tuple(data.get("stop") or ()),
        system=data.get("system"),
        extra_body=dict(data.get("extra_body") or {}),
    )


def load_preset_file(path: Path) -> Preset:
    data = read_yaml_file(path, "preset file", PresetError)
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        raise PresetError(f"{path}: a preset needs a 'stages' mapping")
    from hawkeye_bench.pipelines import all_roles  # pipelines import presets: not at load

    known_roles = all_roles()
    unknown_roles = set(data["stages"]) - set(known_roles)
    if unknown_roles:
        raise PresetError(
            f"{path}: unknown stages {sorted(unknown_roles)}; valid: the roles of the "
            f"registered pipelines, {', '.join(known_roles)}"
        )
    stage2_input = data.get("stage2_input", "think-only")
    if stage2_input not in STAGE2_INPUTS:
        raise PresetError(
            f"{path}: stage2_input {stage2_input!r}; valid: {', '.join(STAGE2_INPUTS)}"
        )
    return Preset(
        name=str(data.get("name", path.stem)),
        description=str(data.get("description", "")),
        source=str(data.get("source", "")),
        stage2_input=stage2_input,
        stages={role: _parse_stage(role, s, path) for role, s in data["stages"].items()},
        path=str(path),
    )


def _looks_like_path(value: str) -> bool:
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(sep in value for sep in separators) or value.endswith((".yaml", ".yml"))


def load_preset(name_or_path: str) -> Preset:
    """A preset by name (built-in or in HAWKEYE_PRESETS_DIR) or by path to a YAML file.

    A value with a path separator or a .yaml/.yml ending is a path: when no such file exists
    the error says so, rather than calling it an unknown preset name.
    """
    candidate = Path(name_or_path)
    looks_like_path = _looks_like_path(name_or_path)
    if looks_like_path and candidate.is_file():
        return load_preset_file(candidate)
    for directory in _search_dirs():
        path = directory / f"{name_or_path}.yaml"
        if path.is_file():
            return load_preset_file(path)
    if looks_like_path:
        if candidate.exists():
            raise PresetError(f"preset file {name_or_path} is not a file")
        raise PresetError(f"preset file {name_or_path} does not exist")
    raise PresetError(
        f"unknown preset {name_or_path!r}; valid: {', '.join(preset_names())} "
        "(or a path to a preset .yaml file)"
    )
