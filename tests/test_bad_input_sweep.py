"""Bad input to every command, flag by flag and file by file: negative, NaN, huge, missing,
a folder where a file is wanted (and a file where a folder is), unwritable outputs, malformed
YAML and JSON Lines. Each is refused at the point of entry with one ``error:`` line and the
documented exit code (2), no traceback, no file written or lost, and no model server started
or model called: the guard below turns any of those into a failure."""

from __future__ import annotations

import json
import os
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest
from report_fixtures import baseline_record, write_run

from hawkeye_bench import cli
from hawkeye_bench.eval.compress_sweep import SWEEP_FILE
from hawkeye_bench.eval.route_sweep import SWEEP_FILE as ROUTE_SWEEP_FILE

DEAD = ["--endpoint", "http://127.0.0.1:9/v1", "--model", "m"]  # the guard stops any call
EVAL_BASE = ["eval", "--task", "gsm8k", "--limit", "2", "--no-progress", "--out", "{tmp}/o"]
EVAL = [*EVAL_BASE, *DEAD]
CSWEEP = ["compress-sweep", "--task", "gsm8k", "--limit", "1", "--no-progress", *DEAD]
CSWEEP += ["--out", "{tmp}/cs"]
RSWEEP = ["route-sweep", "--task", "gsm8k", "--limit", "1", "--no-progress", *DEAD]
RSWEEP += ["--out", "{tmp}/rs"]
SERVE_BASE = ["serve", "--pipeline", "baseline", "--port", "0"]
SERVE = [*SERVE_BASE, *DEAD]
LOAD = ["load", "--target", "base=http://127.0.0.1:9", "--requests", "2", "--out", "{tmp}/l"]
JUDGE = ["judge", "{run}", "--panel", "local", "--out", "{tmp}/j"]
REPORT = ["report", "{run}", "--out", "{tmp}/r"]
COST = ["cost", "{run}"]
REWARD = ["reward", "{run}", "--reward", "kimi", "--out", "{tmp}/rewards.jsonl", *DEAD]
SERVE_LOCAL = ["serve-local"]
IMPORT = ["import", "--task", "gsm8k", "--format", "generic", "--map", "id=idx,text=out"]
IMPORT += ["--no-progress", "--out", "{tmp}/imported"]
LM_EVAL = ["lm-eval", "--model_args", "url=http://127.0.0.1:9/v1,model=m", "--limit", "1"]
ROLES_ONLY = ["--single-url", "http://127.0.0.1:9/v1", "--single-model", "m"]
UNWRITABLE = "/proc/hawkeye-bench-no/x"
COMMANDS = {"eval", "compress-sweep", "route-sweep", "lm-eval", "serve", "load", "judge", "report"}
COMMANDS |= {"cost", "reward", "serve-local", "import"}


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    code: int = 2
    #: why this case still fails, for one owned elsewhere (strict xfail)
    xfail: str | None = None
    #: what the error line says, where it matters which check refused the input
    expect: str | None = None
    #: environment variables the case sets (name, value)
    env: tuple[tuple[str, str], ...] = ()


def case(
    id: str,
    base: list[str],
    *extra: str,
    code: int = 2,
    xfail: str | None = None,
    expect: str | None = None,
    env: tuple[tuple[str, str], ...] = (),
) -> Case:
    return Case(id, [*base, *extra], code, xfail, expect, env)


CASES: list[Case] = [
    # ------------------------------------------------------------------ eval: numbers
    case("eval-limit-zero", EVAL, "--limit", "0"),
    case("eval-limit-negative", EVAL, "--limit", "-1"),
    case("eval-limit-nan", EVAL, "--limit", "nan"),
    case("eval-limit-word", EVAL, "--limit", "ten"),
    case("eval-samples-zero", EVAL, "--samples", "0"),
    case("eval-samples-negative", EVAL, "--samples", "-3"),
    case("eval-concurrency-zero", EVAL, "--concurrency", "0"),
    case("eval-concurrency-negative", EVAL, "--concurrency", "-8"),
    case("eval-max-tokens-zero", EVAL, "--max-tokens", "0"),
    case("eval-max-tokens-negative", EVAL, "--max-tokens", "-5"),
    case("eval-temperature-negative", EVAL, "--temperature", "-1"),
    case("eval-temperature-nan", EVAL, "--temperature", "nan"),
    case("eval-temperature-huge", EVAL, "--temperature", "1e999"),
    case("eval-timeout-zero", EVAL, "--timeout", "0"),
    case("eval-timeout-negative", EVAL, "--timeout", "-1"),
    case("eval-timeout-nan", EVAL, "--timeout", "nan"),
    case("eval-timeout-huge", EVAL, "--timeout", "1e999"),
    case("eval-max-retries-negative", EVAL, "--max-retries", "-1"),
    case("eval-max-error-rate-huge", EVAL, "--max-error-rate", "1e9"),
    case("eval-max-error-rate-negative", EVAL, "--max-error-rate", "-0.1"),
    case("eval-max-error-rate-nan", EVAL, "--max-error-rate", "nan"),
    case("eval-max-consecutive-failures-zero", EVAL, "--max-consecutive-failures", "0"),
    case("eval-max-in-flight-zero", EVAL, "--max-in-flight", "0"),
    case("eval-seed-word", EVAL, "--seed", "x"),
    # ------------------------------------------------------------------ eval: names and files
    case("eval-task-unknown", EVAL, "--task", "nope"),
    case("eval-pipeline-unknown", EVAL, "--pipeline", "nope"),
    case("eval-preset-unknown", EVAL, "--preset", "nope"),
    case("eval-preset-folder", EVAL, "--preset", "{dir}"),
    case("eval-preset-malformed-yaml", EVAL, "--preset", "{bad_yaml}"),
    case("eval-stage2-input-unknown", EVAL, "--stage2-input", "nope"),
    case("eval-data-dir-missing", EVAL, "--data-dir", "{tmp}/missing"),
    case("eval-data-dir-is-a-file", EVAL, "--data-dir", "{text}"),
    case("eval-data-dir-empty", EVAL, "--data-dir", "{dir}"),
    case("eval-config-missing", EVAL, "--config", "{tmp}/missing.yaml"),
    case("eval-config-folder", EVAL, "--config", "{dir}"),
    case(
        "eval-config-malformed-yaml",
        EVAL,
        "--config",
        "{bad_yaml}",
        expect="not valid YAML: line 2, column 5",
    ),
    case("eval-config-binary", EVAL, "--config", "{binary}", expect="not a text file"),
    case("eval-config-a-list", EVAL, "--config", "{list_yaml}"),
    case("eval-config-unknown-key", EVAL, "--config", "{unknown_key_yaml}"),
    case("eval-config-negative-value", EVAL, "--config", "{negative_yaml}"),
    case("eval-config-api-key", EVAL, "--config", "{api_key_yaml}"),
    case("eval-config-endpoints-a-list", EVAL, "--config", "{endpoints_list_yaml}"),
    case("eval-config-endpoint-not-a-mapping", EVAL, "--config", "{endpoint_number_yaml}"),
    case("eval-config-switch-a-number", EVAL, "--config", "{switch_number_yaml}"),
    case("eval-config-count-a-boolean", EVAL, "--config", "{count_bool_yaml}"),
    case("eval-config-value-a-mapping", EVAL, "--config", "{value_mapping_yaml}"),
    case("eval-out-unwritable", EVAL, "--out", UNWRITABLE, expect="cannot write the run folder"),
    case("eval-out-is-a-file", EVAL, "--out", "{text}"),
    case("eval-out-under-a-file", EVAL, "--out", "{text}/run"),
    case("eval-resume-nothing", EVAL, "--resume"),
    case("eval-resume-other-settings", EVAL, "--out", "{run}", "--resume"),
    case("eval-out-holds-a-run", EVAL, "--out", "{run}"),
    case("eval-retry-errors-without-resume", EVAL, "--retry-errors", expect="--retry-errors"),
    case("eval-baseline-run-missing", EVAL, "--baseline-run", "{tmp}/missing"),
    case("eval-baseline-run-empty-folder", EVAL, "--baseline-run", "{dir}"),
    case("eval-baseline-run-malformed", EVAL, "--baseline-run", "{bad_run}"),
    case("eval-baseline-run-only-a-torn-line", EVAL, "--baseline-run", "{torn_run}"),
    case("eval-baseline-run-other-task", EVAL, "--baseline-run", "{aime_run}"),
    case("eval-endpoint-without-model", ["eval", "--task", "gsm8k", "--endpoint", "http://x/v1"]),
    case(
        "eval-role-url-without-model",
        EVAL_BASE,
        *("--pipeline", "baseline", "--single-url", "http://x/v1"),
        expect="needs a model",
    ),
    case(
        "eval-role-flag-of-another-pipeline",
        EVAL_BASE,
        *("--pipeline", "hawkeye", *ROLES_ONLY),
        expect="--single-url is for the single role, which pipeline hawkeye does not have",
    ),
    case(
        "eval-api-key-env-with-role-urls-only",
        EVAL_BASE,
        *("--pipeline", "baseline", *ROLES_ONLY, "--api-key-env", "K"),
        expect="--api-key-env K is the key of --endpoint, and no --endpoint is given",
    ),
    case("eval-missing-role", EVAL_BASE, "--reasoner-url", "http://x/v1", "--reasoner-model", "m"),
    # ------------------------------------------------------------------ eval: pipeline options
    case("eval-keep-huge", EVAL, "--pipeline", "compress", "--keep", "1e9"),
    case("eval-keep-nan", EVAL, "--pipeline", "compress", "--keep", "nan"),
    case("eval-keep-empty-list", EVAL, "--pipeline", "compress", "--keep", ","),
    case("eval-keep-two-values", EVAL, "--pipeline", "compress", "--keep", "0.3,0.5"),
    case("eval-methods-unknown", EVAL, "--pipeline", "compress", "--methods", "nope"),
    case("eval-methods-two-values", EVAL, "--pipeline", "compress", "--methods", "llm,truncate"),
    case("eval-keep-on-baseline", EVAL, "--pipeline", "baseline", "--keep", "0.3"),
    case("eval-router-unknown", EVAL, "--pipeline", "route", "--router", "nope"),
    case("eval-threshold-negative", EVAL, "--pipeline", "route", "--threshold", "-1"),
    case("eval-threshold-two-values", EVAL, "--pipeline", "route", "--threshold", "0.1,0.2"),
    case("eval-top-logprobs-huge", EVAL, "--pipeline", "route", "--top-logprobs", "1000"),
    case("eval-chunk-tokens-zero", EVAL, "--pipeline", "route", "--chunk-tokens", "0"),
    case("eval-anchor-unknown", EVAL, "--pipeline", "route", "--anchor", "middle"),
    case("eval-rtt-nan", EVAL, "--pipeline", "route", "--rtt-ms", "nan"),
    # ------------------------------------------------------------------ compress-sweep
    case("compress-sweep-keep-empty-list", CSWEEP, "--keep", ",", expect="',' gives no value"),
    case("compress-sweep-keep-huge", CSWEEP, "--keep", "0.3,1e9"),
    case("compress-sweep-keep-negative", CSWEEP, "--keep", "-0.1"),
    case("compress-sweep-keep-nan", CSWEEP, "--keep", "nan"),
    case("compress-sweep-methods-empty-list", CSWEEP, "--methods", ","),
    case(
        "compress-sweep-methods-unknown-last",
        CSWEEP,
        "--methods",
        "truncate,,nope",
        expect="unknown compression method 'nope'",
    ),
    case("compress-sweep-resume-nothing", CSWEEP, "--resume"),
    case("compress-sweep-holds-a-sweep", CSWEEP, "--out", "{sweep}"),
    case("compress-sweep-resume-malformed-json", CSWEEP, "--resume", "--out", "{sweep_bad_json}"),
    case(
        "compress-sweep-resume-malformed-entry",
        CSWEEP,
        *("--resume", "--out", "{sweep_bad_entry}"),
        expect="runs[0]: no 'method'",
    ),
    case(
        "compress-sweep-retry-errors-without-resume",
        CSWEEP,
        "--retry-errors",
        expect="--retry-errors",
    ),
    case(
        "compress-sweep-out-unwritable",
        CSWEEP,
        "--out",
        UNWRITABLE,
        expect="cannot write the sweep folder",
    ),
    case(
        "compress-sweep-out-is-a-file",
        CSWEEP,
        "--out",
        "{text}",
        expect="it is a file, not a folder",
    ),
    case("compress-sweep-limit-zero", CSWEEP, "--limit", "0"),
    case("compress-sweep-task-unknown", CSWEEP, "--task", "nope"),
    case("compress-sweep-config-malformed-yaml", CSWEEP, "--config", "{bad_yaml}"),
    case(
        "compress-sweep-responder-flags-mismatch",
        CSWEEP,
        *("--responder-model", "a", "--responder-model", "b", "--responder-model", "c"),
        *("--responder-url", "http://x/v1", "--responder-url", "http://y/v1"),
        expect="--responder-url given 2 times for 3 responders",
    ),
    # ------------------------------------------------------------------ route-sweep
    case(
        "route-sweep-threshold-empty-list", RSWEEP, "--threshold", ",", expect="',' gives no value"
    ),
    case("route-sweep-threshold-negative", RSWEEP, "--threshold", "0.1,-1"),
    case("route-sweep-threshold-nan", RSWEEP, "--threshold", "nan"),
    case("route-sweep-router-empty-list", RSWEEP, "--router", ",", expect="',' gives no value"),
    case("route-sweep-router-unknown", RSWEEP, "--router", "top1,nope", expect="nope"),
    case("route-sweep-random-rates-negative", RSWEEP, "--random-rates", "-1"),
    case("route-sweep-random-rates-empty-list", RSWEEP, "--random-rates", ","),
    case("route-sweep-resume-nothing", RSWEEP, "--resume"),
    case("route-sweep-holds-a-sweep", RSWEEP, "--out", "{route_sweep}"),
    case(
        "route-sweep-resume-malformed-entry",
        RSWEEP,
        *("--resume", "--out", "{route_sweep_bad_entry}"),
        expect="threshold must be a number",
    ),
    case("route-sweep-retry-errors-without-resume", RSWEEP, "--retry-errors"),
    case(
        "route-sweep-out-unwritable",
        RSWEEP,
        "--out",
        UNWRITABLE,
        expect="cannot write the sweep folder",
    ),
    case("route-sweep-out-is-a-file", RSWEEP, "--out", "{text}"),
    case("route-sweep-top-logprobs-zero", RSWEEP, "--top-logprobs", "0"),
    case("route-sweep-chunk-tokens-negative", RSWEEP, "--chunk-tokens", "-1"),
    # ------------------------------------------------------------------ serve
    case("serve-port-negative", SERVE, "--port", "-1"),
    case("serve-port-huge", SERVE, "--port", "70000"),
    case("serve-port-nan", SERVE, "--port", "nan"),
    case("serve-workers-zero", SERVE, "--workers", "0"),
    case("serve-workers-negative", SERVE, "--workers", "-2"),
    case("serve-max-body-zero", SERVE, "--max-body-mb", "0"),
    case("serve-max-body-nan", SERVE, "--max-body-mb", "nan"),
    case("serve-max-body-huge", SERVE, "--max-body-mb", "1e999"),
    case("serve-pipeline-unknown", SERVE, "--pipeline", "nope"),
    case("serve-preset-unknown", SERVE, "--preset", "nope"),
    case("serve-preset-malformed-yaml", SERVE, "--preset", "{bad_yaml}"),
    case(
        "serve-trace-dir-unwritable",
        SERVE,
        "--trace-dir",
        UNWRITABLE,
        expect="cannot write the --trace-dir folder",
    ),
    case("serve-trace-dir-is-a-file", SERVE, "--trace-dir", "{text}"),
    case("serve-keep-on-baseline", SERVE, "--keep", "0.3"),
    case("serve-keep-two-values", SERVE, "--pipeline", "compress", "--keep", "0.1,0.2"),
    case("serve-config-malformed-yaml", SERVE, "--config", "{bad_yaml}"),
    case("serve-config-binary", SERVE, "--config", "{binary}"),
    case("serve-config-endpoints-a-list", SERVE, "--config", "{endpoints_list_yaml}"),
    case("serve-timeout-zero", SERVE, "--timeout", "0"),
    case(
        "serve-role-flag-of-another-pipeline",
        SERVE_BASE,
        *("--reasoner-url", "http://127.0.0.1:9/v1", "--reasoner-model", "m"),
        expect="--reasoner-url is for the reasoner role, which pipeline baseline does not have",
    ),
    case(
        "serve-api-key-env-with-role-urls-only",
        SERVE_BASE,
        *ROLES_ONLY,
        *("--api-key-env", "K"),
        expect="no --endpoint is given",
    ),
    case(
        "serve-client-key-env-unset",
        SERVE,
        *("--client-key-env", "HAWKEYE_BENCH_UNSET_VAR"),
        expect="environment variable HAWKEYE_BENCH_UNSET_VAR is not set",
    ),
    case(
        "serve-client-key-too-short",
        SERVE,
        *("--client-key-env", "HAWKEYE_BENCH_SHORT_KEY"),
        expect="must hold at least 8",
        env=(("HAWKEYE_BENCH_SHORT_KEY", "short"),),
    ),
    case(
        "serve-client-key-empty",
        SERVE,
        *("--client-key-env", "HAWKEYE_BENCH_EMPTY_KEY"),
        expect="is empty",
        env=(("HAWKEYE_BENCH_EMPTY_KEY", ""),),
    ),
    case(
        "serve-default-client-key-too-short",
        SERVE,
        expect="HAWKEYE_SERVE_KEY must hold at least 8",
        env=(("HAWKEYE_SERVE_KEY", "1234567"),),
    ),
    # ------------------------------------------------------------------ import
    case("import-file-missing", IMPORT, "{tmp}/missing.jsonl", expect="no such file"),
    case("import-file-is-a-folder", IMPORT, "{dir}", expect="a folder, not a file"),
    case("import-file-binary", IMPORT, "{binary}", expect="malformed JSON"),
    case("import-malformed-line", IMPORT, "{outputs_bad_line}", expect=":2: malformed JSON"),
    case(
        "import-only-malformed-lines-skipped",
        IMPORT,
        *("{bad_jsonl_only}", "--skip-bad-lines"),
        expect="lines is malformed JSON (the first: line 1); nothing to import",
    ),
    case(
        "import-map-names-a-missing-field",
        IMPORT,
        *("{outputs}", "--map", "id=idx,text=nope"),
        expect="names field 'nope'",
    ),
    case("import-map-unknown-key", IMPORT, "{outputs}", "--map", "answer=out"),
    case("import-task-unknown", IMPORT, "{outputs}", "--task", "nope", expect="unknown dataset"),
    case("import-format-unknown", IMPORT, "{outputs}", "--format", "nope", expect="--format"),
    case("import-match-unknown", IMPORT, "{outputs}", "--match", "nope"),
    case("import-pipeline-unknown", IMPORT, "{outputs}", "--pipeline", "nope"),
    case(
        "import-tokenizer-does-not-load",
        IMPORT,
        *("{outputs}", "--tokenizer", "{bad_tokenizer}"),
        expect="does not load",
    ),
    case("import-tokenizer-missing", IMPORT, "{outputs}", "--tokenizer", "{tmp}/missing.json"),
    case("import-out-unwritable", IMPORT, "{outputs}", "--out", UNWRITABLE, expect="cannot write"),
    case("import-out-is-a-file", IMPORT, "{outputs}", "--out", "{text}", expect="not a folder"),
    case("import-out-holds-a-run", IMPORT, "{outputs}", "--out", "{run}"),
    case("import-data-dir-missing", IMPORT, "{outputs}", "--data-dir", "{tmp}/missing"),
    case("import-baseline-run-missing", IMPORT, "{outputs}", "--baseline-run", "{tmp}/missing"),
    case("import-baseline-run-other-task", IMPORT, "{outputs}", "--baseline-run", "{aime_run}"),
    case("import-without-task", ["import", "{outputs}"]),
    # ------------------------------------------------------------------ load
    case("load-concurrency-zero", LOAD, "--concurrency", "0"),
    case("load-concurrency-negative", LOAD, "--concurrency", "-1"),
    case("load-concurrency-words", LOAD, "--concurrency", "a,b"),
    case("load-requests-negative", LOAD, "--requests", "-1"),
    case("load-duration-negative", LOAD, "--duration", "-1"),
    case("load-duration-nan", LOAD, "--duration", "nan"),
    case("load-target-without-name", LOAD, "--target", "http://127.0.0.1:9"),
    case("load-dataset-unknown", LOAD, "--dataset", "nope"),
    case("load-prompts-missing", LOAD, "--prompts", "{tmp}/missing.jsonl"),
    case("load-prompts-folder", LOAD, "--prompts", "{dir}"),
    case("load-prompts-malformed-jsonl", LOAD, "--prompts", "{bad_jsonl}"),
    case("load-prompts-not-objects", LOAD, "--prompts", "{list_jsonl}"),
    case("load-prompts-binary", LOAD, "--prompts", "{binary}"),
    case("load-prompt-limit-zero", LOAD, "--prompt-limit", "0"),
    case("load-max-tokens-zero", LOAD, "--max-tokens", "0"),
    case("load-temperature-negative", LOAD, "--temperature", "-1"),
    case("load-warmup-negative", LOAD, "--warmup", "-1"),
    case("load-slo-negative", LOAD, "--slo", "e2e_ms=-5"),
    case("load-slo-nan", LOAD, "--slo", "e2e_ms=nan"),
    case("load-slo-unknown-metric", LOAD, "--slo", "nope=5"),
    case("load-min-goodput-without-slo", LOAD, "--min-goodput", "0.5"),
    case("load-max-error-rate-huge", LOAD, "--max-error-rate", "1e9"),
    case("load-out-unwritable", LOAD, "--out", UNWRITABLE, expect="cannot write the --out folder"),
    case("load-out-is-a-file", LOAD, "--out", "{text}", expect="it is a file, not a folder"),
    case("load-processes-negative", LOAD, "--processes", "-2"),
    case("load-processes-word", LOAD, "--processes", "many"),
    case("load-worker-without-master-host", ["load", "--worker"]),
    case("load-master-without-expect-workers", LOAD, "--master"),
    case("load-expect-workers-zero", LOAD, "--master", "--expect-workers", "0"),
    # ------------------------------------------------------------------ judge
    case("judge-run-missing", JUDGE, "{tmp}/missing"),
    case("judge-run-is-a-file", JUDGE, "{text}"),
    case("judge-run-empty-folder", JUDGE, "{dir}"),
    case("judge-run-malformed", JUDGE, "{bad_run}"),
    case("judge-limit-zero", JUDGE, "--limit", "0"),
    case("judge-rejudge-fraction-huge", JUDGE, "--rejudge-fraction", "2"),
    case("judge-budget-negative", JUDGE, "--budget", "-1"),
    case("judge-budget-nan", JUDGE, "--budget", "nan"),
    case("judge-bootstrap-resamples-zero", JUDGE, "--bootstrap-resamples", "0"),
    case("judge-max-error-rate-nan", JUDGE, "--max-error-rate", "nan"),
    case(
        "judge-out-unwritable", JUDGE, "--out", UNWRITABLE, expect="cannot write the --out folder"
    ),
    case("judge-out-is-a-file", JUDGE, "--out", "{text}", expect="it is a file, not a folder"),
    case(
        "judge-cache-dir-unwritable",
        JUDGE,
        "--cache-dir",
        UNWRITABLE,
        expect="cannot write the --cache-dir folder",
    ),
    case(
        "judge-cache-dir-is-a-file",
        JUDGE,
        "--cache-dir",
        "{text}",
        expect="it is a file, not a folder",
    ),
    case("judge-panel-unknown", JUDGE, "--panel", "nope"),
    case("judge-criteria-unknown", JUDGE, "--criteria", "nope"),
    case("judge-judges-dir-missing", JUDGE, "--judges-dir", "{tmp}/missing"),
    case("judge-judges-dir-is-a-file", JUDGE, "--judges-dir", "{text}"),
    case("judge-panel-malformed-yaml", JUDGE, "--judges-dir", "{bad_judges}", "--panel", "bad"),
    case(
        "judge-rubric-binary",
        JUDGE,
        *("--judges-dir", "{bad_judges}", "--criteria", "binary"),
    ),
    # ------------------------------------------------------------------ report
    case("report-input-missing", ["report", "{tmp}/missing", "--out", "{tmp}/r"]),
    case("report-input-is-a-file", ["report", "{text}", "--out", "{tmp}/r"]),
    case("report-input-empty-folder", ["report", "{dir}", "--out", "{tmp}/r"]),
    case("report-input-malformed-run", ["report", "{bad_run}", "--out", "{tmp}/r"]),
    case("report-input-malformed-judgements", ["report", "{bad_judged}", "--out", "{tmp}/r"]),
    case("report-input-malformed-load", ["report", "{bad_load}", "--out", "{tmp}/r"]),
    case("report-input-malformed-sweep", ["report", "{sweep_bad_json}", "--out", "{tmp}/r"]),
    case("report-input-malformed-sweep-entry", ["report", "{sweep_bad_entry}", "--out", "{tmp}/r"]),
    case(
        "report-out-unwritable",
        REPORT[:2],
        "--out",
        UNWRITABLE,
        expect="cannot write the report folder",
    ),
    case(
        "report-out-is-a-file", REPORT[:2], "--out", "{text}", expect="it is a file, not a folder"
    ),
    case("report-out-under-a-file", REPORT[:2], "--out", "{text}/r", expect="is not a folder"),
    case("report-without-out", REPORT[:2]),
    # ------------------------------------------------------------------ cost
    case("cost-input-missing", ["cost", "{tmp}/missing"]),
    case("cost-input-empty-folder", ["cost", "{dir}"]),
    case("cost-input-malformed-run", ["cost", "{bad_run}"]),
    case("cost-prices-missing", COST, "--prices", "{tmp}/missing.yaml"),
    case("cost-prices-malformed-yaml", COST, "--prices", "{bad_yaml}"),
    case("cost-prices-binary", COST, "--prices", "{binary}"),
    case("cost-prices-a-list", COST, "--prices", "{list_yaml}"),
    case("cost-prices-folder", COST, "--prices", "{dir}"),
    case("cost-preset-unknown", COST, "--preset", "nope"),
    case("cost-small-model-ratio-nan", COST, "--preset", "poster", "--small-model-ratio", "nan"),
    case(
        "cost-small-model-ratio-negative", COST, "--preset", "poster", "--small-model-ratio", "-1"
    ),
    case("cost-out-unwritable", COST, "--out", UNWRITABLE, expect="cannot write the --out folder"),
    case("cost-out-is-a-file", COST, "--out", "{text}", expect="it is a file, not a folder"),
    # ------------------------------------------------------------------ reward
    case("reward-run-missing", ["reward", "{tmp}/missing"]),
    case("reward-run-is-a-file", ["reward", "{text}"]),
    case("reward-run-empty-folder", ["reward", "{dir}"]),
    case("reward-run-malformed", ["reward", "{bad_run}", "--reward", "kimi"]),
    case("reward-unknown", REWARD, "--reward", "nope"),
    case("reward-variant-unknown", REWARD, "--variant", "nope"),
    case("reward-alpha-nan", REWARD, "--alpha", "nan"),
    case("reward-alpha-negative", REWARD, "--alpha", "-1"),
    case("reward-penalty-nan", REWARD, "--penalty", "nan"),
    case("reward-concurrency-zero", REWARD, "--concurrency", "0"),
    case("reward-max-length-zero", REWARD, "--max-length", "0"),
    case("reward-overlong-cache-zero", REWARD, "--overlong-cache", "0"),
    case("reward-max-error-rate-huge", REWARD, "--max-error-rate", "2"),
    case(
        "reward-out-unwritable",
        REWARD,
        "--out",
        UNWRITABLE,
        expect="cannot write the folder of the rewards file",
    ),
    case("reward-out-is-a-folder", REWARD, "--out", "{dir}", expect="it is a folder, not a file"),
    case(
        "reward-reference-run-missing",
        REWARD,
        *("--reward", "hawkeye", "--reference-run", "{tmp}/missing"),
        expect="--reference-run ",
    ),
    case(
        "reward-reference-run-malformed",
        REWARD,
        *("--reward", "hawkeye", "--reference-run", "{bad_run}"),
    ),
    case(
        "reward-reference-run-missing-unused",
        REWARD,
        *("--reference-run", "{tmp}/missing"),
        expect="here it would be ignored",
    ),
    case(
        "reward-reference-run-without-the-paper-variant",
        REWARD,
        *("--reward", "hawkeye", "--variant", "upstream", "--reference-run", "{run}"),
        expect="here it would be ignored",
    ),
    case("reward-preset-unknown", REWARD, "--reward", "hawkeye", "--preset", "nope"),
    case("reward-config-binary", REWARD, "--config", "{binary}"),
    case(
        "reward-role-flag-it-does-not-use",
        ["reward", "{run}", "--reward", "hawkeye", "--out", "{tmp}/rewards.jsonl"],
        *("--reasoner-url", "http://127.0.0.1:9/v1", "--reasoner-model", "m"),
        expect="--reasoner-url is for the reasoner role, which reward --reward hawkeye does not "
        "have (its roles: responder)",
    ),
    case(
        "reward-responder-flag-without-a-hawkeye-reward",
        ["reward", "{run}", "--reward", "kimi", "--out", "{tmp}/rewards.jsonl"],
        *("--responder-url", "http://127.0.0.1:9/v1", "--responder-model", "m"),
        expect="--responder-url is for the responder role",
    ),
    case(
        "reward-preset-unknown-without-endpoint",
        ["reward", "{run}", "--reward", "hawkeye", "--out", "{tmp}/rewards.jsonl"],
        *("--preset", "nope"),
    ),
    # ------------------------------------------------------------------ serve-local
    case("serve-local-port-negative", SERVE_LOCAL, "--port", "-1"),
    case("serve-local-port-huge", SERVE_LOCAL, "--port", "70000"),
    case("serve-local-port-word", SERVE_LOCAL, "--port", "http"),
    case("serve-local-n-ctx-zero", SERVE_LOCAL, "--n-ctx", "0"),
    case("serve-local-n-ctx-negative", SERVE_LOCAL, "--n-ctx", "-1"),
    case("serve-local-n-ctx-nan", SERVE_LOCAL, "--n-ctx", "nan"),
    # ------------------------------------------------------------------ lm-eval
    case(
        "lm-eval-task-unknown",
        LM_EVAL,
        "--tasks",
        "nope",
        expect="Tasks not found: nope (hawkeye tasks:",
    ),
    case(
        "lm-eval-include-path-malformed-yaml",
        LM_EVAL,
        *("--tasks", "x", "--include_path", "{bad_tasks}"),
        expect="is not valid YAML: line 3",
    ),
]


class ModelReached(RuntimeError):
    """A case got past validation to a model server or a model call."""


def _refuse(*args: object, **kwargs: object) -> None:
    raise ModelReached("a bad-input case reached a model server or a model call")


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any model server started or endpoint client made fails the case with a traceback."""
    import hawkeye_bench.commands.load as load_command
    import hawkeye_bench.judging.session as judge_session
    from hawkeye_bench.endpoints.client import EndpointClient
    from hawkeye_bench.serve.embedded import LocalModelServer

    monkeypatch.setattr(LocalModelServer, "start", _refuse)
    monkeypatch.setattr(EndpointClient, "__init__", _refuse)
    monkeypatch.setattr(load_command, "model_ids", _refuse)
    monkeypatch.setattr(judge_session, "resolved_judges", _refuse)


def _snapshot(root: Path) -> dict[Path, int | None]:
    """Every path under ``root``: a file's modification time, None for a folder (whose time
    changes when a probe file comes and goes)."""
    return {p: None if p.is_dir() else p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


def _inputs(tmp: Path) -> dict[str, str]:
    """Good and bad input files, by the names the cases use."""
    run = write_run(
        tmp / "run", "baseline", "gsm8k", [baseline_record("gsm8k", i) for i in range(4)]
    )
    aime = write_run(tmp / "aime", "baseline", "aime", [baseline_record("aime", 0)])
    bad_run = tmp / "bad-run"
    bad_run.mkdir()
    (bad_run / "records.jsonl").write_text('{"id": 1}\nnot json\n{"id": 2}\n')
    (tmp / "torn-run").mkdir()
    (tmp / "torn-run" / "records.jsonl").write_text('{"id": "gsm8k-0", "sam')
    (tmp / "empty").mkdir()
    (tmp / "text.txt").write_text("hello\n")
    (tmp / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (tmp / "bad.yaml").write_text("endpoints: [unclosed\n  - : :\n")
    (tmp / "list.yaml").write_text("- a\n- b\n")
    (tmp / "unknown.yaml").write_text("no_such_setting: 1\n")
    (tmp / "negative.yaml").write_text("limit: -1\n")
    (tmp / "api_key.yaml").write_text("api_key: sk-123\n")
    (tmp / "bad.jsonl").write_text('{"messages": []}\nnot json\n{"messages": []}\n')
    (tmp / "list.jsonl").write_text("[1, 2]\n")
    (tmp / "outputs.jsonl").write_text('{"idx": 0, "out": "\\\\boxed{1}"}\n')
    (tmp / "outputs-bad-line.jsonl").write_text('{"idx": 0, "out": "1"}\n{"idx": 1, "ou\n')
    (tmp / "bad-only.jsonl").write_text("not json\n{broken\n")
    (tmp / "tokenizer.json").write_text("{}")
    more_yaml = {
        "endpoints_list_yaml": "endpoints: [a, b]\n",
        "endpoint_number_yaml": "endpoints: {reasoner: 5}\n",
        "switch_number_yaml": "no_progress: 3\n",
        "count_bool_yaml": "samples: true\n",
        "value_mapping_yaml": "preset: {name: default}\n",
    }
    for name, text in more_yaml.items():
        (tmp / f"{name}.yaml").write_text(text)
    kind = json.dumps({"kind": "hawkeye-bench-compress-sweep", "runs": [{"keep": 0.3}]})
    bad_sweeps = {
        "sweep_bad_json": (SWEEP_FILE, "{not json"),
        "sweep_bad_entry": (SWEEP_FILE, kind),
        "route_sweep_bad_entry": (
            ROUTE_SWEEP_FILE,
            '{"runs": [{"router": "top1", "threshold": "high"}]}',
        ),
    }
    for name, (file, text) in bad_sweeps.items():
        (tmp / name).mkdir()
        (tmp / name / file).write_text(text)
    sweep, route_sweep = tmp / "sweep", tmp / "route-sweep"
    sweep.mkdir()
    (sweep / SWEEP_FILE).write_text("{}\n")
    route_sweep.mkdir()
    (route_sweep / ROUTE_SWEEP_FILE).write_text("{}\n")
    bad_judged = tmp / "bad-judged"
    bad_judged.mkdir()
    (bad_judged / "judge_summary.json").write_text("{}\n")
    (bad_judged / "judgements.jsonl").write_text('{"a": 1}\n{broken\n{"a": 2}\n')
    bad_load = tmp / "bad-load"
    bad_load.mkdir()
    (bad_load / "load_results.json").write_text('{"stages": [')
    bad_judges = tmp / "bad-judges"
    (bad_judges / "panels").mkdir(parents=True)
    (bad_judges / "rubrics").mkdir()
    (bad_judges / "panels" / "bad.yaml").write_text("judges: [unclosed\n  - : :\n")
    (bad_judges / "rubrics" / "binary.yaml").write_bytes(bytes(range(256)))
    bad_tasks = tmp / "bad-tasks"
    bad_tasks.mkdir()
    (bad_tasks / "x.yaml").write_text("task: x\ndataset_path: [unclosed\n")
    return {
        "tmp": str(tmp),
        "run": str(run),
        "aime_run": str(aime),
        "bad_run": str(bad_run),
        "torn_run": str(tmp / "torn-run"),
        "dir": str(tmp / "empty"),
        "text": str(tmp / "text.txt"),
        "binary": str(tmp / "binary.bin"),
        "bad_yaml": str(tmp / "bad.yaml"),
        "list_yaml": str(tmp / "list.yaml"),
        "unknown_key_yaml": str(tmp / "unknown.yaml"),
        "negative_yaml": str(tmp / "negative.yaml"),
        "api_key_yaml": str(tmp / "api_key.yaml"),
        "bad_jsonl": str(tmp / "bad.jsonl"),
        "list_jsonl": str(tmp / "list.jsonl"),
        "outputs": str(tmp / "outputs.jsonl"),
        "outputs_bad_line": str(tmp / "outputs-bad-line.jsonl"),
        "bad_jsonl_only": str(tmp / "bad-only.jsonl"),
        "bad_tokenizer": str(tmp / "tokenizer.json"),
        "sweep": str(sweep),
        "route_sweep": str(route_sweep),
        "bad_judged": str(bad_judged),
        "bad_load": str(bad_load),
        "bad_tasks": str(bad_tasks),
        "bad_judges": str(bad_judges),
        **{name: str(tmp / f"{name}.yaml") for name in more_yaml},
        **{name: str(tmp / name) for name in bad_sweeps},
    }


def _params() -> list[object]:
    return [
        pytest.param(one, id=one.id, marks=[pytest.mark.xfail(strict=True, reason=one.xfail)])
        if one.xfail
        else pytest.param(one, id=one.id)
        for one in CASES
    ]


def test_the_sweep_covers_every_command_with_at_least_129_cases() -> None:
    assert len(CASES) >= 129
    assert len({one.id for one in CASES}) == len(CASES)
    assert {one.argv[0] for one in CASES} >= COMMANDS
    assert set(cli.COMMANDS) >= COMMANDS


@pytest.mark.usefixtures("guarded")
@pytest.mark.parametrize("one", _params())
def test_bad_input_is_one_error_line(
    one: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    inputs = _inputs(tmp_path)
    monkeypatch.chdir(tmp_path)  # default output folders land here, and are checked
    for name in ("HAWKEYE_SERVE_KEY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("HAWKEYE_BENCH_UNSET_VAR", raising=False)
    for name, value in one.env:
        monkeypatch.setenv(name, value)
    argv = [part.format(**inputs) for part in one.argv]
    before = _snapshot(tmp_path)
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's usage error
        code = exc.code if isinstance(exc.code, int) else 2
    except Exception:  # a traceback: shown in the failure
        pytest.fail(f"traceback for {argv}:\n{traceback.format_exc()}")
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    errors = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(errors) == 1, captured.err[-2000:]
    assert code == one.code, captured.err[-2000:]
    assert one.expect is None or one.expect in errors[0], errors[0]
    after = _snapshot(tmp_path)
    assert after == before, f"files written or lost: {set(after) ^ set(before)}"
    assert not os.path.exists(UNWRITABLE)
