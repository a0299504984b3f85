#!/usr/bin/env bash
# Re-resolves requirements/NAME.in into requirements/NAME.lock in a throw-away venv.
set -euo pipefail
python="$(scripts/find-python310.sh)"
for name in app rasa tools; do
  tmp="$(mktemp -d)"
  "$python" -m venv "$tmp/venv"
  "$tmp/venv/bin/python" -m pip install --quiet 'pip<25' 2>/dev/null
  if ! "$tmp/venv/bin/python" -m pip install -r "requirements/$name.in" > "$tmp/pip.log" 2>&1; then
    grep -v 'is ignored' "$tmp/pip.log" >&2; echo "resolving $name.in failed" >&2; exit 1
  fi
  { echo "# Exact versions installed by 'make' into .venv/$name; regenerate with 'make lock' after editing $name.in."
    "$tmp/venv/bin/python" -m pip freeze; } > "requirements/$name.lock"
  rm -rf "$tmp"
  echo "requirements/$name.lock written"
done
