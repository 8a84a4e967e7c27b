"""``hawkeye-bench serve --workers N``: N server processes answering on one port.

The parent binds the listening socket once and starts N worker processes (``spawn``: a fresh
interpreter, no state forked from the parent's threads) that each inherit it and run their own
:class:`PipelineServer` and event loop on it; the kernel hands each new connection to one of the
processes blocked in ``accept``. Why one shared socket rather than one ``SO_REUSEPORT`` socket
per worker: the port is bound (and ``--port 0`` resolved) once, before any worker starts, so
connections that arrive while workers start wait in the backlog instead of being refused; a
worker that dies takes no queued connections with it (with ``SO_REUSEPORT`` each socket has
its own queue, and the kernel's hash keeps sending new connections to a dead socket until
it closes); no other process can bind into the group; and it works the same on every POSIX
system.

A worker that dies is never silent: the parent stops the others gracefully and raises
:class:`WorkerDied` naming its index, PID and exit code or signal (``serve`` exits 3). It does
not restart it: a load measurement whose server lost a process and the requests it carried
is not the measurement asked for, and a restart would hide that in the figures.

SIGINT/SIGTERM reach the parent; it sends SIGTERM to every worker, each finishes its in-flight
requests (up to ``SHUTDOWN_TIMEOUT_S``) and exits; what is left after that is killed. Workers
ignore SIGINT themselves (a Ctrl-C reaches the whole process group; the parent coordinates).
A worker whose parent is gone (killed with SIGKILL) stops the same way, draining first: the
kernel sends it SIGTERM (:func:`~hawkeye_bench.core.child_process.die_with_parent`), its pipe
to the parent closes, and an alarm ends it if the drain outlasts the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import pickle
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from hawkeye_bench.core import child_process
from hawkeye_bench.core.errors import RunStopped
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.endpoints.pool import ClientPool
from hawkeye_bench.presets import Preset
from hawkeye_bench.serve.client_auth import DEFAULT_CLIENT_KEY_ENV
from hawkeye_bench.serve.server import BACKLOG, MAX_BODY_BYTES, SHUTDOWN_TIMEOUT_S, PipelineServer

#: Seconds a worker may take to start (a fresh interpreter imports the package first).
WORKER_START_TIMEOUT_S = 300.0
#: Seconds a stopped worker gets beyond the server's own shutdown timeout before it is killed.
KILL_AFTER_S = 5.0


class WorkerDied(RunStopped):
    """A worker process of ``serve --workers N`` exited while serving."""


class WorkerStartFailed(RuntimeError):
    """A worker failed to start for a reason that did not survive pickling (its text is kept)."""


@dataclass
class ServerSpec:
    """What a :class:`PipelineServer` is built from; picklable, so each worker builds its own."""

    pipeline: str
    endpoints: dict[str, Endpoint]
    preset: Preset
    stage2_input: str | None = None
    host: str = "127.0.0.1"
    port: int = 0
    served_model_name: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    trace_dir: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    client_key: str | None = field(default=None, repr=False)  # each worker checks it
    client_key_env: str = DEFAULT_CLIENT_KEY_ENV

    def build(
        self,
        *,
        sock: socket.socket | None = None,
        worker: int | None = None,
        check_endpoints: bool = True,
    ) -> PipelineServer:
        """The server this spec describes; a worker passes its shared socket and index (its
        endpoints were checked once, by the parent)."""
        return PipelineServer(
            self.pipeline,
            self.endpoints,
            preset=self.preset,
            stage2_input=self.stage2_input,
            host=self.host,
            port=self.port,
            served_model_name=self.served_model_name,
            check_endpoints=check_endpoints,
            max_body_bytes=self.max_body_bytes,
            sock=sock,
            worker=worker,
            trace_dir=self.trace_dir,
            options=self.options,
            client_key=self.client_key,
            client_key_env=self.client_key_env,
        )


def bind_listening_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (the first address ``host`` resolves to)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


async def check_upstreams(server: PipelineServer) -> None:
    """``GET /models`` on every upstream of ``server`` once (in the parent, before any worker
    starts, rather than once per worker)."""
    pool = ClientPool(server.upstreams(), concurrency=None)
    await pool.open()
    try:
        await pool.check()
    finally:
        await pool.close()


# -- one worker (runs in the child process) -----------------------------------------------------


def _worker_main(
    spec: ServerSpec, sock: socket.socket, index: int, parent: Connection, parent_pid: int
) -> None:
    # A dead parent (SIGKILL included) means SIGTERM: drain in-flight requests, then exit.
    child_process.die_with_parent(signal.SIGTERM, parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(_serve_worker(spec, sock, index, parent))
    except _StartFailed:
        raise SystemExit(2) from None


class _StartFailed(Exception):
    pass


async def _serve_worker(
    spec: ServerSpec, sock: socket.socket, index: int, parent: Connection
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # The parent never writes after the start: the pipe turns readable when it closes (the
    # parent is gone, even killed with SIGKILL).
    loop.add_reader(parent.fileno(), stop.set)
    try:
        server = spec.build(sock=sock, worker=index, check_endpoints=False)
        await server.start()
    except Exception as exc:
        parent.send(("error", _picklable(exc)))
        raise _StartFailed from exc
    try:
        parent.send(("ready", os.getpid()))
        await stop.wait()
    finally:
        # A parent that is gone kills nothing after the grace period: the worker ends itself.
        signal.alarm(math.ceil(SHUTDOWN_TIMEOUT_S + 2 * KILL_AFTER_S))
        await server.stop()


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return WorkerStartFailed(f"{type(exc).__name__}: {exc}")
    return exc


# -- the group (runs in the parent) -----------------------------------------------------------


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    pipe: Connection  # the parent's end; when it closes, the worker stops


class WorkerGroup:
    """N worker processes serving ``spec`` on one listening socket; see the module doc."""

    def __init__(self, spec: ServerSpec, workers: int, sock: socket.socket) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.spec = spec
        self.sock = sock
        self.count = workers
        self.workers: list[_Worker] = []
        self._reported: set[int] = set()  # indices of workers already named as dead
        self._context = multiprocessing.get_context("spawn")

    @property
    def base_url(self) -> str:
        return f"http://{self.spec.host}:{self.sock.getsockname()[1]}/v1"

    def start(self, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Start every worker and wait until each serves; False if ``should_stop`` turned true
        first. A worker that fails to start raises its error (the others are stopped)."""
        for index in range(self.count):
            parent_end, child_end = self._context.Pipe()
            process = self._context.Process(
                target=_worker_main,
                args=(self.spec, self.sock, index, child_end, os.getpid()),
                name=f"hawkeye-serve-worker-{index}",
                daemon=False,
            )
            child_process.from_lasting_thread(process.start)  # see die_with_parent
            child_end.close()
            self.workers.append(_Worker(index, process, parent_end))
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        waiting = {w.pipe: w for w in self.workers}
        while waiting:
            if should_stop():
                return False
            if time.monotonic() > deadline:
                names = ", ".join(str(w.index) for w in waiting.values())
                raise WorkerStartFailed(
                    f"serve worker(s) {names} did not start within {WORKER_START_TIMEOUT_S:g} s"
                )
            for pipe in wait(list(waiting), timeout=0.25):
                worker = waiting.pop(pipe)  # type: ignore[call-overload]
                try:
                    kind, value = worker.pipe.recv()
                except EOFError:
                    worker.process.join(5)
                    raise self._died(worker, serving=False) from None
                if kind == "error":
                    raise value
        return True

    def poll(self) -> WorkerDied | None:
        """The first worker found dead, as the error to stop with, else None."""
        for worker in self.workers:
            if worker.process.exitcode is not None:
                return self._died(worker, serving=True)
        return None

    def wait(self, timeout: float) -> None:
        """Block up to ``timeout`` seconds, less when a worker exits."""
        wait([w.process.sentinel for w in self.workers], timeout=timeout)

    def _died(self, worker: _Worker, *, serving: bool) -> WorkerDied:
        self._reported.add(worker.index)
        exitcode = worker.process.exitcode
        how = "no exit status" if exitcode is None else child_process.describe_exit(exitcode)
        when = "while serving" if serving else "while starting"
        cut = "the requests it was serving were cut; " if serving else ""
        return WorkerDied(
            f"serve worker {worker.index} (pid {worker.process.pid}) died {when}: {how}; "
            f"{cut}the other {self.count - 1} worker(s) were stopped"
        )

    def stop(self) -> list[str]:
        """SIGTERM every live worker, wait for them (killing what outlives the grace period);
        returns a line per worker that exited other than cleanly and was not named before.

        The listening socket is closed first: each draining worker closes its own copy, so
        with the parent's gone too a new connection is refused at once instead of waiting in
        the backlog for no one until the drain ends, then being reset."""
        self.sock.close()
        for worker in self.workers:
            if worker.process.exitcode is None and worker.process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_TIMEOUT_S + KILL_AFTER_S
        problems = []
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.exitcode is None:
                worker.process.kill()
                worker.process.join()
                problems.append(f"serve worker {worker.index} did not stop in time: killed")
            elif worker.process.exitcode not in (0, 2) and worker.index not in self._reported:
                problems.append(
                    f"serve worker {worker.index} (pid {worker.process.pid}) exited with "
                    f"{child_process.describe_exit(worker.process.exitcode)}"
                )
            worker.pipe.close()
            worker.process.close()
        self.workers = []
        return problems
