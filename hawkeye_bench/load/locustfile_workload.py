"""What every request of a Locust process sends, resolved once before the users start.

A single process (or the master of a distributed run) resolves it from its own command line;
the master hands it to each worker as a :class:`WorkloadMessage`, so a worker needs nothing but
the locustfile and the package (its API key comes from its own environment).
"""

from __future__ import annotations

from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from hawkeye_bench.core.secrets import MissingApiKey, api_key_from_env, redact
from hawkeye_bench.datasets import DatasetError
from hawkeye_bench.load.endpoint import EndpointError, chat_path, model_ids, models_url
from hawkeye_bench.load.prompts import Messages, PromptSourceError, load_prompts
from hawkeye_bench.load.traces import TraceError, TraceRow, read_trace


@dataclass
class Workload:
    """What every request of this process sends; resolved once at init, before the users start."""

    path: str
    model: str
    prompts: list[Messages]
    headers: dict[str, str]
    trace: list[TraceRow] | None = None  # --trace: the rows to replay (every process's)


@dataclass(frozen=True)
class WorkloadMessage:
    """Master -> worker, before the users start: the workload and the run's shape."""

    path: str
    model: str
    prompts: list[Messages]
    api_key_env: str = ""  # the variable's name: each worker reads its own
    workers: int = 1  # load-generating processes of the run
    stages_left: int = 0  # stages after this one (the worker then exits to be started again)
    trace: list[TraceRow] | None = None

    @classmethod
    def of(
        cls, workload: Workload, api_key_env: str, workers: int, stages_left: int
    ) -> WorkloadMessage:
        return cls(
            path=workload.path,
            model=workload.model,
            prompts=workload.prompts,
            api_key_env=api_key_env,
            workers=workers,
            stages_left=stages_left,
            trace=workload.trace,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model": self.model,
            "prompts": self.prompts,
            "trace": None if self.trace is None else [astuple(r) for r in self.trace],
            "api_key_env": self.api_key_env,
            "workers": self.workers,
            "stages_left": self.stages_left,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkloadMessage:
        trace = data.get("trace")
        return cls(
            path=str(data["path"]),
            model=str(data["model"]),
            prompts=list(data.get("prompts") or []),
            api_key_env=str(data.get("api_key_env") or ""),
            workers=int(data.get("workers") or 1),
            stages_left=int(data.get("stages_left") or 0),
            trace=None if trace is None else [TraceRow(*row) for row in trace],
        )

    def workload(self) -> Workload:
        """The worker's workload: the master's, with the API key from this process's env."""
        return Workload(
            path=self.path,
            model=self.model,
            prompts=self.prompts,
            headers=request_headers(self.api_key_env),
            trace=self.trace,
        )


def first_model_id(host: str, headers: dict[str, str]) -> str:
    try:
        ids = model_ids(host, headers)
    except EndpointError as exc:
        raise SystemExit(redact(f"--model not given and {exc}; pass --model")) from exc
    if not ids:
        raise SystemExit(f"--model not given and {models_url(host)} lists no model; pass --model")
    return ids[0]


def request_headers(api_key_env: str) -> dict[str, str]:
    """The headers of every request; the API key is read from this process's environment."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
        "Accept-Encoding": "identity",  # compressing proxies buffer SSE
    }
    if api_key_env:
        try:  # through secrets: redact() then knows the key in this process
            key = api_key_from_env(api_key_env, "--api-key-env")
        except MissingApiKey:
            raise SystemExit(f"--api-key-env {api_key_env}: that variable is not set") from None
        headers["Authorization"] = f"Bearer {key}"
    return headers


def resolve_workload(options: Any, host: str) -> Workload:
    """The workload from Locust's parsed options (``options``: its argparse namespace)."""
    headers = request_headers(options.api_key_env)
    trace = None
    if options.trace:
        try:
            trace = read_trace(Path(options.trace))
        except TraceError as exc:
            raise SystemExit(str(exc)) from exc
    try:
        prompts = load_prompts(
            options.prompts, data_dir=options.data_dir, limit=options.prompt_limit
        )
    except (PromptSourceError, DatasetError) as exc:
        raise SystemExit(f"--prompts: {exc}") from exc
    return Workload(
        path=chat_path(host),
        model=options.model or first_model_id(host, headers),
        prompts=prompts,
        headers=headers,
        trace=trace,
    )
