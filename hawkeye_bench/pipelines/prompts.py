"""How each stage of a pipeline is prompted and sampled: :class:`StagePrompt`, and a
:class:`Preset` (one per role). Pipelines read these; ``hawkeye_bench.presets`` makes them from
YAML files (it checks a file's stages against the pipelines' roles, so it sits above them).

Templates substitute only ``{question}`` (alias ``{problem}``) and ``{cot}``; every other brace
is literal, so LaTeX such as ``\\boxed{}`` needs no escaping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from hawkeye_bench.core.errors import HawkeyeError

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
