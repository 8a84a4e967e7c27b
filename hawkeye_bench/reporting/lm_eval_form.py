"""The parts of an lm-eval ``results_<date>.json`` the report reads, as typed JSON shapes.

The file is lm-eval's, so every key is optional and each reader checks a value's kind before it
uses it; ``config.hawkeye`` is what the hawkeye lm-eval model adds
(``hawkeye_bench.lmeval.model.HawkeyeLM.get_model_info``).
"""

from __future__ import annotations

from typing import TypedDict

#: a value of lm-eval's ``model_args`` when it is given as an object
ModelArgValue = str | int | float | bool | None


class EndpointInfo(TypedDict, total=False):
    """One role's endpoint in ``config.hawkeye.endpoints`` (the keys the report reads)."""

    model: str
    base_url: str


class HawkeyeModelInfo(TypedDict, total=False):
    """``config.hawkeye``: what ran where, and how many requests failed."""

    pipeline: str
    preset: str
    preset_path: str | None
    stage2_input: str | None
    endpoints: dict[str, EndpointInfo]
    embedded_model: bool
    num_concurrent: int
    seed: int | None
    requests: int
    failures: int
    failure_types: dict[str, int]
    traces: str


class LmEvalConfig(TypedDict, total=False):
    """``results_<date>.json["config"]``: the model and its arguments ("k=v,k=v" or an
    object)."""

    model: str
    model_args: str | dict[str, ModelArgValue]
    hawkeye: HawkeyeModelInfo


class LmEvalMeta(TypedDict, total=False):
    """The top-level facts of the newest results file (``date``: epoch seconds, or text)."""

    lm_eval_version: str | None
    date: float | str | None
    model_name: str | None
    git_hash: str | None
