"""Pipelines by name. A new pipeline subclasses Pipeline and is added with register_pipeline."""

from __future__ import annotations

from hawkeye_bench.pipelines.base import DeltaCallback, Pipeline, StageClient
from hawkeye_bench.pipelines.baseline import BaselinePipeline
from hawkeye_bench.pipelines.hawkeye import HawkeyePipeline

PIPELINES: dict[str, type[Pipeline]] = {}


def register_pipeline(cls: type[Pipeline]) -> type[Pipeline]:
    PIPELINES[cls.name] = cls
    return cls


def pipeline_names() -> list[str]:
    return sorted(PIPELINES)


def get_pipeline(name: str) -> type[Pipeline]:
    try:
        return PIPELINES[name]
    except KeyError:
        valid = ", ".join(pipeline_names())
        raise ValueError(f"unknown pipeline {name!r}; valid: {valid}") from None


register_pipeline(BaselinePipeline)
register_pipeline(HawkeyePipeline)

__all__ = [
    "PIPELINES",
    "DeltaCallback",
    "Pipeline",
    "StageClient",
    "get_pipeline",
    "pipeline_names",
    "register_pipeline",
]
