#!/usr/bin/env bash
# Set-up for a fresh machine; called by `make`. Idempotent.
set -euo pipefail
venv=${1:-.venv}

# System packages: official Fashion-MNIST files, Dungeon Crawl's CC0 sprite sheets (the tour's game
# sprites) and Chromium for the browser test.
# Optional: without apt-get or root, aekit still works (it says what is missing).
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=""
  [ -d /usr/share/datasets/fashion-mnist ] || missing="$missing dataset-fashion-mnist"
  [ -f /usr/share/crawl/dat/tiles/feat.png ] || missing="$missing crawl-tiles-data"
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
  command -v tesseract >/dev/null 2>&1 || missing="$missing tesseract-ocr tesseract-ocr-eng"
  if [ -n "$missing" ]; then
    echo "setup: apt-get install$missing"
    (apt-get update -q >/dev/null 2>&1 || true)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 \
      || echo "setup: warning: could not install$missing (continuing without)"
  fi
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# torch first and pinned: 2.13.0 is the CPU wheel on this machine's disk; an unpinned torch
# would pull a multi-GB CUDA build.
"$venv/bin/python" -m pip install -q --disable-pip-version-check torch==2.13.0
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'
echo "setup: done ($("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
