#!/usr/bin/env bash
# Regenerate the example report in reports/example/ from a real run of the embedded default
# model (SmolLM2-135M on llama-cpp-python's server; needs the `local` extra). It scores nothing
# meaningful: it shows every section of the report filled from real command outputs.
#
#   reports/make_example.sh                     # from the repository root or anywhere
#   OUT=/tmp/example LIMIT=1 reports/make_example.sh   # a quicker smoke run elsewhere
#
# Steps (each one the ordinary command a user types):
#   1. one embedded model server (serve-local) for every role, on a free port;
#   2. hawkeye-bench eval, baseline and hawkeye, on GSM8K and MATH-500 (LIMIT problems,
#      MAX_TOKENS per stage), from the data mirror in HAWKEYE_DATA_DIR;
#   3. hawkeye-bench serve twice (--pipeline baseline and --pipeline hawkeye, so both are
#      measured through the same server path) and a small hawkeye-bench load against both,
#      closed loop (concurrency) and open loop (two arrival rates);
#   4. hawkeye-bench judge with the local panel on LIMIT_JUDGE answers of each GSM8K run;
#   5. hawkeye-bench compress-sweep (the observation study: every role the embedded model, two
#      shares, the llm and truncate methods) and route-sweep (token-level routing on
#      CommonsenseQA: small and large both the embedded model, two thresholds, the random
#      control) on LIMIT problems each;
#   6. hawkeye-bench import of the GSM8K baseline's answers written in the upstream Hawkeye
#      result layout (graded like a live run; the report's agreement section);
#   7. hawkeye-bench report over all of it (each pipeline run against its baseline at a
#      non-inferiority margin of 2 percentage points).
# A step whose command is not available is skipped with a message, and the report says which
# input kind is missing. Run time on 2 CPU cores: a few minutes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
HB="${HAWKEYE_BENCH:-$ROOT/.venv/bin/hawkeye-bench}"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
export HAWKEYE_DATA_DIR="${HAWKEYE_DATA_DIR:-$ROOT/../shared/data}"
OUT="${OUT:-$ROOT/reports/example}"
LIMIT="${LIMIT:-3}"
MAX_TOKENS="${MAX_TOKENS:-64}"
LIMIT_JUDGE="${LIMIT_JUDGE:-2}"
LOAD_REQUESTS="${LOAD_REQUESTS:-4}"
LOAD_CONCURRENCY="${LOAD_CONCURRENCY:-1,2}"
LOAD_RATES="${LOAD_RATES:-0.05,0.1}"
LOAD_RATE_SECONDS="${LOAD_RATE_SECONDS:-40}"
IN="$OUT/inputs"
LOGS="$(mktemp -d)"

has_command() { "$HB" "$1" --help >/dev/null 2>&1; }

free_port() { "$PY" -c 'from hawkeye_bench.serve.embedded import free_port; print(free_port())'; }

wait_ready() {  # URL PID NAME: poll GET URL until it answers, or fail if the process died
  for _ in $(seq 1 240); do
    if "$PY" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
      "$1" 2>/dev/null; then
      return 0
    fi
    kill -0 "$2" 2>/dev/null || { echo "error: $3 exited; log: $LOGS/$3.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "error: $3 did not answer at $1 within 120 s" >&2
  exit 1
}

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

rm -rf "$OUT"
mkdir -p "$IN"

# 1. the embedded model, shared by every step
MODEL_PORT="$(free_port)"
"$HB" serve-local --port "$MODEL_PORT" >"$LOGS/serve-local.log" 2>&1 &
PIDS+=("$!")
wait_ready "http://127.0.0.1:$MODEL_PORT/v1/models" "${PIDS[-1]}" serve-local
MODEL_URL="http://127.0.0.1:$MODEL_PORT/v1"
MODEL="smollm2-135m-instruct"
echo "embedded model at $MODEL_URL"

# 2. evaluation runs; the endpoints carry illustrative token prices (USD per 1M tokens) and GPU
#    time (one GPU at 1 USD/h, every role on it) so that
#    the report's cost section has something to price (not SmolLM2's price; input is free because
#    llama-cpp-python reports no prompt token counts, and an unknown count is never priced)
cat >"$LOGS/endpoints.yaml" <<CONFIG
endpoints:
  default: {base_url: "$MODEL_URL", model: "$MODEL",
            prices: {input: 0.0, output: 0.40, gpu_hour_usd: 1.0, gpus: 1, placement: colocated}}
CONFIG
for task in gsm8k math500; do
  for pipeline in baseline hawkeye; do
    "$HB" eval --task "$task" --pipeline "$pipeline" --limit "$LIMIT" \
      --max-tokens "$MAX_TOKENS" --concurrency 1 --no-progress --max-error-rate 1 \
      --config "$LOGS/endpoints.yaml" --out "$IN/$task-$pipeline"
  done
done

# 3. a small load run against the model and the pipeline server
if has_command load && has_command serve; then
  PIPE_PORT="$(free_port)"
  # the pipeline server applies a request's max_tokens to the final stage only: cap every
  # stage of its preset at MAX_TOKENS too, as the eval runs do with --max-tokens
  "$PY" - "$LOGS/preset.yaml" "$MAX_TOKENS" <<'PRESET'
import sys
from pathlib import Path
import yaml
from hawkeye_bench.presets import load_preset
preset = yaml.safe_load(Path(load_preset("default").path).read_text())
for stage in preset["stages"].values():
    stage["max_tokens"] = int(sys.argv[2])
preset["name"] = f"default-max{sys.argv[2]}"
Path(sys.argv[1]).write_text(yaml.safe_dump(preset, sort_keys=False))
PRESET
  "$HB" serve --pipeline hawkeye --preset "$LOGS/preset.yaml" --port "$PIPE_PORT" \
    --endpoint "$MODEL_URL" --model "$MODEL" >"$LOGS/serve.log" 2>&1 &
  PIDS+=("$!")
  wait_ready "http://127.0.0.1:$PIPE_PORT/health" "${PIDS[-1]}" serve
  BASE_PORT="$(free_port)"
  "$HB" serve --pipeline baseline --preset "$LOGS/preset.yaml" --port "$BASE_PORT" \
    --endpoint "$MODEL_URL" --model "$MODEL" >"$LOGS/serve-baseline.log" 2>&1 &
  PIDS+=("$!")
  wait_ready "http://127.0.0.1:$BASE_PORT/health" "${PIDS[-1]}" serve-baseline
  "$HB" load --target "baseline=http://127.0.0.1:$BASE_PORT" \
    --target "hawkeye=http://127.0.0.1:$PIPE_PORT" --concurrency "$LOAD_CONCURRENCY" \
    --requests "$LOAD_REQUESTS" --duration 600 --dataset gsm8k --prompt-limit 8 \
    --max-tokens "$MAX_TOKENS" --model "$MODEL" --out "$IN/load-gsm8k"
  # open loop: the same two servers at the same arrival rates (Poisson, seeded), for the
  # latency-against-achieved-rate figure; a rate the embedded model cannot keep is named so
  "$HB" load --target "baseline=http://127.0.0.1:$BASE_PORT" \
    --target "hawkeye=http://127.0.0.1:$PIPE_PORT" --rate "$LOAD_RATES" --arrival poisson \
    --seed 0 --max-concurrency 4 --duration "$LOAD_RATE_SECONDS" --dataset gsm8k \
    --prompt-limit 8 --max-tokens "$MAX_TOKENS" --model "$MODEL" --out "$IN/load-gsm8k-rate" ||
    echo "the open-loop load run exited $?: a stage fell behind its rate (see its table)" >&2
else
  echo "skipping the load run: hawkeye-bench load/serve not available" >&2
fi

# 4. judges (the local panel starts its own embedded model)
if has_command judge; then
  "$HB" judge "$IN/gsm8k-baseline" "$IN/gsm8k-hawkeye" --panel local --limit "$LIMIT_JUDGE" \
    --out "$IN/judged"
  rm -rf "$IN/judged/cache"  # the reply cache is not an input of the report
else
  echo "skipping judging: hawkeye-bench judge not available" >&2
fi

# 5. the compression study and token-level routing (every role the same embedded model)
if has_command compress-sweep; then
  "$HB" compress-sweep --task gsm8k --limit "$LIMIT" --keep 1.0,0.5 --methods llm,truncate \
    --max-tokens "$MAX_TOKENS" --concurrency 1 --no-progress --max-error-rate 1 \
    --endpoint "$MODEL_URL" --model "$MODEL" --out "$IN/compress-gsm8k"
else
  echo "skipping the compression study: hawkeye-bench compress-sweep not available" >&2
fi
if has_command route-sweep; then
  "$HB" route-sweep --task commonsenseqa --preset route-commonsenseqa --limit "$LIMIT" \
    --threshold 0.3,0.6 \
    --random-rates 0.1 --max-tokens "$MAX_TOKENS" --concurrency 1 --no-progress \
    --max-error-rate 1 --endpoint "$MODEL_URL" --model "$MODEL" --out "$IN/route-commonsenseqa"
else
  echo "skipping token-level routing: hawkeye-bench route-sweep not available" >&2
fi

# 6. outputs generated elsewhere: the GSM8K baseline's answers written out in the upstream
#    Hawkeye repository's result layout (a JSON list of model_output, answer, score), then
#    imported and graded like a live run. The file's own `score` here is a deliberately naive
#    last-integer rule, so the report's agreement section has a second verdict to compare.
if has_command import; then
  "$PY" - "$IN/gsm8k-baseline/records.jsonl" "$HAWKEYE_DATA_DIR/gsm8k/test.jsonl" \
    "$LOGS/gsm8k_results.json" <<'EXPORT'
import json, re, sys
from pathlib import Path
rationales = {}
for line in Path(sys.argv[2]).read_text().splitlines():
    row = json.loads(line)
    rationales[row["question"]] = row["answer"]
rows = []
for line in Path(sys.argv[1]).read_text().splitlines():
    record = json.loads(line)
    numbers = re.findall(r"-?\d+", record["final_text"].replace(",", ""))
    rows.append({"question": record["question"], "model_output": record["final_text"],
                 "answer": rationales[record["question"]],
                 "score": int(bool(numbers) and numbers[-1] == record["gold"])})
Path(sys.argv[3]).write_text(json.dumps(rows, indent=1))
EXPORT
  # token counts from the embedded model's own GGUF vocabulary, as the live runs count them
  GGUF="$("$PY" -c 'from hawkeye_bench.serve.embedded import local_model_path; print(local_model_path())')"
  "$HB" import "$LOGS/gsm8k_results.json" --task gsm8k --model "$MODEL" --tokenizer "$GGUF" \
    --out "$IN/gsm8k-imported"
else
  echo "skipping the imported run: hawkeye-bench import not available" >&2
fi

# 7. the report
"$HB" report "$IN" --out "$OUT" --margin 2 \
  --title "hawkeye-bench example report (embedded SmolLM2-135M, not a benchmark result)"
grep -q "^#### Accuracy against the baseline (paired)" "$OUT/report.md" \
  || { echo "error: report lacks the paired comparison with the baseline" >&2; exit 1; }
for section in "Accuracy" "Latency" "Judge" "Compression study" "Token routing" "Cost" \
  "Agreement"; do
  grep -q "^## [0-9]*\. $section" "$OUT/report.md" || { echo "error: report lacks '$section'" >&2; exit 1; }
done
echo "example report: $OUT/report.md"
