#!/usr/bin/env bash
# ensure-venv.sh NAME LOCKFILE: creates .venv/NAME from the lock, unless the lock's content
# is what the venv was built from (a fresh clone builds once; an unchanged lock is skipped).
set -euo pipefail
name="$1"; lock="$2"
venv=".venv/$name"
want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.lock.sha256" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
python="$(scripts/find-python310.sh)"
echo "==> creating the $name environment in $venv from $lock (first time only; a few minutes for rasa)"
rm -rf "$venv"
"$python" -m venv "$venv"
pip_install() {
  if ! "$venv/bin/python" -m pip install --disable-pip-version-check "$@" > "$venv/pip.log" 2>&1; then
    grep -v 'is ignored' "$venv/pip.log" >&2
    echo "installing the $name environment failed (see above)" >&2
    exit 1
  fi
}
pip_install 'pip<25'
pip_install -r "$lock"
"$venv/bin/python" -m pip check >/dev/null || { echo "pip check failed for $venv" >&2; "$venv/bin/python" -m pip check >&2; exit 1; }
echo "$want" > "$venv/.lock.sha256"
echo "==> $name environment ready"
