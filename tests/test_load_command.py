"""`hawkeye-bench load` argument handling: clear errors before any load is generated."""

from __future__ import annotations

from pathlib import Path

import pytest

from hawkeye_bench import cli
from hawkeye_bench.load import LOCUSTFILE
from hawkeye_bench.load.endpoint import chat_path, models_url
from hawkeye_bench.load.prompts import PromptSourceError, load_prompts
from hawkeye_bench.load.runner import (
    LoadPlan,
    StageRun,
    Target,
    TargetError,
    analyse_stage,
    locust_command,
    parse_targets,
)
from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer


def cli_main(argv: list[str]) -> int:
    """`hawkeye-bench ARGV` in-process, as a user runs it (user errors are reported by the CLI)."""
    return cli.main(argv)


def test_print_locustfile(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["load", "--print-locustfile"]) == 0
    printed = Path(capsys.readouterr().out.strip())
    assert printed == LOCUSTFILE and printed.is_file()


def test_targets_are_parsed_and_checked() -> None:
    targets = parse_targets(["baseline=http://a:1", "hawkeye=https://b/v1"])
    assert targets == [Target("baseline", "http://a:1"), Target("hawkeye", "https://b/v1")]
    with pytest.raises(TargetError, match="NAME=URL"):
        parse_targets(["http://a:1"])
    with pytest.raises(TargetError, match="given twice"):
        parse_targets(["a=http://x", "a=http://y"])


def test_urls_accept_hosts_with_and_without_v1() -> None:
    assert chat_path("http://h:8000") == "/v1/chat/completions"
    assert chat_path("http://h:8000/v1/") == "/chat/completions"
    assert models_url("http://h:8000/v1") == "http://h:8000/v1/models"


def test_prompt_sources(tmp_path: Path, data_dir: Path) -> None:
    prompts = load_prompts("gsm8k", data_dir=str(data_dir), limit=2)
    assert len(prompts) == 2 and prompts[0][0]["role"] == "user"
    good = tmp_path / "p.jsonl"
    good.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    assert load_prompts(str(good)) == [[{"role": "user", "content": "hi"}]]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"prompt": "x"}\n')
    with pytest.raises(PromptSourceError, match=r"bad\.jsonl: record 2"):
        load_prompts(str(bad))
    with pytest.raises(PromptSourceError, match=r"valid datasets: .*gsm8k"):
        load_prompts("gsm9k")


def test_unreachable_target_fails_before_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ScriptedServer(ScriptedConfig()) as url:
        code = cli_main(
            ["load", "--target", f"ok={url}", "--target", "down=http://127.0.0.1:9",
             "--requests", "1", "--out", str(tmp_path)]
        )  # fmt: skip
    assert code == 2
    assert "target 'down' does not answer" in capsys.readouterr().err
    assert not (tmp_path / "raw").exists()


def test_requests_or_duration_required(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["load", "--target", "a=http://127.0.0.1:9"]) == 2
    assert "--requests" in capsys.readouterr().err


def test_locust_command_is_the_stock_cli(tmp_path: Path) -> None:
    plan = LoadPlan(
        targets=[Target("a", "http://h")],
        concurrencies=[10],
        out_dir=tmp_path,
        requests=50,
        processes=2,
        api_key_env="MY_KEY",
    )
    command = locust_command(plan, plan.targets[0], 10, tmp_path / "raw")
    assert command[1:3] == ["-m", "locust"]
    joined = " ".join(command)
    assert "--headless" in joined and "-u 10 -r 10" in joined and "--processes 2" in joined
    assert "--requests 50" in joined and "--api-key-env MY_KEY" in joined


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`hawkeye-bench ARGV` in-process: the exit code and stderr (argparse errors exit 2)."""
    try:
        code = cli_main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    return code, capsys.readouterr().err


@pytest.mark.parametrize("bound", ["-5", "0", "nan", "inf"])
def test_slo_bounds_must_be_positive_and_finite(
    bound: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["load", "--target", "a=http://127.0.0.1:9", "--requests", "1",
            "--slo", f"ttft_ms={bound}"]  # fmt: skip
    code, err = run_main(argv, capsys)
    assert code == 2 and "the bound must be a finite number of milliseconds > 0" in err


@pytest.mark.slow
def test_a_bad_locust_arg_is_refused_with_locusts_own_error_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = ScriptedServer(ScriptedConfig())
    with server as url:
        code, err = run_main(
            ["load", "--target", f"s={url}", "--requests", "1", "--locust-arg=--nonsense",
             "--out", str(tmp_path)], capsys
        )  # fmt: skip
        calls = server.stats()["by_path"]
    assert code == 2
    assert "locust refused the command line: error: unrecognized arguments: --nonsense" in err
    assert calls == {}  # not even GET /v1/models
    assert not (tmp_path / "raw").exists()


def test_a_stage_whose_locust_failed_reports_locusts_error(tmp_path: Path) -> None:
    log = tmp_path / "locust.log"
    log.write_text("python -m locust ...\n\n__main__.py: error: argument -u/--users: invalid int\n")
    plan = LoadPlan(targets=[Target("a", "http://h")], concurrencies=[1], out_dir=tmp_path,
                    requests=1)  # fmt: skip
    raw = tmp_path / "raw"
    raw.mkdir()
    stage = analyse_stage(plan, StageRun(plan.targets[0], 1, raw, log, 2, 1.0))
    assert stage.failed is not None and stage.failed.startswith(
        "locust exited with code 2: error: argument -u/--users: invalid int"
    )
    assert stage.reliable is False


def test_a_fractional_duration_gives_locust_whole_seconds(tmp_path: Path) -> None:
    plan = LoadPlan(targets=[Target("a", "http://h")], concurrencies=[1], out_dir=tmp_path,
                    duration_s=2.5)  # fmt: skip
    command = locust_command(plan, plan.targets[0], 1, tmp_path / "raw")
    # Locust refuses "122.5s"; the cap only needs to be at least the measured window
    assert command[command.index("--run-time") + 1] == "123s"
    assert command[command.index("--measure-for") + 1] == "2.5"
