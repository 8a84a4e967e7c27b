"""Grading outputs generated elsewhere: ``hawkeye-bench import`` turns recorded generations
(a generic JSONL/JSON list, OpenAI Batch output, lm-eval ``--log_samples`` files, the upstream
Hawkeye result files) into an ordinary run folder.

- ``rows``: what a format reads from one line (:class:`ImportedRow`, one per output);
- ``reading``: streaming a JSON Lines file or a JSON list, with the file's sha256;
- ``formats``: the input-format registry; ``generic``, ``openai_batch``, ``lm_eval`` and
  ``upstream`` register one format each;
- ``matching``: rows to benchmark problems (id, normalised question text, position), samples,
  duplicates and unmatched rows;
- ``tokens``: token counts with their source (the file's, else a named tokenizer);
- ``agreement``: the harness's verdicts against the file's own;
- ``runner``: the import run (validation pass, then records, manifest and summary).
"""
