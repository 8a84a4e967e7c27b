"""One writer per output folder: a run folder, a sweep folder and a judgements folder each hold
a lock naming the writer's pid and host while a command writes them; a lock left by a dead
process is taken over with a note. And the one writable-output check every command makes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import CLI, eval_args, read_jsonl

from hawkeye_bench import cli
from hawkeye_bench.core.folder_lock import LOCK_FILE, FolderLock, FolderLocked
from hawkeye_bench.core.writable import OutputPathError, check_writable_file, check_writable_folder
from hawkeye_bench.testing.scripted_server import Fault, ScriptedConfig, ScriptedServer

DEAD = ["--endpoint", "http://127.0.0.1:9/v1", "--model", "m"]  # never contacted


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _poll(condition: object, what: str, deadline_s: float = 120.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_second_lock_on_a_held_folder_names_the_holder(tmp_path: Path) -> None:
    with FolderLock(tmp_path / "run", what="run folder", command="eval"):
        holder = json.loads((tmp_path / "run" / LOCK_FILE).read_text())
        assert holder == {"pid": os.getpid(), "host": socket.gethostname(), "command": "eval"}
        with pytest.raises(FolderLocked) as caught:
            FolderLock(tmp_path / "run", what="run folder").acquire()
    message = str(caught.value)
    assert f"pid {os.getpid()} on {socket.gethostname()} (eval)" in message
    assert "one writer per run folder" in message and "\n" not in message
    assert not (tmp_path / "run").exists()  # released: lock file gone, the empty folder too


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "records.jsonl").write_text("{}\n")
    dead = _dead_pid()
    (folder / LOCK_FILE).write_text(json.dumps({"pid": dead, "host": "h1", "command": "eval"}))
    with FolderLock(folder) as lock:
        assert lock.took_over is not None and lock.took_over.pid == dead
        assert json.loads((folder / LOCK_FILE).read_text())["pid"] == os.getpid()
    assert f"took over the lock of {folder} left by pid {dead} on h1 (eval)" in (
        capsys.readouterr().err
    )
    assert sorted(p.name for p in folder.iterdir()) == ["records.jsonl"]  # the folder stays


def test_eval_resume_on_a_running_folder_is_refused_then_takes_over_once_it_died(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The campaign's case: a second `eval --resume` on a running folder appended its own copy
    of every item (184 records for 100). Now it is refused while the first runs, and takes the
    folder over once the first is dead: every item once."""
    out = tmp_path / "run"
    server = ScriptedServer(ScriptedConfig(faults=[Fault("hang", first_n=1)]))  # the first call
    with server as url:
        args = eval_args(out, "--concurrency", "1", url=url, limit=3)
        env = {**os.environ, "HAWKEYE_DATA_DIR": os.environ.get("HAWKEYE_DATA_DIR", "")}
        first = subprocess.Popen(
            [*CLI, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # killed with its grading workers below
        )
        try:
            _poll(lambda: server.stats()["requests"] >= 1, "the first run's first call")
            assert cli.main([*args, "--resume"]) == 2
            error = capsys.readouterr().err
            assert f"is being written by pid {first.pid} on {socket.gethostname()} (eval)" in error
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        assert not (out / "records.jsonl").exists()  # the refused run wrote nothing
        assert cli.main([*args, "--resume"]) == 0
    error = capsys.readouterr().err
    assert f"took over the lock of {out} left by pid {first.pid}" in error
    ids = [record["id"] for record in read_jsonl(out / "records.jsonl")]
    assert len(ids) == len(set(ids)) == 3
    assert not (out / LOCK_FILE).exists()


@pytest.mark.parametrize("command", ["compress-sweep", "route-sweep"])
def test_a_sweep_folder_has_one_writer(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sweep"
    argv = [command, "--task", "gsm8k", "--limit", "1", "--out", str(out), *DEAD]
    with FolderLock(out, what="sweep folder", command=command):
        assert cli.main(argv) == 2
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # no sweep file written
    error = capsys.readouterr().err
    assert f"{out} is being written by pid {os.getpid()}" in error
    assert "one writer per sweep folder" in error


def test_judge_out_has_one_writer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "judged"
    with FolderLock(out, what="judgements folder", command="judge"):
        assert cli.main(["judge", str(tmp_path / "run"), "--out", str(out)]) == 2
    assert "one writer per judgements folder" in capsys.readouterr().err


def test_the_writable_check_leaves_nothing_behind(tmp_path: Path) -> None:
    check_writable_folder(tmp_path / "a" / "b" / "c")
    check_writable_file(tmp_path / "x" / "rewards.jsonl")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        ("file", "it is a file, not a folder"),
        ("under_file", "is not a folder"),
        ("proc", "cannot write the output folder /proc/hawkeye"),
    ],
)
def test_the_writable_check_refuses_in_one_line(make: str, expected: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    folder = {
        "file": tmp_path / "f",
        "under_file": tmp_path / "f" / "sub",
        "proc": Path("/proc/hawkeye"),
    }[make]
    with pytest.raises(OutputPathError) as caught:
        check_writable_folder(folder)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_folder_is_no_output_file(tmp_path: Path) -> None:
    with pytest.raises(OutputPathError, match="it is a folder, not a file"):
        check_writable_file(tmp_path)
