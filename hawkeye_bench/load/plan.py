"""What one ``hawkeye-bench load`` run does: its targets (the first is the baseline), load
levels, workload and verdict thresholds, and the order its stages run in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.load import LOCUSTFILE
from hawkeye_bench.load.arrivals import ArrivalSpec

STARTUP_ALLOWANCE_S = 120.0  # Locust's --run-time clock includes its import and start-up
DEFAULT_MAX_ERROR_RATE = 0.05
DEFAULT_MASTER_PORT = 5557  # Locust's


class TargetError(HawkeyeError):
    """A --target that is not NAME=URL, or a repeated name."""


@dataclass(frozen=True)
class Target:
    name: str
    url: str


def parse_targets(specs: Sequence[str]) -> list[Target]:
    """``["baseline=http://a", "hawkeye=http://b"]`` -> targets; the first is the baseline."""
    targets: list[Target] = []
    for spec in specs:
        name, sep, url = spec.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise TargetError(
                f"--target {spec!r}: expected NAME=URL, e.g. baseline=http://127.0.0.1:8000"
            )
        if any(t.name == name for t in targets):
            raise TargetError(f"--target name {name!r} given twice")
        targets.append(Target(name, url))
    if not targets:
        raise TargetError("give at least one --target NAME=URL")
    return targets


@dataclass
class TraceReplay:
    """A trace replay's file, speed and in-flight cap, as the plan records them."""

    file: str = ""
    speed: float = 1.0
    max_concurrency: int = 0


@dataclass
class OpenLoopPlan:
    """An open-loop plan's rates, arrival process and in-flight cap, as the plan records
    them."""

    rates: list[float] = field(default_factory=list)
    arrival: str = "poisson"
    burstiness: float = 1.0
    seed: int = 0
    max_concurrency: int = 0


@dataclass
class PlanDescription(JsonPayload):
    """The ``plan`` of ``load_results.json`` (:meth:`LoadPlan.describe`); fields an older or
    hand-written file lacks read as their defaults."""

    targets: list[Target] = field(default_factory=list)
    baseline: str = ""
    concurrencies: list[int] = field(default_factory=list)
    requests_per_stage: int = 0
    duration_s: float = 0.0
    prompts: str = ""
    prompt_limit: int | None = None
    model: str = ""
    max_tokens: int | None = None
    temperature: float | None = None
    warmup_s: float = 0.0
    processes: int = 0
    processes_by_concurrency: dict[int, int] | None = None
    master: bool = False
    expect_workers: int | None = None
    api_key_env: str | None = None
    slo: dict[str, float] | None = None  # metric -> bound in ms
    min_goodput: float | None = None
    max_error_rate: float | None = None
    trace: TraceReplay | None = None
    open_loop: OpenLoopPlan | None = None


@dataclass
class LoadPlan:
    """Everything one ``hawkeye-bench load`` run does."""

    targets: list[Target]
    concurrencies: list[int]
    out_dir: Path
    requests: int = 0  # successful measured requests per stage; 0 = run for duration_s
    duration_s: float = 0.0  # measured seconds per stage (after warmup); a cap with requests
    prompts: str = "gsm8k"
    data_dir: str | None = None
    prompt_limit: int | None = None
    model: str = ""
    max_tokens: int = 512
    temperature: float | None = None
    warmup_s: float = 0.0
    processes: int = 0  # locust --processes (0 = one process, -1 = one per core)
    #: --processes auto: processes per concurrency (overrides ``processes``)
    processes_by_concurrency: dict[int, int] = field(default_factory=dict)
    master: bool = False  # locust --master: workers on other machines
    expect_workers: int = 0  # with master: worker processes to wait for
    master_port: int = DEFAULT_MASTER_PORT
    stop_timeout_s: float = 300.0
    api_key_env: str = ""
    cpus: set[int] | None = None  # pin the locust processes (calibration)
    locustfile: Path = LOCUSTFILE
    slo: dict[str, float] = field(default_factory=dict)  # metric -> bound in ms (goodput)
    min_goodput: float | None = None  # a stage below this share fails the run
    #: a stage with a larger share of failed measured requests is unreliable and fails the run
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    extra_locust_args: list[str] = field(default_factory=list)
    #: open loop: requests per second, one stage per rate and target (users: the in-flight cap
    #: given as the only concurrency); empty: closed loop
    rates: list[float] = field(default_factory=list)
    arrival: str = "poisson"
    burstiness: float = 1.0
    seed: int = 0
    #: trace replay: one stage per target, the trace's rows at their times (users: the cap)
    trace: Path | None = None
    trace_speed: float = 1.0

    def __post_init__(self) -> None:
        if self.requests <= 0 and self.duration_s <= 0:
            raise ValueError("give --requests N (per stage) or a --duration")
        if not self.concurrencies or any(c < 1 for c in self.concurrencies):
            raise ValueError(f"concurrencies must be >= 1, got {self.concurrencies}")
        if self.master and self.expect_workers < 1:
            raise ValueError("a --master run needs --expect-workers N (N >= 1)")
        if self.rates:
            if len(self.concurrencies) != 1:
                raise ValueError("an open-loop plan has one in-flight cap (its one concurrency)")
            for rate in self.rates:
                ArrivalSpec(rate, self.arrival, self.burstiness, self.seed)  # checks them

    def stages(self) -> list[tuple[int, Target, float | None]]:
        """(concurrency, target, rate) in run order: concurrency by concurrency (open loop: rate
        by rate, at the one in-flight cap), targets side by side."""
        if self.rates:
            cap = self.concurrencies[0]
            return [(cap, t, rate) for rate in self.rates for t in self.targets]
        if self.trace is not None:
            return [(self.concurrencies[0], t, None) for t in self.targets]
        return [(c, t, None) for c in self.concurrencies for t in self.targets]

    def stages_after(self, target: Target, concurrency: int, rate: float | None = None) -> int:
        stages = self.stages()
        if (concurrency, target, rate) not in stages:
            return 0
        return len(stages) - 1 - stages.index((concurrency, target, rate))

    def processes_for(self, concurrency: int) -> int:
        """Locust's --processes for one stage (0: a single process)."""
        return self.processes_by_concurrency.get(concurrency, self.processes)

    def describe(self) -> PlanDescription:
        """The plan as ``load_results.json`` records it (no secrets: only the API key's
        variable name)."""
        return PlanDescription(
            targets=list(self.targets),
            baseline=self.targets[0].name,
            concurrencies=self.concurrencies,
            requests_per_stage=self.requests,
            duration_s=self.duration_s,
            prompts=self.prompts,
            prompt_limit=self.prompt_limit,
            model=self.model or "(first of GET /v1/models)",
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            warmup_s=self.warmup_s,
            processes=self.processes,
            processes_by_concurrency=self.processes_by_concurrency or None,
            master=self.master,
            expect_workers=self.expect_workers if self.master else None,
            api_key_env=self.api_key_env or None,
            slo=self.slo or None,
            min_goodput=self.min_goodput,
            max_error_rate=self.max_error_rate,
            trace=(
                TraceReplay(str(self.trace), self.trace_speed, self.concurrencies[0])
                if self.trace is not None
                else None
            ),
            open_loop=(
                OpenLoopPlan(
                    self.rates, self.arrival, self.burstiness, self.seed, self.concurrencies[0]
                )
                if self.rates
                else None
            ),
        )

    def run_time_s(self) -> float:
        """Locust's --run-time: only a safety cap (it counts from process start-up)."""
        if self.duration_s > 0:
            return self.warmup_s + self.duration_s + STARTUP_ALLOWANCE_S
        return 3600.0

    def max_failures(self) -> int:
        """Failed measured requests after which Locust stops a --requests stage (0 = no limit):
        as many as the successes asked for, so a dead target does not spin until the hour-long
        cap, and a stage never sends more than twice the requests it would with no failure."""
        return max(self.requests, 0)
