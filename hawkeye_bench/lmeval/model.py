"""The lm-eval model "hawkeye": runs any registered pipeline through the core engine.

``lm_eval ... --model hawkeye --model_args pipeline=hawkeye,reasoner_url=...,reasoner_model=...``

- All requests of a run arrive in one ``generate_until`` call; they run with at most
  ``num_concurrent`` in flight, each item's stages back to back (stage 2 of a problem starts
  as soon as its own stage 1 ends).
- lm-eval repeats a request by passing the *same* Instance k times; the n-th occurrence of a
  (task, doc_id) is repeat n and gets its own seed (:func:`hawkeye_bench.eval.engine.item_seed`).
- Retries and long timeouts come from :class:`EndpointClient`; a request that still fails is
  returned as a recorded failure (scored wrong, counted in ``request_error`` and in
  ``get_model_info``) instead of aborting the run.
- Each answer is a :class:`PipelineAnswer` (a str carrying the Record) and a line in the
  traces sidecar; finished answers are handed to lm-eval's ``--use_cache`` as they come.
- API keys never appear in model_args: ``*_key_env`` name environment variables.
- Replicas: a ``url``/``<role>_url`` may list several base URLs of one model separated by
  ``|`` (lm-eval splits model_args on commas): ``reasoner_url=http://a:8000/v1|http://b:8000/v1``;
  ``max_in_flight`` caps the calls in flight per replica; ``get_model_info`` records what each
  replica did.
- A pipeline's run options are model_args of their own names (``pipeline=compress,keep=0.3,
  method=truncate``; ``pipeline=route,router=top1,threshold=0.5``), and ``preset=default`` is
  the pipeline's own default preset, as in ``eval``.
- ``baseline_run=<eval run folder or traces sidecar>`` (and ``margin=2``, percentage points):
  ``get_model_info`` adds, per dataset shared with that run, the paired accuracy difference,
  its 95% interval and the non-inferiority verdict (:mod:`hawkeye_bench.lmeval.baseline`).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import sys
import weakref
from collections import Counter
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from lm_eval.api.instance import Instance
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from tqdm import tqdm

from hawkeye_bench.core.problem import Problem
from hawkeye_bench.core.record import Record
from hawkeye_bench.core.trace import StageResult, Trace
from hawkeye_bench.endpoints.client import Endpoint
from hawkeye_bench.endpoints.pool import ClientPool
from hawkeye_bench.endpoints.settings import ConfigError, EndpointSettings, resolve_endpoints
from hawkeye_bench.eval.comparison import AccuracyComparison, comparison_line
from hawkeye_bench.eval.engine import WorkItem, item_seed, run_item
from hawkeye_bench.eval.health import HealthWatch, gather_watched
from hawkeye_bench.grading.workers import default_grader
from hawkeye_bench.lmeval.answer import PipelineAnswer
from hawkeye_bench.lmeval.baseline import compare_by_dataset, load_baseline_records
from hawkeye_bench.lmeval.docs import doc_to_problem
from hawkeye_bench.lmeval.sidecar import TraceSidecar, sidecar_path
from hawkeye_bench.pipelines import Pipeline, get_pipeline
from hawkeye_bench.presets import STAGE2_INPUTS, Preset, load_preset
from hawkeye_bench.serve.embedded import LocalModelServer, running_servers

log = logging.getLogger(__name__)

MODEL_NAME = "hawkeye"
#: Where traces go when model_args name no ``traces`` path.
DEFAULT_TRACES_DIR = "hawkeye_traces"
#: Settings every role of the chosen pipeline takes in model_args, as ``<role>_<setting>``.
ROLE_SETTINGS = ("url", "model", "key_env", "max_tokens")
#: Keys lm-eval adds to model_args itself (CLI ``--batch_size``/``--device``): accepted, unused.
LM_EVAL_EXTRA_ARGS = frozenset({"batch_size", "max_batch_size", "device", "trust_remote_code"})

T = TypeVar("T")


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from sync code, also when an event loop already runs here
    (Jupyter): then in a fresh loop on a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def preset_with_overrides(
    preset: Preset, everywhere: Mapping[str, Any], per_role: Mapping[str, Mapping[str, Any]]
) -> Preset:
    """``preset`` with sampling overrides for all stages, then per role (per-role wins)."""
    preset = preset.with_overrides(**everywhere)
    stages = dict(preset.stages)
    for role, overrides in per_role.items():
        given = {k: v for k, v in overrides.items() if v is not None}
        if given and role in stages:
            stages[role] = replace(stages[role], **given)
    return replace(preset, stages=stages)


@dataclass
class _Job:
    """One generation: which request, which repeat of it, and the problem behind it."""

    instance: Instance
    repeat: int
    problem: Problem
    gradable: bool  # a hawkeye_* document with a gold answer


def _as_int(name: str, value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"model_args {name}={value!r}: expected an integer") from None


def _as_float(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"model_args {name}={value!r}: expected a number") from None


def _optional(convert: Any, name: str, value: Any) -> Any:
    return None if value is None or value == "" else convert(name, value)


def _as_non_negative_float(name: str, value: Any) -> float:
    number = _as_float(name, value)
    if not number >= 0 or number == float("inf"):
        raise ConfigError(f"model_args {name}={value}: must be a finite number >= 0")
    return number


def _as_positive_int(name: str, value: Any) -> int:
    number = _as_int(name, value)
    if number < 1:
        raise ConfigError(f"model_args {name}={value}: must be >= 1")
    return number


@register_model(MODEL_NAME)
class HawkeyeLM(LM):
    """lm-eval model running a hawkeye-bench pipeline (see the module docstring)."""

    def __init__(
        self,
        pipeline: str = "hawkeye",
        preset: str = "default",
        url: str | None = None,
        model: str | None = None,
        key_env: str | None = None,
        num_concurrent: int = 8,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stage2_input: str | None = None,
        timeout: float = 3600.0,
        max_retries: int = 3,
        max_in_flight: int | None = None,
        max_consecutive_failures: int = 5,
        seed: int = 0,
        traces: str | None = None,
        data_dir: str | None = None,
        baseline_run: str | None = None,
        margin: float | None = None,
        **lm_eval_args: Any,
    ) -> None:
        super().__init__()
        self.margin_pp = _optional(_as_non_negative_float, "margin", margin)
        if self.margin_pp is not None and not baseline_run:
            raise ConfigError(
                "model_args margin judges a run against its baseline: add baseline_run"
            )
        self.baseline_run = str(baseline_run) if baseline_run else None
        self.baseline = load_baseline_records(self.baseline_run) if self.baseline_run else ()
        self.graded: list[Record] = []  # this model's graded records, for the comparison
        self.pipeline_cls: type[Pipeline] = get_pipeline(str(pipeline))
        # the pipeline's run options (compress: keep, method; route: router, threshold, ...)
        self.options = self.pipeline_cls.check_options(self.pipeline_cls.options.take(lm_eval_args))
        role_args = self._take_role_args(lm_eval_args)
        if stage2_input is not None and stage2_input not in STAGE2_INPUTS:
            raise ConfigError(
                f"model_args stage2_input={stage2_input!r}; valid: {', '.join(STAGE2_INPUTS)}"
            )
        self.stage2_input = stage2_input
        if preset == "default":
            preset = self.pipeline_cls.default_preset
        self.preset = self._preset_from_args(preset, max_tokens, temperature, role_args)
        self.num_concurrent = _as_positive_int("num_concurrent", num_concurrent)
        self.seed = _as_int("seed", seed)
        self.max_consecutive_failures = _as_positive_int(
            "max_consecutive_failures", max_consecutive_failures
        )
        self.label = model
        settings = EndpointSettings(
            generic={"base_url": url, "model": model, "api_key_env": key_env},
            per_role={
                role: {
                    "base_url": role_args.get((role, "url")),
                    "model": role_args.get((role, "model")),
                    "api_key_env": role_args.get((role, "key_env")),
                }
                for role in self.pipeline_cls.roles
            },
            timeout_s=_as_float("timeout", timeout),
            max_retries=_as_int("max_retries", max_retries),
            max_in_flight=_optional(_as_positive_int, "max_in_flight", max_in_flight),
        )
        self.endpoints: dict[str, Endpoint] = resolve_endpoints(settings, self.pipeline_cls.roles)
        self.local_server: LocalModelServer | None = None
        if not self.endpoints:
            self._start_local_server(settings.timeout_s, settings.max_retries)
        run_coroutine(self._check_endpoints())
        self.sidecar = TraceSidecar(sidecar_path(traces or DEFAULT_TRACES_DIR))
        self.requests_run = 0
        self.failures: Counter[str] = Counter()
        self.replica_stats: list[dict[str, Any]] = []  # the last run's, per replica set

    def _take_role_args(self, lm_eval_args: dict[str, Any]) -> dict[tuple[str, str], Any]:
        """Pop the ``<role>_<setting>`` model_args of the pipeline's roles out of
        ``lm_eval_args``; any other key left (but lm-eval's own) is an error."""
        roles = self.pipeline_cls.roles
        role_args = {
            (role, setting): lm_eval_args.pop(f"{role}_{setting}")
            for role in roles
            for setting in ROLE_SETTINGS
            if f"{role}_{setting}" in lm_eval_args
        }
        unknown = sorted(set(lm_eval_args) - LM_EVAL_EXTRA_ARGS)
        if unknown:
            per_role = ", ".join(f"{r}_{s}" for r in roles for s in ROLE_SETTINGS)
            raise ConfigError(
                f"unknown model_args for --model {MODEL_NAME}: {', '.join(unknown)}; valid: "
                f"{', '.join(sorted(MODEL_ARGS))}, and per role of pipeline "
                f"{self.pipeline_cls.name!r}: {per_role} (API keys: name env vars with *key_env)"
            )
        return role_args

    def _preset_from_args(
        self,
        name: str,
        max_tokens: int | None,
        temperature: float | None,
        role_args: Mapping[tuple[str, str], Any],
    ) -> Preset:
        """Preset ``name`` with the model_args' overrides (every stage, then per role)."""
        preset = preset_with_overrides(
            load_preset(str(name)),
            {
                "max_tokens": _optional(_as_int, "max_tokens", max_tokens),
                "temperature": _optional(_as_float, "temperature", temperature),
            },
            {
                role: {
                    "max_tokens": _optional(
                        _as_int, f"{role}_max_tokens", role_args.get((role, "max_tokens"))
                    )
                }
                for role in self.pipeline_cls.roles
            },
        )
        for role in self.pipeline_cls.roles:
            preset.stage(role)  # a preset without this pipeline's stages fails now
        return preset

    # -- setup --------------------------------------------------------------------------------

    def _start_local_server(self, timeout_s: float, max_retries: int) -> None:
        print(
            "hawkeye: no endpoint in model_args; starting the embedded default model "
            "(SmolLM2-135M) ...",
            file=sys.stderr,
        )
        server = LocalModelServer()
        server.start()
        self.local_server = server
        weakref.finalize(self, server.stop)
        atexit.register(server.stop)
        endpoint = replace(server.endpoint, timeout_s=timeout_s, max_retries=max_retries)
        # llama-cpp-python's server serves one request at a time and, by default, a new
        # request interrupts the one streaming (it then ends empty): send one at a time.
        self.num_concurrent = 1
        self.endpoints = {role: endpoint for role in self.pipeline_cls.roles}

    async def _check_endpoints(self) -> None:
        """Fail before the run starts when an endpoint does not answer (says which)."""
        async with ClientPool(self.endpoints, concurrency=self.num_concurrent) as pool:
            await pool.check()

    # -- lm-eval API --------------------------------------------------------------------------

    def loglikelihood(self, requests: list[Instance], disable_tqdm: bool = False) -> list:
        raise NotImplementedError(
            f"--model {MODEL_NAME} only generates text (generate_until tasks such as hawkeye_*); "
            "it cannot score log-likelihoods"
        )

    def loglikelihood_rolling(self, requests: list[Instance], disable_tqdm: bool = False) -> list:
        return self.loglikelihood(requests, disable_tqdm)

    def generate_until(
        self, requests: list[Instance], disable_tqdm: bool = False
    ) -> list[PipelineAnswer]:
        jobs = self._plan(requests)
        answers = run_coroutine(self._run(jobs, disable_tqdm))
        for dataset, paired in self._comparison().get("accuracy_vs_baseline", {}).items():
            line = comparison_line(AccuracyComparison.from_dict(paired))
            print(f"hawkeye {dataset}: {line.removeprefix('vs baseline').strip()}", file=sys.stderr)
        return answers

    def get_model_info(self) -> dict[str, Any]:
        """Merged into results_*.json ``config``: what ran where, and how many requests failed."""
        return {
            "hawkeye": {
                "pipeline": self.pipeline_cls.name,
                "preset": self.preset.name,
                "preset_path": self.preset.path,
                "stage2_input": self.stage2_input or self.preset.stage2_input,
                "endpoints": {role: e.to_dict() for role, e in self.endpoints.items()},
                "embedded_model": self.local_server is not None,
                "num_concurrent": self.num_concurrent,
                "seed": self.seed,
                "requests": self.requests_run,
                "failures": sum(self.failures.values()),
                "failure_types": dict(self.failures),
                "traces": str(self.sidecar.path.resolve()),
                **({"replicas": self.replica_stats} if self.replica_stats else {}),
                **self._comparison(),
            }
        }

    def _comparison(self) -> dict[str, Any]:
        """``baseline_run`` and, per dataset shared with it, ``accuracy_vs_baseline``."""
        if self.baseline_run is None:
            return {}
        return {
            "baseline_run": self.baseline_run,
            "accuracy_vs_baseline": compare_by_dataset(self.graded, self.baseline, self.margin_pp),
        }

    # -- running ------------------------------------------------------------------------------

    def _plan(self, requests: list[Instance]) -> list[_Job]:
        """One job per request, numbering repeats of the same (task, doc_id) 0, 1, 2, ..."""
        seen: Counter[tuple[str | None, int | None]] = Counter()
        jobs = []
        for instance in requests:
            key = (instance.task_name, instance.doc_id)
            repeat = seen[key]
            seen[key] += 1
            problem = doc_to_problem(instance.doc or {})
            gradable = problem is not None
            if problem is None:  # a document of some other task: its context is the question
                problem = Problem(
                    id=f"{instance.task_name}/{instance.doc_id}",
                    dataset="generic",
                    question=instance.args[0],
                    gold="",
                )
            jobs.append(_Job(instance, repeat, problem, gradable))
        return jobs

    async def _run(self, jobs: list[_Job], disable_tqdm: bool) -> list[PipelineAnswer]:
        limit = asyncio.Semaphore(self.num_concurrent)
        grader = default_grader()  # the one process_results uses for plain strings
        bar = tqdm(
            total=len(jobs),
            desc=f"hawkeye {self.pipeline_cls.name}",
            unit="req",
            disable=disable_tqdm,
            file=sys.stderr,
        )
        async with ClientPool(self.endpoints, concurrency=self.num_concurrent) as pool:
            pipeline = self.pipeline_cls(
                self.preset, pool, stage2_input=self.stage2_input, options=self.options
            )

            # lm-eval needs an answer for every request: a dead model server or an endpoint
            # that stopped answering ends the run rather than filling it with failures
            watch = HealthWatch(
                servers=running_servers, max_consecutive=self.max_consecutive_failures
            )

            async def one(job: _Job) -> PipelineAnswer:
                async with limit:
                    watch.poll()
                    record = await self._run_job(pipeline, grader, job)
                watch.admit(record)
                answer = PipelineAnswer(
                    record, task=job.instance.task_name, doc_id=job.instance.doc_id,
                    repeat=job.repeat,
                )  # fmt: skip
                self._finish(job, answer)
                bar.update(1)
                return answer

            try:
                return await gather_watched([one(job) for job in jobs], watch.poll)
            finally:
                bar.close()
                self.replica_stats = pool.replica_stats()

    async def _run_job(self, pipeline: Pipeline, grader: Any, job: _Job) -> Record:
        if job.gradable:
            coro = run_item(
                pipeline, grader, WorkItem(job.problem, job.repeat), base_seed=self.seed
            )
        else:
            coro = self._run_ungraded(pipeline, job)
        try:
            return await coro
        except Exception as exc:  # a bug hit by one item must not lose the other thousands
            log.exception("hawkeye: %s failed", job.problem.id)
            stage = StageResult(
                role=pipeline.roles[0],
                model="",
                error=f"{type(exc).__name__}: {exc}",
                error_type="exception",
            )
            trace = Trace(pipeline=pipeline.name, stages=[stage])
            seed = item_seed(self.seed, job.problem.id, job.repeat)
            return Record(job.problem, job.repeat, trace, extra={"seed": seed})

    async def _run_ungraded(self, pipeline: Pipeline, job: _Job) -> Record:
        seed = item_seed(self.seed, job.problem.id, job.repeat)
        trace = await pipeline.run(job.problem.question, seed=seed)
        return Record(job.problem, job.repeat, trace, extra={"seed": seed})

    def _finish(self, job: _Job, answer: PipelineAnswer) -> None:
        """Count, write the sidecar line, and hand a finished success to --use_cache."""
        self.requests_run += 1
        if job.gradable:
            self.graded.append(answer.record)
        if answer.failed:
            failed = next((s for s in answer.record.trace.stages if s.error), None)
            self.failures[(failed.error_type if failed else None) or "error"] += 1
        self.sidecar.write(answer.sidecar_line())
        gen_kwargs = job.instance.args[1] if len(job.instance.args) > 1 else {}
        sampled = isinstance(gen_kwargs, dict) and gen_kwargs.get("do_sample", False)
        # Repeats share one cache key (lm-eval's key omits the repeat): never cache them.
        if not answer.failed and job.instance.repeats == 1 and not sampled:
            self.cache_hook.add_partial("generate_until", job.instance.args, answer)


#: The model_args HawkeyeLM accepts (for error messages and docs).
MODEL_ARGS = tuple(
    name
    for name in HawkeyeLM.__init__.__code__.co_varnames[1 : HawkeyeLM.__init__.__code__.co_argcount]
)
