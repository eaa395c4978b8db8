"""Run a network with ONNX Runtime on the CPU: same fp32 numerics, other kernels.

Inception, measured on this project's 2-core CPU (batch 50, 299x299): ONNX Runtime 17.8
images/s against 6.6 for eager PyTorch, 9.2-12.2 channels-last and 14.7 with torch.compile;
features differ from eager PyTorch by at most ~1e-5 (fp32 summation order), FID by < 1e-6
relative (tests/test_backends.py). The ViT encoders are matrix products that PyTorch already
runs near this CPU's peak, so there ONNX Runtime is opt-in (docs/encoders.md gives the figures).

The graph is exported from the loaded network at first use and cached as
``<cache>/onnx/<network>-<network digest>-<key digest>.onnx`` (``ganeval.extractors.weights.cache_dir``).
The cache proves what it holds: a sidecar ``.json`` written after the graph records the key
(ganeval, network, network digest, outputs, input shape, variant, opset, torch and onnx versions)
and the graph's sha256, and both are checked at every load; on any mismatch the graph is
exported again, with one line on stderr. Where the cache cannot be written, the graph is
exported in memory each time (Inception about 1-2 s, ViT-L about 12 s).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ganeval.core.errors import GanevalError
from ganeval.extractors.weights import cache_dir
from ganeval.io.atomic import atomic_write

OPSET = 17


def onnxruntime_available() -> bool:
    """Whether both ONNX Runtime (to run) and onnx (which torch's exporter needs) are importable."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def onnxruntime_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


class OnnxRuntimeNetwork:
    """``graph`` (an ``nn.Module``: float32 [N, *input_shape] → a tuple of [N, d], one per name in
    ``outputs``) exported to ONNX with outputs named ``outputs`` and a dynamic batch axis, run by
    ONNX Runtime. ``name``, ``network_digest``, ``input_shape`` and ``variant`` key the cache.

    Sessions use the CPU execution provider with ``torch.get_num_threads()`` threads at call
    time (one session per thread count), so ``torch.set_num_threads`` governs both backends.
    """

    def __init__(self, graph: nn.Module, network_digest: str, outputs: tuple[str, ...] = ("pool3",), *,
                 name: str = "inception", input_shape: tuple[int, ...] = (3, 299, 299), variant: str = ""):
        if not onnxruntime_available():
            raise GanevalError("backend onnxruntime needs the onnxruntime and onnx packages: "
                               "pip install onnxruntime onnx (or use --backend torch)")
        self.spaces = tuple(outputs)
        self.input_shape = tuple(input_shape)
        self.cache_key = cache_key(network_digest, self.spaces, name=name, input_shape=self.input_shape,
                                   variant=variant)
        self.cache_path = cache_path(self.cache_key)
        self._sessions: dict[int, object] = {}
        self.model_bytes = _read_cached(self.cache_path, self.cache_key)
        if self.model_bytes is not None:
            try:
                self._session()
                return
            except Exception:  # a damaged cache file: export again and replace it
                self._sessions.clear()
        self.model_bytes = _export(graph, self.spaces, self.input_shape)
        _write_cache(self.cache_path, self.model_bytes, self.cache_key)

    def _session(self):
        import onnxruntime

        threads = torch.get_num_threads()
        if threads not in self._sessions:
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            # Idle threads sleep instead of spinning: the same speed on a quiet CPU, and no stolen
            # cycles from decoding workers or other ranks sharing the cores.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._sessions[threads] = onnxruntime.InferenceSession(
                self.model_bytes, options, providers=["CPUExecutionProvider"])
        return self._sessions[threads]

    def __call__(self, x: Tensor) -> tuple[Tensor, ...]:
        """x: float32 [N, *input_shape] on the CPU → one float32 [N, d] per output, on the CPU."""
        array = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        return tuple(torch.from_numpy(out) for out in self._session().run(list(self.spaces), {"images": array}))


def cache_key(network_digest: str, output_names, *, name: str = "inception",
              input_shape: tuple[int, ...] = (3, 299, 299), variant: str = "") -> dict:
    """Everything that shapes the exported graph; a cached graph is used only under the same key."""
    import onnx

    from ganeval import __version__

    return {"ganeval": __version__, "network": name, "network_digest": network_digest,
            "outputs": list(output_names), "input_shape": list(input_shape), "variant": variant,
            "opset": OPSET, "exporter": "torchscript", "torch": torch.__version__, "onnx": onnx.__version__}


def cache_path(key: dict) -> Path:
    """``<cache>/onnx/<network>-<network digest>-<sha256 of the key>.onnx``."""
    key_digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / "onnx" / f"{key['network']}-{key['network_digest'][:16]}-{key_digest}.onnx"


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _read_cached(path: Path, key: dict) -> bytes | None:
    """The cached graph when its sidecar vouches for it (same key, same sha256); else None."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        record = json.loads(sidecar_path(path).read_text())
        problem = None
        if not isinstance(record, dict) or record.get("key") != key:
            problem = "was exported under other settings"
        elif record.get("sha256") != hashlib.sha256(data).hexdigest():
            problem = "does not match the sha256 recorded at export"
    except (OSError, ValueError):
        problem = "has no readable record of what it holds"
    if problem is None:
        return data
    sys.stderr.write(f"note: cached ONNX graph {path} {problem}; exporting it again\n")
    return None


def _write_cache(path: Path, data: bytes, key: dict) -> None:
    """Write the graph, then its sidecar (key and sha256), each atomically: a sidecar only ever vouches
    for a complete graph."""
    record = json.dumps({"key": key, "sha256": hashlib.sha256(data).hexdigest()}, sort_keys=True, indent=1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as tmp_name:
            Path(tmp_name).write_bytes(data)
        with atomic_write(sidecar_path(path)) as tmp_name:
            Path(tmp_name).write_text(record)
    except OSError:
        pass  # a read-only or full cache only costs the export at the next start


def _export(graph: nn.Module, outputs: tuple[str, ...], input_shape: tuple[int, ...]) -> bytes:
    """``graph`` as ONNX bytes, outputs named ``outputs``, dynamic batch axis (opset 17)."""
    example = torch.zeros(1, *input_shape)
    buffer = io.BytesIO()
    was_training = graph.training
    graph.eval()
    try:
        with warnings.catch_warnings():
            # The exporter warns about input-shape checks (Python branches it traces once) and
            # about its own deprecation; neither affects the exported graph.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                graph.to("cpu"), (example,), buffer, dynamo=False, opset_version=OPSET,
                input_names=["images"], output_names=list(outputs),
                dynamic_axes={"images": {0: "batch"}, **{name: {0: "batch"} for name in outputs}},
            )
    finally:
        graph.train(was_training)
    return buffer.getvalue()
