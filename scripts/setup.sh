#!/usr/bin/env bash
# Create .venv and install explorer with every extra. Torch goes in first: a plain `pip install torch`
# on a machine without one pulls a multi-GB CUDA build, so where none is present we ask for the CPU
# build (the wheel cached on the class machine, or PyTorch's CPU index) before anything else.
set -euo pipefail
PY=${PY:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  .venv/bin/python -m pip install -q "torch==2.13.0" \
    || .venv/bin/python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
fi
.venv/bin/python -m pip install -q -e ".[app,notebooks,cluster,test,docs]"
