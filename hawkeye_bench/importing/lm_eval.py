"""lm-eval ``--log_samples`` files (``samples_<task>_<date>.jsonl``): one line per document per
filter, ``{doc_id, doc, target, arguments, resps, filtered_resps, filter, metrics, ...}`` plus
one key per metric.

``resps[0]`` holds the raw generations of the document's request (several with ``repeats``):
each becomes a sample and is graded as written (``filtered_resps`` is lm-eval's extraction,
not the model's text). A task with several filters (gsm8k: strict-match, flexible-extract)
logs each document once per filter: the lines of one filter are read (``--lm-eval-filter``,
default the file's first), the others are counted as skipped. The file's verdict is the first
0/1 metric the line lists, kept only for a document with one generation.
"""

from __future__ import annotations

from typing import Any

from hawkeye_bench.importing.formats import FormatOptions, InputFormat, RowReader, register_format
from hawkeye_bench.importing.rows import (
    ImportedRow,
    ImportedStage,
    PassedLine,
    RowError,
    optional_int,
    text_of,
    verdict_of,
)

#: The field of ``doc`` that holds the question, by the datasets lm-eval's math tasks use.
QUESTION_FIELDS = ("question", "problem", "Question", "Problem")


class OtherFilter(PassedLine):
    """A line of a filter other than the one read: skipped and counted, not an error."""

    reason = "other filter"


def _detect(value: Any) -> bool:
    return isinstance(value, dict) and "doc_id" in value and "resps" in value


def _generations(value: dict[str, Any]) -> list[str]:
    resps = value.get("resps")
    if not isinstance(resps, list) or not resps:
        raise RowError("resps is not a non-empty list")
    first = resps[0]
    texts = first if isinstance(first, list) else [first]
    return [text_of(text, "resps[0][]") for text in texts]


def _verdict(value: dict[str, Any]) -> bool | None:
    metrics = value.get("metrics")
    for name in metrics if isinstance(metrics, list) else []:
        verdict = verdict_of(value.get(name))
        if verdict is not None:
            return verdict
    return None


def _question(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    return next((doc[f] for f in QUESTION_FIELDS if isinstance(doc.get(f), str)), None)


def _reader(options: FormatOptions) -> RowReader:
    chosen: list[str | None] = [options.lm_eval_filter]

    def read(line: int, value: Any) -> list[ImportedRow]:
        if not isinstance(value, dict):
            raise RowError(f"expected a JSON object, found {type(value).__name__}")
        name = value.get("filter")
        if chosen[0] is None:
            chosen[0] = name
        if name != chosen[0]:
            raise OtherFilter(f"filter {name!r} (reading filter {chosen[0]!r})")
        texts = _generations(value)
        position = optional_int(value.get("doc_id"), "doc_id")
        verdict = _verdict(value) if len(texts) == 1 else None
        target = value.get("target")
        return [
            ImportedRow(
                line=line,
                stages=[ImportedStage(role=options.role, content=text, model=options.model)],
                question=_question(value.get("doc")),
                position=position,
                sample=sample,
                file_gold=None if target is None else str(target),
                verdict=verdict,
                extra={"filter": name},
            )
            for sample, text in enumerate(texts)
        ]

    return read


register_format(
    InputFormat(
        "lm-eval",
        "lm-eval --log_samples files (samples_<task>_<date>.jsonl)",
        detect=_detect,
        reader=_reader,
        verdict_source="lm-eval's own metric (the first 0/1 metric of each line)",
    )
)
