"""The metric math (pure functions on features and statistics) and the metric registry.

The metrics of issue 19 (MiFID, Vendi, TopP&R, AuthPct, C_T) register themselves in
:mod:`ganeval.metrics.entries`, which imports the registry; importing it here (the package is
imported before any of its modules) registers them wherever the registry is used, without the
registry importing its own entries back (an import cycle; tests/test_layers.py).
"""

from ganeval.metrics import entries as _issue19_entries  # noqa: F401  (registers the metrics)
