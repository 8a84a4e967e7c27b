"""Prompt presets: prompts and sampling per pipeline stage, kept as YAML data.

Built-in presets live beside this file. Users add their own without touching code: pass a path
to a YAML file as the preset name, or put files in a folder named by ``HAWKEYE_PRESETS_DIR``.

The types, and how a template is filled, are :mod:`hawkeye_bench.pipelines.prompts`; this module
reads the files and checks their stages against the roles of the registered pipelines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hawkeye_bench.core.user_data import PRESETS
from hawkeye_bench.core.yaml_files import read_yaml_file
from hawkeye_bench.pipelines import all_roles
from hawkeye_bench.pipelines.prompts import Preset, PresetError, StagePrompt

__all__ = [
    "STAGE2_INPUTS",
    "Preset",
    "PresetError",
    "StagePrompt",
    "load_preset",
    "load_preset_file",
    "preset_names",
]

STAGE2_INPUTS = ("full", "think-only", "answer-masked")


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
