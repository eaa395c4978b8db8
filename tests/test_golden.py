"""Every number stays bit-identical across refactors: tests/golden/golden.json was recorded before
the "one road" refactor (issue 18) by tests/golden/outputs.py; this recomputes it and compares exactly.

Re-recorded on purpose once since: the KID values (issue 20, KID's one-Gram float64 arithmetic with
shifted kernel values), which moved by at most 5e-14 relative, the old formula's float64 floor;
every other number is the original recording."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))
import outputs  # noqa: E402


@pytest.mark.slow
def test_every_golden_number_is_bit_identical(tmp_path):
    golden = json.loads(outputs.GOLDEN.read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the few-images FID warning
        now = outputs.compute(tmp_path)
    missing = sorted(set(golden) - set(now))
    changed = {k: (golden[k], now[k]) for k in golden if k in now and now[k] != golden[k]}
    assert not missing, f"golden numbers no longer computed: {missing}"
    assert not changed, f"golden numbers changed: {changed}"
    assert len(golden) >= 170
