"""Issue 20: the screened, blockwise ADM precision/recall gives exactly the outputs of the
implementation before it (whole-block float64 emulation), recorded at commit cfead1b by
tests/data/adm_before_issue20_record.py into tests/data/adm_before_issue20.json: precision,
recall, block and fall-back counts and every k-NN radius, tolerance 0, on pool3-like features
(d = 2048), with exact duplicates and copies of reference rows, small evaluator blocks, a
partial and a total fp16 overflow (fp32 fall-back), and the fp32 and fp64 routes (whose radii,
unrounded float64, may differ in the last bits: ≤ 1e-13 relative)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from ganeval.metrics.adm import adm_manifold_radii, adm_precision_recall

DATA = Path(__file__).parent / "data"
RECORDED = json.loads((DATA / "adm_before_issue20.json").read_text())


def _recorder():
    spec = importlib.util.spec_from_file_location("adm_record", DATA / "adm_before_issue20_record.py")
    module = importlib.util.module_from_spec(spec)
    source = (DATA / "adm_before_issue20_record.py").read_text().split("out = {}")[0]  # the inputs only
    exec(compile(source, str(DATA / "adm_before_issue20_record.py"), "exec"), module.__dict__)
    return module


CASES = {name: (ref, sam, kwargs) for name, ref, sam, kwargs in _recorder().cases()}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_equals_recorded_outputs_of_the_previous_implementation(name):
    ref, sam, kwargs = CASES[name]
    expected = RECORDED[name]
    assert kwargs == expected["kwargs"]
    pr = adm_precision_recall(ref, sam, block_elements=5000, **kwargs)
    assert (pr.precision, pr.recall) == (expected["precision"], expected["recall"])
    assert (pr.distance_blocks, pr.fp32_fallback_blocks) == (expected["distance_blocks"],
                                                             expected["fp32_fallback_blocks"])
    # The fp64 route rounds nothing, so its float64 dot products show their summation order (the
    # previous code's float64 GEMM, now a per-pair sum): ≤ 1e-13 relative there, bit-equal elsewhere.
    tolerance = 1e-13 if kwargs.get("distance_precision") == "fp64" else 0.0
    for x, key in ((ref, "ref_radii"), (sam, "sample_radii")):
        np.testing.assert_allclose(adm_manifold_radii(x, **kwargs).numpy(), expected[key], rtol=tolerance, atol=0)
