"""The flags of a pipeline's run options (``--keep``, ``--methods``, the route flags) and the
options they give; ``eval`` and ``serve`` share them, so a pipeline serves as it evaluates."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from hawkeye_bench.commands.arguments import comma_list
from hawkeye_bench.commands.route_arguments import add_route_arguments, route_options
from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.pipelines import Pipeline


class PipelineOptionsError(HawkeyeError):
    """Pipeline options that one run cannot take as given."""


def share_list(text: str) -> list[float]:
    """Comma-separated shares from 0 to 1."""
    from hawkeye_bench.core.ranges import share

    return comma_list(text, share)


def name_list(text: str) -> list[str]:
    return comma_list(text, str)


def add_compress_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep",
        type=share_list,
        help="compress pipeline: share of the CoT's tokens to keep, 0 to 1 (compress-sweep: "
        "several, comma-separated; default 0.3)",
    )
    parser.add_argument(
        "--methods",
        type=name_list,
        help="compress pipeline: compression method (llm, truncate, random, full, none; "
        "compress-sweep: several, comma-separated; default llm)",
    )
    parser.add_argument(
        "--strip-answer",
        action="store_true",
        default=None,
        help="compress pipeline: remove the final answer (boxes, answer statements) from the "
        "writer's CoT before compressing it (the record keeps both texts)",
    )
    parser.add_argument(
        "--percent-means",
        choices=["kept", "removed"],
        help="compress pipeline: what the compressor prompt's {percent} is, the kept share "
        "(default) or the removed share (compression rate); recorded in the run",
    )


def compress_options(args: argparse.Namespace) -> dict[str, Any]:
    """The compress options every run of a sweep shares (those given)."""
    given = {
        "strip_answer": getattr(args, "strip_answer", None),
        "percent_means": getattr(args, "percent_means", None),
    }
    return {key: value for key, value in given.items() if value is not None}


#: Each adds the flags of one pipeline's run options.
OptionArguments = Callable[[argparse.ArgumentParser], None]
ALL_OPTION_ARGUMENTS: tuple[OptionArguments, ...] = (add_compress_arguments, add_route_arguments)


def add_pipeline_option_arguments(
    parser: argparse.ArgumentParser, groups: tuple[OptionArguments, ...] = ALL_OPTION_ARGUMENTS
) -> None:
    """The run-option flags of ``groups`` (default: every pipeline's)."""
    for add in groups:
        add(parser)


def pipeline_options(args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline options of one run: ``--keep`` and ``--methods`` (one value each) and the
    route flags given."""
    options: dict[str, Any] = {}
    for flag, attribute, key in (("--keep", "keep", "keep"), ("--methods", "methods", "method")):
        values = getattr(args, attribute, None)
        if values and len(values) > 1:
            raise PipelineOptionsError(
                f"one run takes one {flag} value, got {len(values)}; "
                "hawkeye-bench compress-sweep runs several"
            )
        if values:
            options[key] = values[0]
    options.update(compress_options(args))
    options.update(route_options(args))
    return options


def preset_name_for(pipeline: type[Pipeline], preset: str, task: str | None = None) -> str:
    """The preset a run uses: when the flag says ``default``, the pipeline's own preset for the
    dataset ``task`` (``dataset_presets``), else its default preset."""
    if preset != "default":
        return preset
    return pipeline.dataset_presets.get(task or "", pipeline.default_preset)
