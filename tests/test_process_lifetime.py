"""No process outlives the harness: what a process starts ends when it dies, SIGKILL included
(`hawkeye_bench/core/child_process.py`), and the test session fails on a process left running
(`tests/process_leaks.py`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from cli_helpers import CLI, eval_args
from process_leaks import alive, gone_within

from hawkeye_bench.core import child_process
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.testing.scripted_server import ScriptedConfig, ScriptedServer

#: What the issue asks: every child of a killed process is gone within this many seconds.
GONE_WITHIN_S = 10.0
START_TIMEOUT_S = 300.0


def _tree(pid: int) -> list[int]:
    return [c.pid for c in psutil.Process(pid).children(recursive=True)]


class Started:
    """The processes a test starts; whatever a failed test left running is killed after it."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[str]] = []

    def run(self, command: list[str], **popen: Any) -> subprocess.Popen[str]:
        self.processes.append(subprocess.Popen(command, text=True, **popen))
        return self.processes[-1]

    def python(self, code: str) -> subprocess.Popen[str]:
        """``python -c CODE``, a parent that prints lines of PIDs on its stdout."""
        return self.run([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE)

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                descendants = _tree(process.pid)
                process.kill()
                for pid in alive(descendants):
                    os.kill(pid, signal.SIGKILL)
            process.communicate()


@pytest.fixture
def started() -> Iterator[Started]:
    processes = Started()
    yield processes
    processes.kill_all()


def _kill_and_expect_no_descendant(process: subprocess.Popen[str], pids: list[int]) -> None:
    """SIGKILL ``process``; every one of ``pids`` (its descendants) must exit soon after."""
    assert pids and alive(pids) == pids
    process.kill()
    process.wait()
    left = gone_within(pids, GONE_WITHIN_S)
    commands = [" ".join(psutil.Process(pid).cmdline()) for pid in left]
    for pid in left:  # do not leave them to the session check
        os.kill(pid, signal.SIGKILL)
    assert left == [], commands


def _wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not condition():
        assert process.poll() is None, f"exited with {process.returncode} before {what}"
        assert time.monotonic() < deadline, f"no {what} within {START_TIMEOUT_S:g} s"
        time.sleep(0.1)


# -- the guard itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("spawner", ["main thread", "short-lived thread"])
def test_a_command_started_with_popen_dies_with_its_parent(spawner: str, started: Started) -> None:
    """Started from the main thread, or from a thread that has ended since (a parent-death
    signal follows the forking thread: the spawn moves to a lasting one)."""
    parent = started.python(
        f"""
        import subprocess, sys, threading, time
        from hawkeye_bench.core.child_process import popen
        started = []
        def spawn():
            started.append(popen(["sleep", "600"]))
        if {spawner == "main thread"}:
            spawn()
        else:
            thread = threading.Thread(target=spawn)
            thread.start()
            thread.join()
        print(started[0].pid, flush=True)
        time.sleep(600)
        """
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    time.sleep(0.5)  # a thread's end would have fired the signal by now
    assert alive([child]) == [child], "killed with the thread that started it"
    _kill_and_expect_no_descendant(parent, [child])


def test_without_a_parent_death_signal_a_thread_watches_the_parent(started: Started) -> None:
    """The fallback where ``prctl`` is unavailable (not Linux): the child polls its parent."""
    child_code = (
        "import os, signal, time; from hawkeye_bench.core import child_process; "
        "child_process._prctl_function = None; "
        "child_process.die_with_parent(signal.SIGKILL, os.getppid()); "
        "print('guarded', flush=True); time.sleep(600)"
    )
    parent = started.python(
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", {child_code!r}], stdout=subprocess.PIPE)
        child.stdout.readline()
        print(child.pid, flush=True)
        time.sleep(600)
        """
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    _kill_and_expect_no_descendant(parent, [child])


def test_a_parent_gone_before_the_guard_is_set_is_noticed() -> None:
    """The race between the fork and the guard: a child whose parent is already gone (here: a
    parent PID that is not its parent) gets the signal at once."""
    code = (
        "import signal; from hawkeye_bench.core.child_process import die_with_parent; "
        "die_with_parent(signal.SIGKILL, parent=1); print('survived')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL and "survived" not in done.stdout


def test_from_lasting_thread_hands_back_results_and_errors() -> None:
    def in_a_thread(job: Callable[[], object]) -> list[object]:
        result: list[object] = []

        def run() -> None:
            try:
                result.append(child_process.from_lasting_thread(job))
            except ValueError as exc:
                result.append(exc)

        import threading

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(30)
        return result

    assert in_a_thread(lambda: 42) == [42]

    def fail() -> None:
        raise ValueError("no")

    (error,) = in_a_thread(fail)
    assert isinstance(error, ValueError) and str(error) == "no"


# -- every spawner -------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_a_busy_grader_worker_dies_with_the_grading_process(started: Started) -> None:
    """A worker stuck in a long grade does not read its pipe; the forkserver's exit (it
    follows the grading process) kills it."""
    parent = started.python(
        """
        import threading, time
        from hawkeye_bench.grading.workers import Grader
        grader = Grader(workers=1, timeout_s=600, memo=None)
        threading.Thread(
            target=grader.grade, args=("\\\\boxed{9^{9^{9^{9}}}}", "1", "math"), daemon=True
        ).start()
        while not grader.alive_workers:
            time.sleep(0.05)
        time.sleep(1)  # the worker is deep in the grade
        print("busy", flush=True)
        time.sleep(600)
        """
    )
    assert parent.stdout is not None
    assert parent.stdout.readline().strip() == "busy"
    _kill_and_expect_no_descendant(parent, _tree(parent.pid))


@pytest.mark.timeout(120)
def test_a_scripted_server_and_its_forked_processes_die_with_their_starter(
    started: Started,
) -> None:
    parent = started.python(
        """
        import time
        from hawkeye_bench.testing.scripted_server import ScriptedConfig, start_subprocess
        process, url = start_subprocess(ScriptedConfig(processes=2))
        print(url, flush=True)
        time.sleep(600)
        """
    )
    assert parent.stdout is not None
    assert parent.stdout.readline().startswith("http://")
    servers = _tree(parent.pid)
    assert len(servers) >= 2  # process 0 and the one it forked (and a resource tracker)
    _kill_and_expect_no_descendant(parent, servers)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_load_killed_with_sigkill_leaves_no_locust_process(
    tmp_path: Path, started: Started
) -> None:
    """`load --processes 2` in the middle of a long stage: Locust's master gets SIGTERM with
    its parent's death and stops the two worker processes it forked."""
    out = tmp_path / "load"
    with ScriptedServer(ScriptedConfig(ttft_ms=50, gap_ms=50, tokens=40)) as url:
        args = ["load", "--target", f"s={url}", "--concurrency", "4", "--duration", "600",
                "--processes", "2", "--prompt-limit", "3", "--max-tokens", "64",
                "--out", str(out)]  # fmt: skip
        process = started.run([*CLI, *args], stdout=subprocess.DEVNULL)

        def locusts() -> list[int]:
            return [
                child.pid
                for child in psutil.Process(process.pid).children(recursive=True)
                if "locust" in " ".join(child.cmdline())
            ]

        _wait_for(lambda: len(locusts()) == 3 and any(out.glob("raw/*/*/*")), "Locust", process)
        _kill_and_expect_no_descendant(process, _tree(process.pid))


@pytest.mark.local_model
@pytest.mark.timeout(600)
def test_eval_killed_with_sigkill_leaves_no_process(tmp_path: Path, started: Started) -> None:
    """`eval` with the embedded default model, killed once its model server answers and items
    are graded: the model server, the forkserver and the grader workers all go with it."""
    out = tmp_path / "run"
    args = eval_args(out, "--max-tokens", "16", "--concurrency", "1", limit=40)
    process = started.run([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    store = RunStore(out)
    _wait_for(lambda: len(store.load_records()) >= 1, "graded record", process)
    descendants = _tree(process.pid)
    commands = [" ".join(psutil.Process(pid).cmdline()) for pid in descendants]
    assert any("llama_cpp.server" in command for command in commands), commands
    _kill_and_expect_no_descendant(process, descendants)


# -- the session check ---------------------------------------------------------------------------


def _session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, test_code: str
) -> pytest.RunResult:
    """A pytest session of its own, with the leak check, running ``test_code``."""
    pytester.makepyfile(textwrap.dedent(test_code))
    path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    return pytester.runpytest_subprocess("-p", "process_leaks", "-p", "no:cacheprovider")


def test_the_session_fails_on_a_process_left_running(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child left running and an orphan (its parent exited: only the session's mark in its
    environment links it to the session) are both named, killed, and fail the session."""
    pids = pytester.path / "pids"
    result = _session(
        pytester,
        monkeypatch,
        f"""
        import subprocess

        def test_leaves_processes():
            child = subprocess.Popen(["sleep", "600"])
            orphan = subprocess.run(
                ["sh", "-c", "sleep 601 >/dev/null 2>&1 & echo $!"], capture_output=True, text=True
            ).stdout.strip()
            open({str(pids)!r}, "w").write(f"{{child.pid}} {{orphan}}")
        """,
    )
    left = [int(pid) for pid in pids.read_text().split()]
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["*processes left running*", f"*pid {left[0]}: sleep 600", f"*pid {left[1]}: sleep 601"]
    )
    assert gone_within(left, GONE_WITHIN_S) == []  # the check killed them


def test_a_session_that_leaves_nothing_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _session(
        pytester,
        monkeypatch,
        """
        import subprocess

        def test_waits_for_its_process():
            subprocess.run(["true"], check=True)
        """,
    )
    assert result.ret == pytest.ExitCode.OK
    assert "processes left running" not in result.stdout.str()
