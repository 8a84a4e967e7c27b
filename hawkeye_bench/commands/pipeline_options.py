"""The flags of the pipelines' run options, derived from each pipeline's ``options``
(:mod:`hawkeye_bench.pipelines.options`): ``eval`` and ``serve`` take every pipeline's, so a
pipeline serves as it evaluates; a sweep command takes its pipeline's, with lists.

An option's flag is ``--<name>`` unless the option names another (``--methods``,
``--chunk-tokens``, ``--prompt-ids``, ``--anchor``); its ``--config`` key is the flag's long
name. A ``sweeps`` option's flag takes a comma-separated list: a sweep runs each value, a run
takes one.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hawkeye_bench.commands.arguments import check_role_flags, comma_list, endpoint_settings
from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.endpoints.endpoint import Endpoint
from hawkeye_bench.endpoints.settings import resolve_endpoints
from hawkeye_bench.pipelines import PIPELINES, Pipeline, get_pipeline
from hawkeye_bench.pipelines.options import OptionValues, PipelineOption, PipelineOptions
from hawkeye_bench.pipelines.prompts import Preset
from hawkeye_bench.presets import load_preset


class PipelineOptionsError(HawkeyeError):
    """Pipeline options that one run cannot take as given."""


def _list_of(convert: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        return comma_list(text, convert)

    parse.__name__ = f"list of {getattr(convert, '__name__', 'values')}"
    return parse


def _help(spec: PipelineOption, sweep_command: str) -> str:
    """The option's help with its default, and what a sweep takes."""
    parts = [spec.help]
    if spec.switch is None and spec.default is not None:
        parts.append(f"default {spec.default}")
    if spec.sweeps and sweep_command:
        parts.append(f"{sweep_command}: several, comma-separated")
    return "; ".join(parts).replace("%", "%%")


def _add_flag(group: Any, spec: PipelineOption, sweep_command: str) -> None:
    help = _help(spec, sweep_command)
    if spec.switch is not None:
        group.add_argument(spec.flag, dest=spec.dest, action="store_true", default=None, help=help)
    elif spec.sweeps:
        group.add_argument(spec.flag, dest=spec.dest, type=_list_of(spec.kind.from_text), help=help)
    else:
        choices = list(spec.kind.choices) or None
        group.add_argument(
            spec.flag, dest=spec.dest, type=spec.kind.from_text, choices=choices, help=help
        )


def option_sets(pipelines: Sequence[str] | None = None) -> list[type[Pipeline]]:
    """The pipelines whose option flags a command takes (default: every registered one)."""
    if pipelines is None:
        return list(PIPELINES.values())
    return [PIPELINES.lookup(name) for name in pipelines]


def add_pipeline_option_arguments(
    parser: argparse.ArgumentParser, pipelines: Sequence[str] | None = None
) -> None:
    """The run-option flags of ``pipelines`` (default: every registered pipeline's), a group
    per pipeline; an option two pipelines share has one flag."""
    seen: set[str] = set()
    for cls in option_sets(pipelines):
        specs = [spec for spec in cls.options.specs() if spec.dest not in seen]
        if not specs:
            continue
        group = parser.add_argument_group(f"{cls.name} pipeline ({cls.display_name})")
        for spec in specs:
            _add_flag(group, spec, cls.options.sweep_command)
            seen.add(spec.dest)


def _given(args: argparse.Namespace, spec: PipelineOption) -> Any:
    """The value the flag (or the config file) gives, None when it gives none; a list for a
    ``sweeps`` option's flag."""
    value = getattr(args, spec.dest, None)
    if spec.switch is None or value is None:
        return value
    if isinstance(spec.switch, bool):
        return bool(value)  # a config file's false is given as false
    return spec.switch if value else None


def given_options(
    args: argparse.Namespace, options: type[PipelineOptions], *, sweep: bool = False
) -> OptionValues:
    """The options of ``options`` that the flags give. ``sweep``: leave out those a sweep
    runs several values of (it runs each)."""
    found: OptionValues = {}
    for spec in options.specs():
        value = _given(args, spec)
        if value is None or (sweep and spec.sweeps):
            continue
        if spec.sweeps:
            if len(value) > 1:
                raise PipelineOptionsError(
                    f"one run takes one {spec.flag} value, got {len(value)}; "
                    f"hawkeye-bench {options.sweep_command} runs several"
                )
            value = value[0]
        found[spec.name] = value
    return found


def pipeline_options(args: argparse.Namespace) -> OptionValues:
    """The pipeline options of one run: every option flag given (one value each), whichever
    pipeline takes it; the pipeline's ``check_options`` refuses those it does not take."""
    found: OptionValues = {}
    for cls in option_sets():
        for name, value in given_options(args, cls.options).items():
            found.setdefault(name, value)
    return found


def preset_name_for(pipeline: type[Pipeline], preset: str, task: str | None = None) -> str:
    """The preset a run uses: when the flag says ``default``, the pipeline's own preset for the
    dataset ``task`` (``dataset_presets``), else its default preset."""
    if preset != "default":
        return preset
    return pipeline.dataset_presets.get(task or "", pipeline.default_preset)


@dataclass(frozen=True)
class PipelineRun:
    """What ``eval`` and ``serve`` resolve from the command line before any model server
    starts, in the same order (so the same bad flag gives the same error in both)."""

    pipeline: type[Pipeline]
    options: OptionValues
    preset: Preset
    endpoints: dict[str, Endpoint]


def resolve_pipeline_run(
    args: argparse.Namespace,
    *,
    task: str | None = None,
    options: Mapping[str, object] | None = None,
) -> PipelineRun:
    """The pipeline, its checked options (``options`` replaces the flags': a sweep's run), its
    preset (for dataset ``task``) and its roles' endpoints (empty: the embedded model)."""
    pipeline = get_pipeline(args.pipeline)
    check_role_flags(args, pipeline.name, pipeline.roles)
    checked = pipeline.check_options(pipeline_options(args) if options is None else options)
    preset = load_preset(preset_name_for(pipeline, args.preset, task))
    endpoints = resolve_endpoints(endpoint_settings(args), pipeline.roles)
    return PipelineRun(pipeline, checked, preset, endpoints)
