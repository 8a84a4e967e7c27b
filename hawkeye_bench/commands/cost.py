"""`hawkeye-bench cost`: what finished runs and load tests cost, recomputed with any prices."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import computed_field

from hawkeye_bench.core.errors import HawkeyeError
from hawkeye_bench.core.json_form import JsonPayload
from hawkeye_bench.core.writable import check_writable_folder
from hawkeye_bench.cost import render, token_view
from hawkeye_bench.cost.gpu_view import StageCost, load_costs
from hawkeye_bench.cost.prices import POSTER_RATIO, PRESETS, PriceBook, poster_preset
from hawkeye_bench.eval.manifest import Manifest
from hawkeye_bench.eval.store import RunStore

COST_MD = "cost.md"
COST_JSON = "cost.json"
LOAD_RESULTS = "load_results.json"
RECORDS = "records.jsonl"


class CostInputError(HawkeyeError):
    """A folder given to `cost` is neither an eval run nor a load result."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cost",
        help="USD per 1k problems, per correct answer and per request, from finished results",
        description="Recompute what finished eval runs (token view: their recorded token "
        "counts) and load tests (GPU-time view: their measured throughput) cost, with the "
        "prices of --prices, a --preset, or the prices recorded with each run's endpoints. No "
        "model is called. A role without prices says so; no number is made up.",
    )
    parser.add_argument(
        "inputs", nargs="+", type=Path, help="eval run folders and load-result folders"
    )
    parser.add_argument("--prices", type=Path, help="YAML: role or model name -> prices")
    parser.add_argument(
        "--preset", choices=sorted(PRESETS), help="named prices; poster: the poster's Serving Cost"
    )
    parser.add_argument(
        "--small-model-ratio",
        type=float,
        default=POSTER_RATIO,
        help=f"--preset poster: the responder's token price relative to the reasoner's "
        f"(default {POSTER_RATIO})",
    )
    parser.add_argument("--out", type=Path, help="also write cost.md and cost.json here")
    parser.set_defaults(func=main)


def price_books(args: argparse.Namespace) -> list[PriceBook]:
    books = []
    if args.prices is not None:
        books.append(PriceBook.from_file(args.prices))
    if args.preset == "poster":
        books.append(poster_preset(args.small_model_ratio))
    return books


def _split(inputs: list[Path]) -> tuple[list[Path], list[Path]]:
    runs, loads = [], []
    for path in inputs:
        if (path / RECORDS).is_file():
            runs.append(path)
        elif (path / LOAD_RESULTS).is_file():
            loads.append(path)
        else:
            raise CostInputError(
                f"{path}: neither an eval run ({RECORDS}) nor a load result ({LOAD_RESULTS})"
            )
    return runs, loads


def run_costs(paths: Sequence[Path], books: Sequence[PriceBook]) -> list[token_view.RunCost]:
    """Token-view costs of run folders; each run's own endpoint prices come after ``books``."""
    costs = []
    for path in paths:
        store = RunStore(path)
        records = store.load_records()
        manifest = store.read_manifest() or Manifest()
        identity = manifest.identity
        own = PriceBook.from_manifest(manifest.to_json(), f"{path.name}/manifest.json")
        costs.append(
            token_view.run_cost(
                path.name,
                records,
                [*books, own],
                dataset=identity.get("task"),
                pipeline=identity.get("pipeline"),
            )
        )
    token_view.compare_with_baselines(costs)
    return costs


@dataclass(frozen=True)
class GpuCostRow(JsonPayload):
    """One load stage's GPU-time cost, as ``cost.json``'s ``gpu_view`` lists it."""

    target: str = ""
    concurrency: int = 0
    rate_per_s: float | None = None
    level: str = ""  # the load it pairs with the baseline at: c=10, 2/s, trace
    mean_latency_s: float | None = None
    throughput: float | None = None  # requests per second
    usd_per_hour: float | None = None
    usd_per_1k_requests: float | None = None
    ratio: float | None = None  # vs the baseline target at the same load
    why_unknown: list[str] = field(default_factory=list)
    unreliable_reasons: list[str] = field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reliable(self) -> bool:
        """Written with the row (after ``unreliable_reasons``); derived again when read."""
        return not self.unreliable_reasons

    @classmethod
    def of(cls, stage: StageCost) -> GpuCostRow:
        return cls(
            target=stage.target,
            concurrency=stage.concurrency,
            rate_per_s=stage.rate_per_s,
            level=stage.level,
            mean_latency_s=stage.mean_latency_s,
            throughput=stage.throughput,
            usd_per_hour=stage.usd_per_hour,
            usd_per_1k_requests=stage.usd_per_1k_requests,
            ratio=stage.ratio,
            why_unknown=list(stage.reasons),
            unreliable_reasons=list(stage.unreliable),
        )


@dataclass(frozen=True)
class LoadCost(JsonPayload):
    """One load-result folder's stages in ``cost.json``'s ``gpu_view``."""

    load: str = ""  # the folder's name
    stages: list[GpuCostRow] = field(default_factory=list)


@dataclass
class CostReport(JsonPayload):
    """``cost.json``: the prices used, their notes, and each view's rows."""

    prices: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: one row per run (``cost.render.token_row``: report.json's form)
    token_view: list[dict[str, Any]] = field(default_factory=list)
    gpu_view: list[LoadCost] = field(default_factory=list)


def build(inputs: list[Path], books: list[PriceBook]) -> tuple[list[str], CostReport]:
    """The cost markdown lines and ``cost.json``'s report for ``inputs``."""
    runs, loads = _split(inputs)
    sources = [b.source for b in books] + ["each run's endpoint prices (manifest.json)"]
    notes = [n for b in books for n in b.notes]
    lines = ["# Cost", "", *(f"> {n}" for n in notes), *([""] if notes else [])]
    report = CostReport(prices=sources, notes=notes)
    if runs:
        costs = run_costs(runs, books)
        lines += [*render.token_markdown(costs, sources), ""]
        report.token_view = [render.token_row(c) for c in costs]
    book = books[0] if books else PriceBook()
    for path in loads:
        results = json.loads((path / LOAD_RESULTS).read_text(encoding="utf-8"))
        stages = load_costs(results, book)
        lines += [*render.gpu_markdown(path.name, stages, [b.source for b in books]), ""]
        report.gpu_view.append(LoadCost(path.name, [GpuCostRow.of(s) for s in stages]))
    return lines, report


def main(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_writable_folder(args.out, "--out folder")
    lines, report = build(list(args.inputs), price_books(args))
    text = "\n".join(lines).rstrip() + "\n"
    print(text, end="")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / COST_MD).write_text(text, encoding="utf-8")
        (args.out / COST_JSON).write_text(
            json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8"
        )
    return 0
