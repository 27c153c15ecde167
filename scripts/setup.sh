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
# The leaderboard page test (tests/test_leaderboard_browser.py) drives Debian's chromium
# through its chromedriver; when either is missing they are installed with apt-get if this
# runs as root, else a message says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

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

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing chromium and chromium-driver (Debian) for the leaderboard page test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
  else
    echo "Note: /usr/bin/chromium or /usr/bin/chromedriver is missing and this is not a root shell with apt-get;" >&2
    echo "      install them (apt-get install chromium chromium-driver) or tests/test_leaderboard_browser.py fails." >&2
  fi
fi
echo "hyperret-eval is set up in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
