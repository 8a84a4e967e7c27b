# Source it (`. scripts/activate.sh`): puts hawkeye-bench's Python environment on this shell.
#
# A virtual environment that is already active is used as it is. Otherwise ./.venv is used,
# created on first use with python3 (or python): the system's Python on Debian and Ubuntu is
# "externally managed" (PEP 668) and refuses `pip install` outside a virtual environment.
# Written for bash and zsh; it changes nothing else in the shell that sources it.
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ -n "${BASH_SOURCE[0]:-}" ]; then
    _hawkeye_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  else
    _hawkeye_root=$(pwd)
  fi
  if [ ! -x "$_hawkeye_root/.venv/bin/python" ]; then
    _hawkeye_python=$(command -v python3 || command -v python || true)
    if [ -z "$_hawkeye_python" ]; then
      echo "activate: no python3 or python on PATH; install Python 3.11 or newer" >&2
      unset _hawkeye_root _hawkeye_python
      return 2 2>/dev/null || exit 2
    fi
    if ! "$_hawkeye_python" -m venv "$_hawkeye_root/.venv"; then
      echo "activate: '$_hawkeye_python -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
      unset _hawkeye_root _hawkeye_python
      return 2 2>/dev/null || exit 2
    fi
    echo "activate: created the virtual environment $_hawkeye_root/.venv" >&2
  fi
  . "$_hawkeye_root/.venv/bin/activate"
  unset _hawkeye_root _hawkeye_python
fi
