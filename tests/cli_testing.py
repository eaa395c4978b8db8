"""The ganeval command line run in the test's own process (the network is built once per process,
so a test of several commands does not pay an interpreter, torch and the weights each time)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(capsys, *args) -> CliResult:
    """``ganeval ARGS`` through ``ganeval.cli.commands.main``, which always ends in SystemExit; output via ``capsys``."""
    from ganeval.cli.commands import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return CliResult(exit_info.value.code, out, err)
