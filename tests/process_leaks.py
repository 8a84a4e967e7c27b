"""A pytest plugin: the test session fails if a process it started is still running at its end;
and the helpers tests use to check that the processes they kill are gone.

"Started by the session": a descendant of the pytest process, or any process carrying this
session's mark in its environment (set at the start, so every command a test runs inherits
it): the second catches orphans, such as a model server whose parent was killed, that the
process tree no longer links to pytest. At the end the default grader is closed, leftovers get
a grace period to exit, and whatever still runs is listed, killed, and fails the session.
multiprocessing's forkserver and resource tracker of the pytest process itself are not
counted: they live exactly as long as the interpreter that started them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid

import psutil
import pytest

#: The environment variable that marks this session's processes.
SESSION_MARK = "HAWKEYE_TEST_SESSION"
#: Seconds leftovers get to exit on their own (a server still draining) before they count.
GRACE_S = 10.0
_INTERPRETER_HELPERS = ("multiprocessing.forkserver", "multiprocessing.resource_tracker")

_leaks_key = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    os.environ[SESSION_MARK] = uuid.uuid4().hex


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline()) or process.name()
    except psutil.Error:
        return "?"


def _is_interpreter_helper(process: psutil.Process, me: psutil.Process) -> bool:
    try:
        direct = process.ppid() == me.pid
    except psutil.Error:
        return False
    return direct and any(helper in _cmdline(process) for helper in _INTERPRETER_HELPERS)


def _marked(mark: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(SESSION_MARK) == mark:
                found.append(process)
        except psutil.Error:  # gone, or another user's
            pass
    return found


def session_processes(mark: str) -> list[psutil.Process]:
    """The live processes this session started (zombies have finished), helpers aside."""
    me = psutil.Process()
    candidates = {p.pid: p for p in [*me.children(recursive=True), *_marked(mark)]}
    candidates.pop(me.pid, None)
    alive = []
    for process in candidates.values():
        try:
            if process.status() == psutil.STATUS_ZOMBIE or _is_interpreter_helper(process, me):
                continue
        except psutil.Error:
            continue
        alive.append(process)
    return sorted(alive, key=lambda p: p.pid)


def alive(pids: list[int]) -> list[int]:
    """The PIDs still running (a zombie has finished)."""
    running = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                running.append(pid)
        except psutil.NoSuchProcess:
            pass
    return running


def gone_within(pids: list[int], seconds: float) -> list[int]:
    """Poll until every PID has exited or ``seconds`` passed; the ones still running."""
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


def _close_default_grader() -> None:
    workers = sys.modules.get("hawkeye_bench.grading.workers")
    if workers is not None:
        workers.close_default_grader()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    mark = os.environ.get(SESSION_MARK)
    if mark is None:
        return
    _close_default_grader()
    deadline = time.monotonic() + GRACE_S
    left = session_processes(mark)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = session_processes(mark)
    if not left:
        return
    lines = []
    for process in left:
        lines.append(f"pid {process.pid}: {_cmdline(process)[:300]}")
        with contextlib.suppress(psutil.Error):
            process.kill()
    session.config.stash[_leaks_key] = lines
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(_leaks_key, [])
    if lines:
        terminalreporter.section("processes left running", sep="=", red=True, bold=True)
        terminalreporter.line(
            f"{len(lines)} process(es) started by this session still ran {GRACE_S:g} s after its "
            "end (killed now; the session fails):",
            red=True,
        )
        for line in lines:
            terminalreporter.line(f"  {line}")
