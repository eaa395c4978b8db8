"""The `ganeval` command line (commands.py: argument handling and rendering only; demo.py: the demo's images)."""

from ganeval.cli.commands import cli, main, run_click  # noqa: F401
