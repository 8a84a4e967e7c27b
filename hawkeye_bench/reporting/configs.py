"""What produced a row: one configuration per eval run, and labels that name only what differs.

A configuration is everything that changes a run's answers apart from the problems: the
pipeline, each role's model and server, the pipeline's options (``--keep``, the router and its
threshold), the stage-2 input and the preset (its name, and its content where two presets of
one name differ). Every table and figure that reads eval runs keys its rows and series by it,
so two runs that differ only in one role's model are never merged, and labels each with the
facets that differ between the runs being compared.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hawkeye_bench.eval.manifest import Manifest
from hawkeye_bench.eval.store import RunStore
from hawkeye_bench.pipelines import is_baseline
from hawkeye_bench.reporting.inputs import EvalRun, JudgeOutput, read_json
from hawkeye_bench.reporting.model import Column

#: the key of a row's configuration label
CONFIGURATION = "configuration"
#: the embedded default model: one server whatever loopback port it got
EMBEDDED = "embedded"
_HASH_CHARS = 8
#: a setting longer than this is labelled by a digest
_SHORT_CHARS = 40

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class RunConfig:
    """The facets of one run's configuration, in a fixed order (name -> value as text)."""

    facets: tuple[tuple[str, str], ...]

    def get(self, name: str) -> str | None:
        return dict(self.facets).get(name)

    def without(self, names: Iterable[str]) -> RunConfig:
        """The same configuration less the facets a table already shows in columns."""
        drop = set(names)
        return RunConfig(tuple((k, v) for k, v in self.facets if k not in drop))


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _digest(value: Any) -> str:
    return hashlib.sha256(_text(value).encode()).hexdigest()[:_HASH_CHARS]


def _servers(run: EvalRun) -> dict[str, tuple[str, str, str]]:
    """Role -> (model, server, extra request fields): from the identity where it names them,
    else the manifest."""
    identity = run.identity.get("endpoints")
    manifest_endpoints = run.manifest.endpoints if run.manifest else {}
    endpoints = identity if isinstance(identity, dict) else manifest_endpoints
    embedded = isinstance(identity, str)
    found = {
        role: (
            str(e.get("model", "?")),
            EMBEDDED if embedded else str(e.get("base_url", "?")),
            _text(e.get("extra", e.get("extra_body")) or {}),
        )
        for role, e in sorted(endpoints.items())
        if isinstance(e, dict)
    }
    if not found:
        found = {role: (model, "?", "{}") for role, model in sorted(run.models().items())}
    return found


def _preset(run: EvalRun) -> tuple[str, list[tuple[str, str]]]:
    """The preset's name, and its settings as ``preset <stage>.<key>`` facets (none where the
    run did not record its content)."""
    preset = run.identity.get("preset")
    if isinstance(preset, dict):
        settings = [
            (f"preset {path}", _short(value)) for path, value in _flatten(preset) if path != "name"
        ]
        return str(preset.get("name") or "?"), settings
    manifest_preset = run.manifest.preset_name if run.manifest else None
    return str(preset or manifest_preset or "?"), []


def _flatten(value: Any, path: str = "") -> list[tuple[str, Any]]:
    """(dotted path, leaf) of a nested mapping, ``stages`` left out of the path."""
    if not isinstance(value, dict):
        return [(path, value)]
    found: list[tuple[str, Any]] = []
    for key, item in sorted(value.items()):
        step = path if key == "stages" else f"{path}.{key}" if path else str(key)
        found += _flatten(item, step)
    return found


def _short(value: Any) -> str:
    """A setting as a label shows it: long texts (templates) by a digest."""
    text = _text(value)
    return text if len(text) <= _SHORT_CHARS else f"#{_digest(value)}"


def run_config(run: EvalRun) -> RunConfig:
    """The configuration of one eval run, read from its manifest (records where it has none)."""
    facets: list[tuple[str, str]] = [("pipeline", run.pipeline)]
    for role, (model, server, extra) in _servers(run).items():
        facets += [(role, model), (f"{role} server", server), (f"{role} request", extra)]
    options = run.identity.get("pipeline_options") or {}
    facets += [(str(k), _text(v)) for k, v in sorted(options.items())]
    stage2 = run.identity.get("stage2_input")
    if stage2:
        facets.append(("stage 2 input", str(stage2)))
    name, settings = _preset(run)
    facets.append(("preset", name))
    facets += settings
    return RunConfig(tuple(facets))


def differing_labels(configs: Mapping[K, RunConfig]) -> dict[K, str]:
    """Per key, ``name=value`` of each facet whose value differs between the configurations
    (empty when they are all alike). A server is named only where the models alone do not
    tell two configurations apart; a preset's settings only where its name does not."""
    names = list(dict.fromkeys(name for config in configs.values() for name, _ in config.facets))
    varying = [n for n in names if len({c.get(n) for c in configs.values()}) > 1]

    def distinct(shown: Sequence[str]) -> bool:
        seen = {tuple(c.get(n) for n in shown) for c in configs.values()}
        return len(seen) == len({c.facets for c in configs.values()})

    quiet = [n for n in varying if n.endswith(" server") or n.startswith("preset ")]
    shown = [n for n in varying if n not in quiet]
    for name in quiet:
        if not distinct(shown):
            shown.append(name)
    shown.sort(key=names.index)
    return {
        key: ", ".join(f"{n}={config.get(n) or '-'}" for n in shown)
        for key, config in configs.items()
    }


def run_labels(runs: Sequence[EvalRun], hide: Iterable[str] = ()) -> dict[Path, str]:
    """Run folder -> what sets its configuration apart from the other runs of its pipeline on
    its dataset, the rows it is compared with (facets in ``hide`` are left out: the table
    shows them in their own columns)."""
    hidden = tuple(hide)
    labels: dict[Path, str] = {}
    for pipeline, dataset in dict.fromkeys((run.pipeline, run.dataset) for run in runs):
        group = {
            r.path: run_config(r).without(hidden)
            for r in runs
            if (r.pipeline, r.dataset) == (pipeline, dataset)
        }
        labels.update(differing_labels(group))
    return labels


#: facets a baseline is not compared on: it is another pipeline, with its own roles
_NOT_SHARED = ("pipeline",)


@dataclass(frozen=True)
class BaselinePairing:
    """The baseline run a pipeline run is compared with, and whether its configuration matches
    (else it is the first baseline of the dataset, and tables say so)."""

    baseline: EvalRun
    matched: bool

    @property
    def name(self) -> str:
        """The baseline as a table names it: its run, flagged where the configuration differs."""
        label = self.baseline.label
        return label if self.matched else f"{label} (configuration not matched)"


def _models(config: RunConfig, roles: Iterable[str]) -> set[tuple[str | None, str | None]]:
    return {(config.get(role), config.get(f"{role} server")) for role in roles}


def baseline_matches(run: EvalRun, baseline: EvalRun) -> bool:
    """Whether ``baseline`` ran the configuration ``run`` is compared against: every facet the
    two share (the preset, a role of the same name, an option) is equal, and each of the
    baseline's models (with its server) is one of the run's."""
    mine, theirs = run_config(run), run_config(baseline)
    names = {n for n, _ in mine.facets} & {n for n, _ in theirs.facets}
    if any(mine.get(n) != theirs.get(n) for n in names if n not in _NOT_SHARED):
        return False
    base_roles, run_roles = _servers(baseline), _servers(run)
    return _models(theirs, base_roles) <= _models(mine, run_roles)


def pair_baseline(run: EvalRun, baselines: Sequence[EvalRun]) -> BaselinePairing | None:
    """The first of ``baselines`` whose configuration matches ``run``'s, else the first one
    (unmatched); None when there is none."""
    if not baselines:
        return None
    found = next((b for b in baselines if baseline_matches(run, b)), None)
    return BaselinePairing(found, True) if found else BaselinePairing(baselines[0], False)


def baseline_pairings(runs: Sequence[EvalRun]) -> dict[Path, BaselinePairing]:
    """Per pipeline run (by folder), the baseline run of its dataset it is compared with."""
    baselines: dict[str, list[EvalRun]] = {}
    for run in runs:
        if is_baseline(run.pipeline):
            baselines.setdefault(run.dataset, []).append(run)
    return {
        run.path: pairing
        for run in runs
        if not is_baseline(run.pipeline)
        and (pairing := pair_baseline(run, baselines.get(run.dataset, []))) is not None
    }


def judged_run_labels(judge: JudgeOutput) -> dict[str, str]:
    """Per run a judgement folder rated (by its label there), what sets its configuration apart,
    from the manifest beside the records it names (a path as given to ``judge``, or relative
    to the judgement folder); a run whose manifest is not found has none."""
    found: dict[str, EvalRun] = {}
    for entry in judge.judge_summary.runs:
        records = Path(entry.records)
        for folder in (records.parent, judge.path / records.parent):
            if (folder / RunStore.MANIFEST).is_file():
                manifest = Manifest.from_json(read_json(folder / RunStore.MANIFEST))
                found[entry.label] = EvalRun(folder, manifest, [])
                break
    labels = run_labels(list(found.values()))
    return {label: labels[run.path] for label, run in found.items()}


def with_config(name: str, label: str) -> str:
    """A series name with its configuration label, if any."""
    return f"{name} [{label}]" if label else name


def without_empty_configuration(
    columns: list[Column], rows: Sequence[Mapping[str, object]]
) -> list[Column]:
    """``columns`` less the configuration column when no row needs it (one configuration)."""
    if any(row.get(CONFIGURATION) for row in rows):
        return columns
    return [c for c in columns if c.key != CONFIGURATION]
