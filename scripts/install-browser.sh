#!/usr/bin/env bash
# Install what the leaderboard page test (tests/test_leaderboard_browser.py) needs and
# nothing else: Debian's chromium and its chromedriver, without recommended packages and
# without upgrading anything already installed. Called by `scripts/setup.sh --with-browser`
# (and by setup.sh in CI); fonts-liberation, a recommended package of chromium, is named
# so that pages render text the same with or without recommends. CHROMIUM / CHROMEDRIVER
# name a browser kept elsewhere.
set -euo pipefail

chromium=${CHROMIUM:-/usr/bin/chromium}
chromedriver=${CHROMEDRIVER:-/usr/bin/chromedriver}
if [ -x "$chromium" ] && [ -x "$chromedriver" ]; then
  echo "Browser for the page test: $chromium and $chromedriver are present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Browser for the page test: $chromium or $chromedriver is missing and this is not a root shell with apt-get;" >&2
  echo "  install them (apt-get install --no-install-recommends chromium chromium-driver) or set CHROMIUM and CHROMEDRIVER" >&2
  exit 1
fi

log=$(mktemp "${TMPDIR:-/tmp}/hyperret-apt.XXXXXX.log")
echo "Installing chromium and chromium-driver with apt-get (no recommends, no upgrades; log: $log)"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends --no-upgrade chromium chromium-driver fonts-liberation; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "apt-get failed; the whole log is $log" >&2
  exit 1
fi
echo "Installed: $(grep -c '^Setting up ' "$log" || true) packages set up"
