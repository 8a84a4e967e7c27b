"""The upstream Hawkeye repository's result files, with the authors' own ``score`` kept as the
file's verdict:

- ``hawkeye-gsm8k``: a JSON list of ``{..., "model_output": text, "answer": the GSM8K rationale
  ending "#### N", "score": 0 or 1}`` (the score is a gpt-4o-mini judge's);
- ``hawkeye-math500``: JSONL of ``{..., "final_answer": text, "ground_truth": LaTeX,
  "score": 0 or 1}``.

The question is read where the object has one (``question``/``problem``), the id from
``unique_id``/``id``; otherwise rows match by position.
"""

from __future__ import annotations

from typing import Any

from hawkeye_bench.importing.formats import FormatOptions, InputFormat, RowReader, register_format
from hawkeye_bench.importing.rows import ImportedRow, ImportedStage, RowError, text_of, verdict_of


def _str_field(value: dict[str, Any], *names: str) -> str | None:
    found = next((value[n] for n in names if value.get(n) is not None), None)
    return None if found is None else str(found)


def _upstream_reader(text_field: str, gold_field: str) -> Any:
    def reader(options: FormatOptions) -> RowReader:
        def read(line: int, value: Any) -> list[ImportedRow]:
            if not isinstance(value, dict):
                raise RowError(f"expected a JSON object, found {type(value).__name__}")
            for name in (text_field, gold_field, "score"):
                if name not in value:
                    raise RowError(f"no {name!r} field")
            stage = ImportedStage(
                role=options.role,
                content=text_of(value[text_field], text_field),
                model=options.model,
            )
            return [
                ImportedRow(
                    line=line,
                    stages=[stage],
                    id=_str_field(value, "unique_id", "id"),
                    question=_str_field(value, "question", "problem"),
                    file_gold=_str_field(value, gold_field),
                    verdict=verdict_of(value["score"]),
                )
            ]

        return read

    return reader


register_format(
    InputFormat(
        "hawkeye-gsm8k",
        "upstream Hawkeye GSM8K results: JSON list of {model_output, answer, score}",
        detect=lambda v: isinstance(v, dict) and {"model_output", "answer", "score"} <= set(v),
        reader=_upstream_reader("model_output", "answer"),
        verdict_source="the authors' score (a gpt-4o-mini judge)",
    )
)
register_format(
    InputFormat(
        "hawkeye-math500",
        "upstream Hawkeye MATH-500 results: JSONL of {final_answer, ground_truth, score}",
        detect=lambda v: (
            isinstance(v, dict) and {"final_answer", "ground_truth", "score"} <= set(v)
        ),
        reader=_upstream_reader("final_answer", "ground_truth"),
        verdict_source="the authors' score (boxed string match, else a gpt-4o-mini judge)",
    )
)
