#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter (Rasa 3.6 supports nothing newer):
# python3.10 on PATH first, then any 3.10 under pyenv. Says in one line what to install otherwise.
set -euo pipefail
is_310() { "$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; }

if command -v python3.10 >/dev/null 2>&1 && is_310 "$(command -v python3.10)"; then
  command -v python3.10; exit 0
fi
if command -v pyenv >/dev/null 2>&1; then
  for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -rV); do
    candidate="$(pyenv root)/versions/$version/bin/python3.10"
    if [ -x "$candidate" ] && is_310 "$candidate"; then echo "$candidate"; exit 0; fi
  done
fi
echo "Python 3.10 is required (Rasa 3.6 runs on nothing newer): install it, e.g. 'pyenv install 3.10.13' or your system's python3.10 package." >&2
exit 1
