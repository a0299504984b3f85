#!/usr/bin/env bash
# The scale-out tests put HAProxy (Debian's package) in front of two Rasa replicas and two action
# servers. Installs it when missing and we may (root with apt-get); otherwise says what to install
# and exits non-zero (make test-scale goes on, and those tests report themselves skipped).
set -euo pipefail
haproxy="${HAPROXY_PATH:-/usr/sbin/haproxy}"
[[ -x "$haproxy" ]] && exit 0
if [[ "$(id -u)" == 0 ]] && command -v apt-get > /dev/null; then
  echo "==> installing HAProxy for the scale-out tests (first time only)"
  export DEBIAN_FRONTEND=noninteractive
  if apt-get update -qq > /dev/null \
     && apt-get install -y -qq --no-install-recommends haproxy > /dev/null \
     && [[ -x "$haproxy" ]]; then
    exit 0
  fi
  echo "could not install HAProxy with apt-get: install the 'haproxy' package (Debian/Ubuntu) to run the scale-out tests" >&2
else
  echo "no HAProxy at $haproxy: install the 'haproxy' package (apt-get install haproxy, as root) to run the scale-out tests" >&2
fi
exit 1
