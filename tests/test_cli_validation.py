"""Numeric flags are range-checked by argparse (exit 2, one line naming the flag and the range)
before any endpoint is contacted; config-file mistakes get messages that say what to do."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from hawkeye_bench import cli
from hawkeye_bench.core.ranges import (
    non_negative_float,
    non_negative_int,
    port_number,
    positive_float,
    positive_int,
    share,
)

# Nothing listens on port 9: should validation ever be skipped, the run fails fast on the
# endpoint check instead of starting the embedded model (and the message check catches it).
DEAD = ["--endpoint", "http://127.0.0.1:9/v1", "--model", "m"]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`hawkeye-bench ARGV` in-process: the exit code and stderr."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse errors exit 2
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


def eval_argv(tmp_path: Path, *extra: str) -> list[str]:
    out = str(tmp_path / "run")
    return ["eval", "--pipeline", "baseline", "--limit", "1", "--out", out, "--no-progress",
            *DEAD, *extra]  # fmt: skip


def assert_usage_error(code: int, err: str, flag: str, expected: str) -> None:
    assert code == 2, err
    (line,) = [line for line in err.splitlines() if "error:" in line]
    assert f"argument {flag}: " in line, err
    assert expected in line, err
    assert "Traceback" not in err


# -- the type functions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "text", "value"),
    [
        (positive_int, "1", 1),
        (positive_int, " 12 ", 12),
        (non_negative_int, "0", 0),
        (positive_float, "0.5", 0.5),
        (positive_float, "1e-3", 0.001),
        (non_negative_float, "0", 0.0),
        (share, "0", 0.0),
        (share, "1", 1.0),
        (share, "0.25", 0.25),
        (port_number, "0", 0),
        (port_number, "65535", 65535),
    ],
)
def test_valid_values_are_converted(func, text: str, value: float) -> None:
    result = func(text)
    assert result == value and type(result) is type(value)


@pytest.mark.parametrize(
    ("func", "text", "message"),
    [
        (positive_int, "0", "'0' is out of range; expected an integer >= 1"),
        (positive_int, "-1", "'-1' is out of range; expected an integer >= 1"),
        (positive_int, "2.5", "'2.5' is not an integer; expected an integer >= 1"),
        (positive_int, "many", "'many' is not an integer; expected an integer >= 1"),
        (non_negative_int, "-3", "'-3' is out of range; expected an integer >= 0"),
        (positive_float, "0", "'0' is out of range; expected a number > 0"),
        (positive_float, "-0.1", "'-0.1' is out of range; expected a number > 0"),
        (non_negative_float, "-1", "'-1' is out of range; expected a number >= 0"),
        (share, "1.5", "'1.5' is out of range; expected a number from 0 to 1"),
        (share, "-0.01", "'-0.01' is out of range; expected a number from 0 to 1"),
        (port_number, "65536", "'65536' is out of range; expected an integer from 0 to 65535"),
        (positive_float, "abc", "'abc' is not a number; expected a number > 0"),
    ],
)
def test_bad_values_name_the_range(func, text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        func(text)
    assert str(info.value) == message


@pytest.mark.parametrize("func", [positive_float, non_negative_float, share])
@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity"])
def test_nan_and_inf_are_not_a_number_not_out_of_range(func, text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as info:
        func(text)
    assert str(info.value).startswith(f"{text!r} is not a number; expected")
    assert "out of range" not in str(info.value)


# -- eval -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--samples", "0", "expected an integer >= 1"),
        ("--samples", "-1", "expected an integer >= 1"),
        ("--concurrency", "0", "expected an integer >= 1"),
        ("--concurrency", "-4", "expected an integer >= 1"),
        ("--limit", "0", "expected an integer >= 1"),
        ("--max-tokens", "-5", "expected an integer >= 1"),
        ("--max-tokens", "0", "expected an integer >= 1"),
        ("--temperature", "-1", "expected a number >= 0"),
        ("--temperature", "nan", "is not a number"),
        ("--timeout", "0", "expected a number > 0"),
        ("--timeout", "-3", "expected a number > 0"),
        ("--timeout", "inf", "is not a number"),
        ("--max-retries", "-1", "expected an integer >= 0"),
        ("--max-error-rate", "5", "expected a number from 0 to 1"),
        ("--max-error-rate", "-0.1", "expected a number from 0 to 1"),
        ("--max-error-rate", "NaN", "is not a number"),
    ],
)
def test_eval_rejects_out_of_range_numbers(
    flag: str, value: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_main(eval_argv(tmp_path, flag, value), capsys)
    assert_usage_error(code, err, flag, expected)
    assert not (tmp_path / "run").exists()


def test_eval_accepts_boundary_values() -> None:
    parser = cli.build_parser("eval")
    argv = ["eval", "--samples", "1", "--concurrency", "1", "--limit", "1", "--max-tokens", "1",
            "--temperature", "0", "--timeout", "0.5", "--max-retries", "0",
            "--max-error-rate", "1"]  # fmt: skip
    args = parser.parse_args(argv)
    assert (args.samples, args.concurrency, args.limit, args.max_tokens) == (1, 1, 1, 1)
    assert (args.temperature, args.timeout, args.max_retries) == (0.0, 0.5, 0)
    assert args.max_error_rate == 1.0
    defaults = parser.parse_args(["eval"])
    assert (defaults.samples, defaults.concurrency, defaults.timeout) == (1, 8, 3600.0)
    assert defaults.max_error_rate == 0.1 and defaults.temperature is None


def test_config_file_numbers_are_checked_like_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text("concurrency: 0\n")
    code, err = run_main(["eval", "--config", str(config), *eval_argv(tmp_path)[1:]], capsys)
    assert code == 2, err
    assert "concurrency" in err and "expected an integer >= 1" in err
    assert "Traceback" not in err
    config.write_text("max_error_rate: .nan\n")
    code, err = run_main(["eval", "--config", str(config), *eval_argv(tmp_path)[1:]], capsys)
    assert code == 2 and "max_error_rate" in err and "is not a number" in err


# -- the other commands ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "flag", "expected"),
    [
        (["serve", *DEAD, "--port", "70000"], "--port", "expected an integer from 0 to 65535"),
        (["serve", *DEAD, "--timeout", "0"], "--timeout", "expected a number > 0"),
        (["load", "--max-tokens", "0"], "--max-tokens", "expected an integer >= 1"),
        (["load", "--requests", "-1"], "--requests", "expected an integer >= 0"),
        (["load", "--duration", "-1"], "--duration", "expected a number >= 0"),
        (["load", "--temperature", "-0.5"], "--temperature", "expected a number >= 0"),
        (["load", "--prompt-limit", "0"], "--prompt-limit", "expected an integer >= 1"),
        (["load", "--warmup", "nan"], "--warmup", "is not a number"),
        (["load", "--processes", "-2"], "--processes", "expected an integer >= -1"),
        (["load", "--stop-timeout", "-1"], "--stop-timeout", "expected a number >= 0"),
        (["load", "--min-goodput", "1.5"], "--min-goodput", "expected a number from 0 to 1"),
        (["load", "--calibrate-tokens", "0"], "--calibrate-tokens", "expected an integer >= 1"),
        (
            ["load", "--calibrate-tokens-per-chunk", "0"],
            "--calibrate-tokens-per-chunk",
            "expected an integer >= 1",
        ),
        (
            ["load", "--calibrate-requests-per-user", "0"],
            "--calibrate-requests-per-user",
            "expected an integer >= 1",
        ),
        (["load", "--calibrate-ttft-ms", "-1"], "--calibrate-ttft-ms", "expected a number >= 0"),
        (["load", "--calibrate-gap-ms", "inf"], "--calibrate-gap-ms", "is not a number"),
        (["judge", "nowhere", "--limit", "0"], "--limit", "expected an integer >= 1"),
        (["judge", "nowhere", "--budget", "-1"], "--budget", "expected a number >= 0"),
        (
            ["judge", "nowhere", "--rejudge-fraction", "nan"],
            "--rejudge-fraction",
            "is not a number",
        ),
        (
            ["judge", "nowhere", "--bootstrap-resamples", "0"],
            "--bootstrap-resamples",
            "expected an integer >= 1",
        ),
    ],
)
def test_other_commands_reject_out_of_range_numbers(
    argv: list[str], flag: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_main(argv, capsys)
    assert_usage_error(code, err, flag, expected)


def test_load_keeps_its_special_values() -> None:
    args = cli.build_parser("load").parse_args(
        ["load", "--processes", "-1", "--requests", "0", "--duration", "0", "--warmup", "0"]
    )
    assert (args.processes, args.requests, args.duration, args.warmup) == (-1, 0, 0.0, 0.0)


# -- config-file messages -------------------------------------------------------------------


API_KEY_ADVICE = (
    "api_key: keys are never read from files; put the key in an environment variable and "
    "name it with api_key_env: VAR"
)


@pytest.mark.parametrize(
    "body",
    [
        "api_key: sk-abc\n",
        "endpoints:\n  single: {base_url: 'http://127.0.0.1:9/v1', model: m, api_key: sk-abc}\n",
        "endpoints:\n  default: {base_url: 'http://127.0.0.1:9/v1', model: m, api_key: sk-abc}\n",
    ],
)
def test_api_key_in_config_file_says_to_use_api_key_env(
    body: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(body)
    out = str(tmp_path / "run")
    argv = ["eval", "--config", str(config), "--pipeline", "baseline", "--out", out]
    code, err = run_main(argv, capsys)
    assert code == 2, err
    assert API_KEY_ADVICE in err
    assert "unknown" not in err
    assert "sk-abc" not in err


@pytest.mark.parametrize("value", ["no/such/dir/mine.yaml", "missing.yaml", "missing.yml"])
def test_missing_preset_file_is_not_an_unknown_preset(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run_main(eval_argv(tmp_path, "--preset", value), capsys)
    assert code == 2, err
    assert f"preset file {value} does not exist" in err
    assert "unknown preset" not in err
