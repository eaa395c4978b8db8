"""Golden outputs: every number ganeval computes, on fixed inputs, recorded before the "one road"
refactor (issue 18) and required to stay bit-identical after it.

``compute(root)`` builds the inputs under ``root`` (deterministic images, a weights file with a
synthetic logits head, stats files with synthetic encoder-space features), runs the command line
in this process and the Python API, and returns {name: number} of every numeric leaf.
``python tests/golden/outputs.py`` rewrites tests/golden/golden.json (only ever before a change
that is meant to move numbers, with the reason in the commit).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden.json"
MODES = ("tf1", "nvidia", "pytorch-fid", "clean")


def _smooth_images(n: int, height: int, width: int, seed: int) -> np.ndarray:
    """uint8 [n, height, width, 3]: upsampled noise, image-like spectra."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(n, 3, max(2, height // 8), max(2, width // 8), generator=g)
    x = torch.nn.functional.interpolate(low, size=(height, width), mode="bilinear", align_corners=False)
    x = x + 0.08 * torch.randn(n, 3, height, width, generator=g)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _folder(root: Path, name: str, seed: int, classes: int = 3, per_class: int = 6) -> Path:
    folder = root / name
    for c in range(classes):
        (folder / str(c)).mkdir(parents=True)
        for i, image in enumerate(_smooth_images(per_class, 40, 48, seed * 10 + c)):
            Image.fromarray(image).save(folder / str(c) / f"{i}.png")
    return folder


def _head_weights(root: Path) -> Path:
    """The default weights in pytorch-fid's layout plus a seeded random 1008-class head."""
    from ganeval.extractors.weights import export_state_dict, load_inception

    model, _ = load_inception(None)
    g = torch.Generator().manual_seed(7)
    head = {"output.weight": 0.05 * torch.randn(1008, 2048, generator=g),
            "output.bias": 0.05 * torch.randn(1008, generator=g)}
    path = root / "with-head.pth"
    torch.save(export_state_dict(dict(model.state_dict(), **head), "pytorch-fid"), path)
    return path


def _encoder_stats(root: Path, name: str, seed: int) -> Path:
    """A stats file of synthetic features in pool3 and the three encoder spaces (raw features kept)."""
    from ganeval.core.stats import FeatureStats, StatsSet

    rng = np.random.default_rng(seed)
    spaces = {}
    for space, dim, extractor, mode in (("pool3", 2048, "inception-v3-tf-2015-12-05", "tf1"),
                                        ("dinov2", 1024, "dinov2-vitl14", "dgm-eval"),
                                        ("clip", 768, "clip-vitl14-336", "cmmd"),
                                        ("clip_vitb32", 512, "clip-vitb32", "clip-fid")):
        scale = 1.0 / np.sqrt(np.arange(1, dim + 1))
        x = (rng.standard_normal((60, dim)) * scale + 0.3 * seed).astype(np.float32)
        stats = FeatureStats(dim, keep_features=True,
                             provenance={"extractor": extractor, "mode": mode, "feature_dim": dim,
                                         "precision": "fp32", "weights_sha256": f"synthetic-{space}"})
        for start in range(0, 60, 25):
            stats.add_features(x[start:start + 25])
        spaces[space] = stats
    path = root / f"{name}.h5"
    StatsSet(spaces).save(path)
    return path


def _cli(*args) -> dict:
    """``ganeval ARGS --json`` in this process; the JSON record it prints."""
    from ganeval.cli.commands import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.suppress(SystemExit):
        main([str(a) for a in args] + ["--json", "--quiet"])
    try:
        return json.loads(out.getvalue())
    except json.JSONDecodeError:
        raise AssertionError(f"ganeval {' '.join(map(str, args))}: {err.getvalue()}") from None


def _leaves(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _leaves(f"{prefix}.{key}", item, out)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _leaves(f"{prefix}[{i}]", item, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix] = value


IGNORED = ("seconds", "timings")


def _numbers(prefix: str, record: dict, out: dict) -> None:
    for key, value in record.items():
        if key not in IGNORED:
            _leaves(f"{prefix}.{key}", value, out)


def compute(root: Path) -> dict:
    """{name: number} of every golden output (see the module docstring)."""
    import ganeval
    import ganeval.api.evaluate as ev

    root = Path(root)
    a, b = _folder(root, "a", 1), _folder(root, "b", 2)
    head = _head_weights(root)
    out: dict = {}
    for mode in MODES:  # FID in every mode, from the images (API and CLI)
        out[f"api.fid[{mode}]"] = ganeval.fid(str(a), str(b), mode=mode, progress=False)
        _numbers(f"cli.fid[{mode}]", _cli("fid", a, b, "--mode", mode), out)
    for side, folder in (("a", a), ("b", b)):  # stats files: per class, spatial, raw features
        stats = ganeval.compute_stats(str(folder), features="pool3,spatial", per_class=True, save_features=True,
                                      progress=False)
        stats.save(root / f"{side}.h5")
    sa, sb = root / "a.h5", root / "b.h5"
    _numbers("cli.eval", _cli("eval", sa, sb, "--metrics", "fid,sfid,kid,prdc", "--kid-subset-size", "10",
                              "--kid-subsets", "20", "--bootstrap", "20", "--fid-inf", "--fid-inf-points", "4"), out)
    _numbers("api.eval", dict(ganeval.evaluate(str(sa), str(sb), metrics="fid,sfid,kid,prdc", kid_subset_size=10,
                                               kid_subsets=20, bootstrap=20, fid_inf=True)), out)
    _numbers("cli.per_class", _cli("fid", sa, sb, "--per-class"), out)
    _numbers("cli.kid", _cli("kid", sa, sb, "--kid-subset-size", "7"), out)
    _numbers("cli.prdc", _cli("prdc", sa, sb, "--k", "2", "--dc-k", "4"), out)
    _numbers("cli.sfid", _cli("sfid", sa, sb), out)
    # The Inception Score and the ADM suite with a synthetic logits head.
    _numbers("cli.is", _cli("is", b, "--weights", head, "--splits", "3"), out)
    _numbers("api.is", ev.inception_score_of(str(b), weights=str(head), splits=3, progress=False), out)
    _numbers("cli.adm", _cli("eval", a, b, "--suite", "adm", "--weights", head), out)
    # Encoder spaces: FD_DINOv2, CMMD (both estimators) and the metrics on any space.
    ea, eb = _encoder_stats(root, "enc-a", 1), _encoder_stats(root, "enc-b", 2)
    spaces = "fid,fd_dinov2,cmmd,kid:dinov2,prdc:clip,fid:clip_vitb32"
    _numbers("cli.enc", _cli("eval", ea, eb, "--metrics", spaces, "--kid-subset-size", "20"), out)
    _numbers("cli.enc_unbiased", _cli("eval", ea, eb, "--metrics", "cmmd", "--cmmd-estimator", "unbiased"), out)
    _numbers("api.enc", dict(ganeval.evaluate(str(ea), str(eb), metrics=spaces, kid_subset_size=20)), out)
    return out


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        numbers = compute(Path(tmp))
    GOLDEN.write_text(json.dumps(numbers, indent=1, sort_keys=True) + "\n")
    print(f"{GOLDEN}: {len(numbers)} numbers", file=sys.stderr)
