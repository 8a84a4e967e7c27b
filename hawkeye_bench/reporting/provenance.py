"""What each input is: models, preset, dataset checksums, versions (never secrets)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hawkeye_bench.eval.manifest import Manifest
from hawkeye_bench.pipelines import cot_role_of
from hawkeye_bench.reporting.inputs import EvalRun, Inputs, JudgeOutput, LmEvalOutput, LoadResult
from hawkeye_bench.reporting.lm_eval_inputs import hawkeye_info, model_args
from hawkeye_bench.reporting.model import InputEntry
from hawkeye_bench.reporting.trl_logs import TrainingLog

Rel = Callable[[Path], str]
SECRET_WORDS = ("key", "token", "secret", "password", "auth")
SHA_CHARS = 12


def _dataset_sha(fingerprint: dict[str, Any] | None) -> str | None:
    if not fingerprint:
        return None
    if fingerprint.get("source") == "mirror":
        return ", ".join(
            f"{f['name']} sha256 {str(f.get('sha256', '?'))[:SHA_CHARS]}"
            for f in fingerprint.get("files", [])
        )
    hub = fingerprint.get("hub") or []
    return ", ".join(f"{h.get('path')}@{h.get('revision')}" for h in hub) or None


def eval_run(run: EvalRun, rel: Rel) -> InputEntry:
    identity = run.identity
    manifest = run.manifest or Manifest()
    preset = manifest.preset or {}
    models = ", ".join(f"{role}={model}" for role, model in run.models().items())
    files = [rel(run.records_file)] + ([rel(run.manifest_file)] if run.manifest else [])
    return InputEntry(
        kind="eval run",
        folder=rel(run.path),
        details={
            "task": run.dataset,
            "pipeline": run.pipeline,
            "models": models,
            "preset": manifest.preset_name or identity.get("preset"),
            "stage 2 input": (identity.get("stage2_input") or preset.get("stage2_input"))
            if cot_role_of(run.pipeline) is not None
            else None,
            "items": len(run.records),
            "limit": identity.get("limit"),
            "samples": identity.get("samples"),
            "max_tokens": manifest.config.max_tokens,
            "dataset": _dataset_sha(manifest.dataset),
            "status": run.status,
            "git": (manifest.environment.git_revision or "")[:SHA_CHARS] or None
            if manifest.environment
            else None,
            "started": manifest.started_at,
        },
        files=files,
    )


def lm_eval_output(output: LmEvalOutput, rel: Rel) -> InputEntry:
    config = output.tasks[0].config if output.tasks else {}
    args = {
        k: v
        for k, v in model_args(config).items()
        if not any(word in k.lower() for word in SECRET_WORDS)
    }
    info = hawkeye_info(config)
    endpoints = info.get("endpoints") or {}
    date = output.meta.get("date")
    if isinstance(date, int | float):
        date = dt.datetime.fromtimestamp(date, dt.UTC).isoformat(timespec="seconds")
    return InputEntry(
        kind="lm-eval output",
        folder=rel(output.path),
        details={
            "tasks": ", ".join(t.task for t in output.tasks),
            "model": config.get("model"),
            "model_args": ", ".join(f"{k}={v}" for k, v in args.items()) or None,
            "pipeline": info.get("pipeline"),
            "models": ", ".join(f"{r}={e.get('model')}" for r, e in endpoints.items()) or None,
            "preset": info.get("preset"),
            "stage 2 input": info.get("stage2_input"),
            "lm_eval": output.meta.get("lm_eval_version"),
            "date": date,
        },
        files=list(dict.fromkeys(rel(t.results_file) for t in output.tasks)),
    )


def load_result(load: LoadResult, rel: Rel) -> InputEntry:
    plan = load.results.get("plan") or {}
    targets = ", ".join(f"{t.get('name')}={t.get('url')}" for t in plan.get("targets", []))
    return InputEntry(
        kind="load result",
        folder=rel(load.path),
        details={
            "targets": targets,
            "baseline": plan.get("baseline"),
            "concurrencies": plan.get("concurrencies"),
            "prompts": plan.get("prompts"),
            "model": plan.get("model"),
            "max_tokens": plan.get("max_tokens"),
            "requests per stage": plan.get("requests_per_stage"),
            "warmup s": plan.get("warmup_s"),
            "created": load.results.get("created"),
        },
        files=[rel(load.results_file)],
    )


def judge_output(judge: JudgeOutput, rel: Rel) -> InputEntry:
    summary = judge.judge_summary
    judges = ", ".join(
        f"{j.judge}={j.model} ({j.ok}/{j.results} judgements ok)" for j in summary.judges
    )
    facts = summary.facts
    return InputEntry(
        kind="judgements",
        folder=rel(judge.path),
        details={
            "panel": facts.panel if facts else None,
            "judges": judges,
            "criteria": ", ".join(c.name for c in summary.criteria),
            "runs judged": ", ".join(r.label for r in summary.runs),
            "baseline": summary.baseline,
            "prompt version": (facts.prompt_version or None) if facts else None,
        },
        files=[rel(judge.summary_file), rel(judge.judgements_file)],
    )


def training_log(log: TrainingLog, rel: Rel) -> InputEntry:
    steps = [p.step for p in log.points]
    return InputEntry(
        kind="TRL training log",
        folder=rel(log.path),
        details={
            "reward functions": ", ".join(log.reward_functions),
            "logged entries": len(log.points),
            "steps": f"{min(steps)} to {max(steps)}" if steps else None,
        },
        files=[rel(log.source)],
    )


def describe_inputs(inputs: Inputs, rel: Rel) -> list[InputEntry]:
    return [
        *(eval_run(r, rel) for r in inputs.runs),
        *(lm_eval_output(o, rel) for o in inputs.lm_evals),
        *(load_result(load, rel) for load in inputs.loads),
        *(judge_output(j, rel) for j in inputs.judgements),
        *(training_log(log, rel) for log in inputs.trainings),
    ]
