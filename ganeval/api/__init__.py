"""The orchestration room: the only code that runs networks over sources and metrics over statistics.

    compute.py     compute_stats (sources -> statistics), load_statistics, the extractor cache
    evaluate.py    evaluate (-> one Evaluation), fid, inception_score_of
    preflight.py   the checks made before torch is imported (paths, metric names, stats-file compatibility)
    pipeline.py    decoding workers, prefetch, packed batches
    distributed.py process groups (torchrun): who reads what, one reduction at the end
    progress.py    progress bars and callbacks

``from ganeval import api`` gives the names below, imported on first use (so that the light
submodules, preflight and progress, load without torch); internal modules import the submodules.
"""

import importlib

_EXPORTS = {
    **dict.fromkeys(("AUTO_FEATURES_LIMIT", "clear_extractor_cache", "compute_stats", "extractor_for", "fid_from_stats",
                     "get_encoder", "get_extractor", "get_inception", "inception_for", "is_statistics", "kept_spaces",
                     "load_statistics", "with_saved_features"), "ganeval.api.compute"),
    **dict.fromkeys(("evaluate", "evaluate_stats", "fid", "inception_score_of"), "ganeval.api.evaluate"),
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ganeval.api' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
