"""ganeval: exact, fast evaluation of generative image models.

Public API (see README, docs/usage.md and docs/extending.md):
    compute_stats(source, ...)   -> StatsSet         images → float64 mean/covariance per feature space
    fid(a, b, ...)               -> float            stats files, statistics or image sources
    evaluate(a, b, metrics=...)  -> Evaluation       every registered metric from one feature pass;
                                                     .to_dict() is what `ganeval eval --json` prints
    load_statistics(path)        -> StatsSet         a ganeval .h5 or a published reference file
    ExtractorOptions / RunOptions / MetricOptions    options as objects (keywords work too)
    register_extractor(cls) / register_metric(name)  users' own encoders and metrics
    get_extractor(features)      -> extractor        Inception, or one ExtractorSet over Inception/DINOv2/CLIP
    inception_score_of(source)   -> dict             needs weights with the logits head
    merge_stats / import_npz / export_npz            shards and pytorch-fid/clean-fid .npz
    frechet_distance(mu1, sigma1, mu2, sigma2) -> float
    FeatureStats                 update(images) / add_features / merge / save / load
    InceptionExtractor           uint8 images → float32 [N, 2048] pool3 features
    open_source(obj)             folders, zips, .npy/.npz, arrays, tensors, iterables

Names are imported lazily, so ``import ganeval.core.errors`` stays light.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "compute_stats": "ganeval.api.compute",
    "fid": "ganeval.api.evaluate",
    "fid_from_stats": "ganeval.api.compute",
    "get_inception": "ganeval.api.compute",
    "get_extractor": "ganeval.api.compute",
    "evaluate": "ganeval.api.evaluate",
    "inception_score_of": "ganeval.api.evaluate",
    "merge_stats": "ganeval.io.interchange",
    "import_npz": "ganeval.io.interchange",
    "export_npz": "ganeval.io.interchange",
    "BadImageError": "ganeval.core.errors",
    "GanevalError": "ganeval.core.errors",
    "InceptionExtractor": "ganeval.extractors.inception_extractor",
    "open_source": "ganeval.io.sources",
    "frechet_distance": "ganeval.metrics.frechet",
    "FeatureStats": "ganeval.core.stats",
    "FIDCallback": "ganeval.callback",
    "StatsSet": "ganeval.core.stats",
    "Evaluation": "ganeval.core.result",
    "ExtractorOptions": "ganeval.core.options",
    "RunOptions": "ganeval.core.options",
    "MetricOptions": "ganeval.core.options",
    "Extractor": "ganeval.extractors.base",
    "ModuleExtractor": "ganeval.extractors.base",
    "register_extractor": "ganeval.core.networks",
    "register_metric": "ganeval.metrics.registry",
    "MetricInput": "ganeval.metrics.registry",
    "load_statistics": "ganeval.api.compute",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ganeval' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
