"""Issue 23, classes 1 and 7: no code runs from a ganeval-train checkpoint, and `train` checks every
input before it writes anything into the run folder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from ganeval.callback import FIDRecord
from ganeval_train.cli import main
from ganeval_train.train import TrainOptions, load_checkpoint, load_model, save_checkpoint, train
from _hardening import REPO

TINY = {"width": 8, "max_width": 16, "batch_size": 8, "z_dim": 16}
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def run_cli(argv, capsys):
    try:
        main([os.fspath(a) for a in argv])
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def assert_one_line(code, err, *names):
    assert code == 1, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ganeval-train: error: "), err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])


class _RunsCode:
    """A pickle payload: unpickling it calls ``builtin(*args)``."""

    def __init__(self, builtin, *args):
        self.call = (builtin, args)

    def __reduce__(self):
        return self.call


def _payloads(marker):
    """Every way a pickle can call a function on loading, each of which would create ``marker``."""
    import builtins
    import subprocess as sp

    code = f"open({str(marker)!r}, 'w').close()"
    return {
        "os.system": _RunsCode(os.system, f"touch '{marker}'"),
        "builtins.exec": _RunsCode(builtins.exec, code),
        "builtins.eval": _RunsCode(builtins.eval, code),
        "subprocess.call": _RunsCode(sp.call, ["touch", str(marker)]),
        "builtins.open": _RunsCode(builtins.open, str(marker), "w"),
    }


@pytest.mark.parametrize("kind", ["os.system", "builtins.exec", "builtins.eval", "subprocess.call", "builtins.open"])
@pytest.mark.parametrize("where", ["top", "nested", "training_state"])
def test_payload_checkpoint_is_refused_unrun_by_sample_and_resume(kind, where, tmp_path, capsys):
    marker = tmp_path / "MARKER"
    payload = _payloads(marker)[kind]
    checkpoint = {"format": 1, "model_name": "dcgan", "config": {}, "step": 1}
    if where == "top":
        checkpoint["x"] = payload
    elif where == "nested":
        checkpoint["fid_history"] = [[1, 2.0, {"a": [payload]}, None]]
    else:
        checkpoint["training_state"] = {"G": {"weight": torch.zeros(2)}, "opt": payload}
    run = tmp_path / "run"
    run.mkdir()
    torch.save(checkpoint, run / "checkpoint.pt")
    before = sorted(p.name for p in tmp_path.rglob("*"))

    code, err = run_cli(["sample", run, "-n", "2", "-o", tmp_path / "out"], capsys)
    assert_one_line(code, err, run / "checkpoint.pt", "refused")
    code, err = run_cli(["train", "dcgan", "--out", run, "--resume", "--steps", "2"], capsys)
    assert_one_line(code, err, run / "checkpoint.pt", "refused")
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_payload_checkpoint_in_a_fresh_process_creates_no_marker(tmp_path):
    """The real command in its own process (nothing imported beforehand can mask a payload)."""
    marker = tmp_path / "MARKER"
    torch.save({"format": 1, "x": _RunsCode(os.system, f"touch '{marker}'")}, tmp_path / "evil.pt")
    done = subprocess.run([sys.executable, "-m", "ganeval_train", "sample", str(tmp_path / "evil.pt"), "-n", "2",
                           "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1"))
    assert_one_line(done.returncode, done.stderr, "evil.pt", "posix.system")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_checkpoints_hold_only_plain_data_and_round_trip_the_fid_history(tmp_path):
    train(TrainOptions(model="dcgan", out=tmp_path / "run", steps=2, checkpoint_every=1, sample_every=100,
                       overrides=TINY, quiet=True))
    # What ganeval-train writes loads under weights_only=True (tensors, builtins, dicts and lists only).
    raw = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert raw["step"] == 2
    model, payload = load_model(tmp_path / "run")
    assert payload["step"] == 2 and model.config.width == 8

    history = [FIDRecord(0, 12.5), FIDRecord(2, 7.25, {"0": 6.0, "1": 8.5}, 7.25)]
    save_checkpoint(tmp_path / "c.pt", {"format": 1, "fid_history": history})
    back = load_checkpoint(tmp_path / "c.pt")["fid_history"]
    assert back == history and [r.per_class for r in back] == [None, {"0": 6.0, "1": 8.5}]
    assert all(isinstance(r, FIDRecord) for r in back) and back[1].intra_fid == 7.25


@pytest.mark.parametrize("resolution", ["-5", "0", "3", "30", "100000000000"])
def test_bad_resolution_is_one_line_and_writes_nothing(resolution, tmp_path, capsys):
    code, err = run_cli(["train", "dcgan", "--out", tmp_path / "run", "--steps", "1", "--resolution", resolution],
                        capsys)
    assert_one_line(code, err, f"--resolution {resolution}")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("content", [b"garbage", b"\x80\x04K\x01."])
def test_bad_real_stats_is_refused_before_the_run_folder_is_written(content, tmp_path, capsys):
    (tmp_path / "evil.pkl").write_bytes(content)
    code, err = run_cli(["train", "dcgan", "--out", tmp_path / "run", "--steps", "1", "--batch-size", "8",
                         "--fid-every", "1", "--real-stats", tmp_path / "evil.pkl"], capsys)
    assert_one_line(code, err, "evil.pkl")
    assert not (tmp_path / "run").exists()


def test_a_checkpoint_of_an_earlier_version_with_fid_records_still_loads(tmp_path):
    """Earlier versions pickled FIDRecord objects into the history: allowed by name, nothing else is."""
    history = [FIDRecord(0, 12.5), FIDRecord(2, 7.25, {"0": 6.0}, 6.0)]
    torch.save({"format": 1, "fid_history": history}, tmp_path / "old.pt")
    back = load_checkpoint(tmp_path / "old.pt")["fid_history"]
    assert back == history and back[1].per_class == {"0": 6.0} and back[1].intra_fid == 6.0
