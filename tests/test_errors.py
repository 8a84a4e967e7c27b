"""User errors share one base class, caught once by the CLI: one `error:` line per message line,
no traceback, a documented exit code. Anything else is a bug and keeps its traceback."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from hawkeye_bench import cli
from hawkeye_bench.commands import report as report_command
from hawkeye_bench.commands.arguments import FlagsError
from hawkeye_bench.commands.lm_eval import LmEvalArgumentError, TaskFileError
from hawkeye_bench.commands.load import DistributedSetupError
from hawkeye_bench.commands.pipeline_options import PipelineOptionsError
from hawkeye_bench.commands.reward import RewardInputError
from hawkeye_bench.commands.sweep_runner import SweepFolderError
from hawkeye_bench.core.errors import HawkeyeError, RunStopped
from hawkeye_bench.core.folder_lock import FolderLocked
from hawkeye_bench.core.secrets import MissingApiKey, remember_secret
from hawkeye_bench.core.writable import OutputPathError
from hawkeye_bench.datasets import DatasetError
from hawkeye_bench.endpoints.client import EndpointUnavailable
from hawkeye_bench.endpoints.settings import ConfigError
from hawkeye_bench.eval.health import EndpointStoppedAnswering, ModelServerDied
from hawkeye_bench.eval.store import RunStoreError
from hawkeye_bench.eval.sweep_folder import SweepFileError
from hawkeye_bench.importing.rows import ImportInputError
from hawkeye_bench.judging.config import JudgeConfigError
from hawkeye_bench.judging.results import JudgementsFileError
from hawkeye_bench.judging.session import JudgeSetupError
from hawkeye_bench.lmeval import TasksNotFound
from hawkeye_bench.load.endpoint import EndpointError
from hawkeye_bench.load.prompts import PromptSourceError
from hawkeye_bench.load.records import RawRecordError
from hawkeye_bench.load.runner import TargetError
from hawkeye_bench.pipelines import UnknownPipeline, get_pipeline
from hawkeye_bench.pipelines.base import PipelineOptionError
from hawkeye_bench.pipelines.compress_methods import UnknownCompressMethod
from hawkeye_bench.pipelines.route import RouteSetupError, TokenizerMismatch
from hawkeye_bench.presets import PresetError
from hawkeye_bench.reporting.inputs import ReportInputError
from hawkeye_bench.reporting.trl_logs import TrainingLogError
from hawkeye_bench.routing.registry import UnknownRouter
from hawkeye_bench.serve.embedded import LocalModelUnavailable
from hawkeye_bench.serve.workers import WorkerDied

USER_ERRORS = [
    ConfigError,
    DatasetError,
    EndpointError,
    EndpointUnavailable,
    JudgeConfigError,
    JudgeSetupError,
    JudgementsFileError,
    LmEvalArgumentError,
    LocalModelUnavailable,
    MissingApiKey,
    PresetError,
    PromptSourceError,
    RawRecordError,
    ReportInputError,
    RewardInputError,
    RunStoreError,
    TargetError,
    TaskFileError,
    TasksNotFound,
    UnknownPipeline,
    PipelineOptionError,
    PipelineOptionsError,
    SweepFolderError,
    UnknownCompressMethod,
    RouteSetupError,
    TokenizerMismatch,
    UnknownRouter,
    DistributedSetupError,
    ImportInputError,
    TrainingLogError,
    FlagsError,
    OutputPathError,
    FolderLocked,
    SweepFileError,
]
OUTAGES = [RunStopped, ModelServerDied, EndpointStoppedAnswering, WorkerDied]
DEAD = ["--endpoint", "http://127.0.0.1:9/v1", "--model", "m"]  # never contacted


@pytest.mark.parametrize("cls", USER_ERRORS, ids=lambda cls: cls.__name__)
def test_user_errors_are_hawkeye_errors_with_exit_code_2(cls: type[Exception]) -> None:
    assert issubclass(cls, HawkeyeError)
    assert cls.exit_code == 2


@pytest.mark.parametrize("cls", OUTAGES, ids=lambda cls: cls.__name__)
def test_a_stopped_run_exits_3(cls: type[Exception]) -> None:
    assert issubclass(cls, HawkeyeError)
    assert cls.exit_code == 3


def test_unknown_pipeline_is_a_user_error() -> None:
    with pytest.raises(HawkeyeError, match=r"unknown pipeline 'nope'; valid: .*baseline"):
        get_pipeline("nope")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["eval", "--task", "gsm9k", *DEAD], "unknown dataset 'gsm9k'"),
        (["eval", "--pipeline", "nope", *DEAD], "unknown pipeline 'nope'"),
        (["eval", "--preset", "nope", *DEAD], "unknown preset 'nope'"),
        (["eval", "--config", "/nonexistent/hawkeye.yaml"], "config file not found"),
        (["report", "/nonexistent/run", "--out", "{tmp}/report"], "/nonexistent/run"),
        (["judge", "/nonexistent/run", "--panel", "local", "--out", "{tmp}/j"], "no records.jsonl"),
        (["load", "--target", "no-equals-sign", "--requests", "1"], "NAME=URL"),
    ],
    ids=["dataset", "pipeline", "preset", "config", "report", "judge", "load"],
)
def test_bad_input_is_one_error_line_and_exit_2(
    argv: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main([arg.replace("{tmp}", str(tmp_path)) for arg in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
    assert "Traceback" not in err


def _command_raising(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def main(args: argparse.Namespace) -> int:
        raise exc

    monkeypatch.setattr(report_command, "main", main)


REPORT_ARGV = ["report", "somewhere", "--out", "elsewhere"]


def test_every_line_and_note_is_an_error_line_and_keys_are_redacted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    remember_secret("hawkeye-test-secret-123456")
    exc = EndpointUnavailable("upstream said: bad key hawkeye-test-secret-123456\nsecond line")
    exc.add_note("a hint")
    _command_raising(monkeypatch, exc)
    assert cli.main(REPORT_ARGV) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: upstream said: bad key [redacted]",
        "error: second line",
        "error: a hint",
    ]


def test_a_stopped_run_exits_3_through_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _command_raising(monkeypatch, ModelServerDied("the model server exited"))
    assert cli.main(REPORT_ARGV) == 3
    assert capsys.readouterr().err == "error: the model server exited\n"


def test_interrupt_exits_130(monkeypatch: pytest.MonkeyPatch) -> None:
    _command_raising(monkeypatch, KeyboardInterrupt())
    assert cli.main(REPORT_ARGV) == 130


@pytest.mark.parametrize("bug", [TypeError("a bug"), ValueError("a bug"), KeyError("a bug")])
def test_a_programming_error_is_not_a_user_error(
    bug: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _command_raising(monkeypatch, bug)
    with pytest.raises(type(bug), match="a bug"):
        cli.main(REPORT_ARGV)
    assert "error:" not in capsys.readouterr().err
