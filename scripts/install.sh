#!/usr/bin/env bash
# Installs hawkeye-bench from this clone with the embedded default model, compiling
# llama-cpp-python with the portable flags of scripts/build-flags.env (a few minutes on 2 cores).
# It installs into the active virtual environment, or else into ./.venv (created on first use
# by scripts/activate.sh; `. scripts/activate.sh` puts it on your shell afterwards).
#
#   bash scripts/install.sh                 # pip install -e '.[local]'
#   bash scripts/install.sh '.[local,dev]'  # other extras
#   CMAKE_ARGS="-DGGML_NATIVE=ON" bash scripts/install.sh   # faster, for this CPU only
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/activate.sh
. "$ROOT/scripts/activate.sh"
echo "install: into the Python environment $VIRTUAL_ENV" >&2
USER_CMAKE_ARGS="${CMAKE_ARGS:-}"
# KEY=VALUE lines, the value verbatim to the end of the line (as tox reads the same file)
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in ''|'#'*) continue ;; esac
  export "${line%%=*}=${line#*=}"
done < "$ROOT/scripts/build-flags.env"
if [ -n "$USER_CMAKE_ARGS" ]; then
  CMAKE_ARGS="$USER_CMAKE_ARGS"
  echo "install: building llama-cpp-python with your CMAKE_ARGS=$CMAKE_ARGS" >&2
fi
# --no-cache-dir: a llama-cpp-python wheel cached from an earlier build with other flags
# (pip's cache key ignores CMAKE_ARGS) must not be reused.
exec python -m pip install --no-cache-dir -e "${1:-.[local]}"
