"""What a judge run asks of each answer (``hawkeye-bench judge`` flags), recorded in
``judge_summary.json`` as ``options``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass(frozen=True)
class JudgeOptions:
    show_reference: bool = False
    show_cot: bool = False
    pairwise: bool = False
    rejudge_fraction: float = 0.0
    limit: int | None = None
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JudgeOptions:
        """Options as written; one an older version did not write keeps its default."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
