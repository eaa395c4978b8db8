"""Help pages of `ganeval` and `ganeval-train`: every option described, each command with only its
own options, the command list whole, and --help/--version fast because torch is not imported."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ganeval.cli.commands import cli as ganeval_cli
from ganeval_train.cli import cli as train_cli

ROOT = Path(__file__).resolve().parent.parent


def walk(group: click.Group, path: tuple[str, ...]):
    """(command path, command) for the group and every command below it."""
    yield path, group
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from walk(command, path + (name,))


ALL_COMMANDS = [*walk(ganeval_cli, ("ganeval",)), *walk(train_cli, ("ganeval-train",))]


def options_of(command: click.Command) -> set[str]:
    return {opt for p in command.params if isinstance(p, click.Option) for opt in p.opts}


@pytest.mark.parametrize("path,command", ALL_COMMANDS, ids=[" ".join(p) for p, _ in ALL_COMMANDS])
def test_every_option_has_a_help_line_shown_on_its_help_page(path, command):
    result = CliRunner().invoke(ganeval_cli if path[0] == "ganeval" else train_cli, [*path[1:], "--help"])
    assert result.exit_code == 0, result.output
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help and param.help.strip(), f"{' '.join(path)} {param.opts[0]} has no help"
            assert param.opts[-1] in result.output
    if isinstance(command, click.Group):  # the command list: each short help whole, never cut with "..."
        for name, sub in command.commands.items():
            short = sub.get_short_help_str(limit=10_000)
            assert "..." not in short and len(short) <= 60, f"{name}: short help {short!r}"
            assert f"{name}  " in result.output and short in " ".join(result.output.split())


METRIC_OPTIONS = {"--metric-seed", "--kid-subsets", "--kid-subset-size", "--k", "--dc-k", "--splits",
                  "--bootstrap", "--confidence", "--fid-inf", "--fid-inf-points", "--metrics"}
OWN_METRIC_OPTIONS = {
    "kid": {"--metric-seed", "--kid-subsets", "--kid-subset-size"},
    "prdc": {"--k", "--dc-k"},
    "is": {"--splits"},
    "fid": set(),
    "stats": set(),
    "eval": METRIC_OPTIONS,
}


@pytest.mark.parametrize("name", sorted(OWN_METRIC_OPTIONS))
def test_each_command_shows_and_accepts_only_its_own_metric_options(name):
    command = ganeval_cli.commands[name]
    assert options_of(command) & METRIC_OPTIONS == OWN_METRIC_OPTIONS[name]
    page = CliRunner().invoke(ganeval_cli, [name, "--help"]).output
    for foreign in METRIC_OPTIONS - OWN_METRIC_OPTIONS[name]:
        assert f"{foreign} " not in page
    if "--metric-seed" in OWN_METRIC_OPTIONS[name]:
        assert ("bootstrap" in page) == (name == "eval")  # the seed's help names only what the command has
    for foreign in sorted(METRIC_OPTIONS - OWN_METRIC_OPTIONS[name])[:2]:  # refused, not silently ignored
        result = CliRunner().invoke(ganeval_cli, [name, "a", "b", foreign, "1"])
        assert result.exit_code == 2 and "No such option" in result.output


def test_train_choices_match_the_models():
    from ganeval_train.choices import MODEL_NAMES, PRESET_NAMES
    from ganeval_train.models import MODELS, PRESETS

    assert MODEL_NAMES == tuple(MODELS) and PRESET_NAMES == tuple(PRESETS)


def run_python(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    return done, time.perf_counter() - start


@pytest.mark.parametrize("module", ["ganeval.cli.commands", "ganeval_train.cli"])
def test_importing_the_command_line_imports_no_torch(module):
    done, _ = run_python("-c", f"import sys, {module}; print(sorted(m for m in ('torch', 'numpy', 'h5py') "
                               "if m in sys.modules))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("args", [("ganeval", "--help"), ("ganeval", "--version"), ("ganeval_train", "--help"),
                                  ("ganeval_train", "--version")])
def test_help_and_version_answer_in_under_a_second(args):
    best = float("inf")
    for _ in range(3):  # best of three: the machine may be busy with other work
        done, seconds = run_python("-m", *args)
        assert done.returncode == 0, done.stderr
        best = min(best, seconds)
    assert ("version 0.1.0" in done.stdout) == (args[1] == "--version")
    assert best < 1.0, f"python -m {' '.join(args)} took {best:.2f} s"
