#!/usr/bin/env bash
# The console's browser test drives Debian's Chromium. Installs it when missing and we may (root
# with apt-get); otherwise says so, and that one test reports itself skipped with the reason.
set -euo pipefail
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
[[ -x "$chromium" ]] && exit 0
if [[ "$(id -u)" == 0 ]] && command -v apt-get > /dev/null; then
  echo "==> installing Chromium for the console's browser test (first time only)"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq > /dev/null && apt-get install -y -qq --no-install-recommends chromium > /dev/null; then
    exit 0
  fi
  echo "    could not install Chromium; the browser test will be skipped" >&2
else
  echo "==> no Chromium at $chromium and no way to install it here (needs root and apt-get);" \
       "the browser test will be skipped" >&2
fi
