#!/usr/bin/env bash
# Set up a fresh clone (idempotent): a virtual environment in .venv holding the project,
# its dependencies and the test tools.
#
# torch is installed first, by itself, so that pip keeps it when it resolves the rest:
#   - HYPERRET_TORCH="<pip requirement>" picks it yourself (e.g. a CPU or ROCm wheel index);
#   - else, with an NVIDIA GPU visible (nvidia-smi), the default PyPI build (CUDA);
#   - else torch==2.13.0, which on this workplace's machines is the CPU wheel on local disk.
# An existing torch in .venv is left alone.
#
# --with-browser (implied when the CI variable is set, as CI services set it) also installs
# what the leaderboard page test needs: scripts/install-browser.sh. Without it the system
# is not touched and that test skips.
set -euo pipefail
cd "$(dirname "$0")/.."

with_browser=false
for arg in "$@"; do
  case "$arg" in
    --with-browser) with_browser=true ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "scripts/setup.sh: unknown argument '$arg' (known: --with-browser, --help)" >&2; exit 2 ;;
  esac
done
case "${CI:-}" in ""|false|0) ;; *) with_browser=true ;; esac

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet)

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if [ -n "${HYPERRET_TORCH:-}" ]; then
    "${pip[@]}" $HYPERRET_TORCH
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "${pip[@]}" torch
  else
    "${pip[@]}" torch==2.13.0
  fi
fi
"${pip[@]}" -e ".[test]"

if [ "$with_browser" = true ]; then
  bash scripts/install-browser.sh
fi
echo "hyperret-eval is set up in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
