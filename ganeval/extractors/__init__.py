"""Feature extractors: network + weights + preprocessing, behind one small interface.

An extractor is called with uint8 images and returns float32 features per named feature
space (``extract(images)`` → {space: [N, d]}); its ``space_provenance(space)`` says exactly
what made them (it is stored with every statistic). :mod:`ganeval.extractors.registry` maps
every feature space to the network that computes it; :mod:`ganeval.extractors.execution`
holds the rules for precision, backend and compile that every network follows. Modules are
imported on first use, which keeps importing this package light.
"""
