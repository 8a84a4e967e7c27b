"""Each pipeline option declared once (pipelines/options.py): validation, defaults, text values,
identity, and the flags, config keys and model_args derived from the declaration."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pytest

from hawkeye_bench.commands.arguments import load_config_file, set_config_defaults
from hawkeye_bench.commands.eval import build_parser
from hawkeye_bench.commands.pipeline_options import (
    PipelineOptionsError,
    given_options,
    pipeline_options,
)
from hawkeye_bench.pipelines import get_pipeline
from hawkeye_bench.pipelines.compress import CompressOptions
from hawkeye_bench.pipelines.options import (
    PipelineOptionError,
    PipelineOptions,
    integer,
    option,
)
from hawkeye_bench.pipelines.route_options import RouteOptions


def _eval_args(*argv: str) -> argparse.Namespace:
    return build_parser(argparse.ArgumentParser()).parse_args(list(argv))


def test_an_unknown_option_is_refused_naming_those_the_pipeline_takes() -> None:
    with pytest.raises(PipelineOptionError, match=r"pipeline 'baseline' takes no option keep"):
        get_pipeline("baseline").check_options({"keep": 0.3})
    with pytest.raises(PipelineOptionError, match=r"takes no option nope \(it takes: keep, "):
        get_pipeline("compress").check_options({"nope": 1})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"keep": 1.5}, "keep must be a share from 0 to 1, not 1.5"),
        ({"keep": "lots"}, "keep must be a share from 0 to 1, not 'lots'"),
        ({"strip_answer": "maybe"}, "strip_answer must be true or false"),
        ({"percent_means": "half"}, "percent_means must be one of kept, removed, not 'half'"),
        ({"method": "zip"}, "unknown compression method 'zip'"),
    ],
)
def test_a_bad_compress_value_is_one_clear_line(given: dict[str, object], message: str) -> None:
    with pytest.raises(PipelineOptionError, match=message):
        CompressOptions.check(given, "compress")


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"chunk": 0}, "chunk must be an integer >= 1, not 0"),
        ({"chunk": True}, "chunk must be an integer >= 1, not True"),
        ({"rtt_ms": float("nan")}, "rtt_ms must be a number >= 0"),
        ({"only": "middle"}, "only must be small or large \\(an anchor run\\), not 'middle'"),
        ({"router": "nope"}, "unknown router 'nope'"),
        ({"router": "top1", "threshold": 1.5}, "takes a threshold from 0 to 1"),
        ({"threshold": 0.5, "target_share": 0.2}, "a threshold or a target share, not both"),
        ({"target_share": 1.0}, "target_share must be above 0 and below 1"),
    ],
)
def test_a_bad_route_value_is_one_clear_line(given: dict[str, object], message: str) -> None:
    with pytest.raises(PipelineOptionError, match=message):
        RouteOptions.check(given, "route")


def test_resolve_fills_in_the_defaults_and_reads_texts_as_the_flags_do() -> None:
    assert CompressOptions.resolve({}) == CompressOptions(0.3, "llm", False, "kept")
    options = CompressOptions.resolve({"keep": "0.5", "strip_answer": "true"})
    assert options.keep == 0.5 and options.strip_answer is True
    route = RouteOptions.resolve({"chunk": "4", "router": "entropy"})
    assert (route.chunk, route.router, route.threshold, route.span) == (4, "entropy", None, 1)


def test_the_identity_is_the_options_given() -> None:
    given = CompressOptions.check({"keep": 0.5}, "compress")
    assert CompressOptions.identity(given) == {"keep": 0.5}  # no default added: old runs resume


def test_take_removes_the_pipelines_model_args() -> None:
    model_args = {"keep": 0.3, "method": "truncate", "url": "u"}
    assert CompressOptions.take(model_args) == {"keep": 0.3, "method": "truncate"}
    assert model_args == {"url": "u"}


def test_the_flags_are_derived_from_the_declarations() -> None:
    args = _eval_args(
        *("--keep", "0.5", "--methods", "truncate", "--strip-answer", "--chunk-tokens", "4"),
        *("--prompt-ids", "--anchor", "small", "--threshold", "0.2", "--router", "margin"),
    )
    assert pipeline_options(args) == {
        "keep": 0.5, "method": "truncate", "strip_answer": True, "router": "margin",
        "threshold": 0.2, "chunk": 4, "prompt_mode": "tokens", "only": "small",
    }  # fmt: skip
    assert pipeline_options(_eval_args()) == {}


def test_one_run_takes_one_value_of_a_sweep_flag() -> None:
    args = _eval_args("--keep", "0.3,0.5")
    with pytest.raises(PipelineOptionsError, match="compress-sweep runs several"):
        pipeline_options(args)
    routed = _eval_args("--threshold", "0.1,0.2", "--rtt-ms", "40")
    assert given_options(routed, RouteOptions, sweep=True) == {"rtt_ms": 40.0}


def test_a_config_file_uses_the_flags_long_names(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("keep: [0.4]\nchunk_tokens: 6\nprompt_ids: true\nstrip_answer: false\n")
    parser = build_parser(argparse.ArgumentParser())
    set_config_defaults(parser, load_config_file(config))
    options = pipeline_options(parser.parse_args([]))
    assert options == {"keep": 0.4, "chunk": 6, "prompt_mode": "tokens", "strip_answer": False}


def test_a_new_option_is_one_line() -> None:
    @dataclass(frozen=True)
    class Sketch(PipelineOptions):
        drafts: int = option(integer(1, 4), 2, "drafts per question")

    (spec,) = Sketch.specs()
    assert (spec.name, spec.flag, spec.dest, spec.default) == ("drafts", "--drafts", "drafts", 2)
    assert Sketch.resolve({"drafts": "3"}).drafts == 3
    with pytest.raises(PipelineOptionError, match="drafts must be an integer from 1 to 4"):
        Sketch.check({"drafts": 9})
