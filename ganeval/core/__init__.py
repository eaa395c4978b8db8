"""The core: statistics, options, the result object and errors, shared by every other room.

Nothing here imports a network, a file format or a front end (docs/README.md shows the layers).
"""
