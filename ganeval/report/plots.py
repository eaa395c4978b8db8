"""Figures drawn with matplotlib (the optional extra ``pip install 'ganeval[plots]'``)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ganeval.core.errors import GanevalError

INSTALL_HINT = "pip install 'ganeval[plots]'"


def require_matplotlib():
    """matplotlib.pyplot on the file-only Agg backend, or a GanevalError saying how to install it."""
    try:
        import matplotlib
    except ImportError:
        raise GanevalError(f"plots need matplotlib, which is not installed: {INSTALL_HINT}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_metrics_over_steps(steps: Sequence[int], metrics: Mapping[str, Sequence[float]], path, *,
                            num_samples: int | None = None, title: str = "Metrics during training") -> Path:
    """One panel per metric (shared step axis), each value marked, best value annotated; PNG at ``path``.

    ``metrics``: {"FID": [...], "KID": [...], ...}, each as long as ``steps``; NaN/None are gaps.
    """
    plt = require_matplotlib()
    from matplotlib.ticker import MaxNLocator

    if not metrics or any(len(v) != len(steps) for v in metrics.values()):
        raise GanevalError("every metric needs one value per step")
    names = list(metrics)
    fig, axes = plt.subplots(len(names), 1, figsize=(6.4, 2.2 + 1.8 * len(names)), sharex=True, squeeze=False)
    x = np.asarray(steps, dtype=float)
    for ax, name in zip(axes[:, 0], names):
        y = np.array([np.nan if v is None else float(v) for v in metrics[name]])
        ax.plot(x, y, marker="o", markersize=4, linewidth=1.6, color="#c0392b")
        if np.isfinite(y).any():
            best = int(np.nanargmin(y))
            right_half = x[best] > (np.nanmin(x) + np.nanmax(x)) / 2
            ax.annotate(f"min {y[best]:.3g} @ step {int(x[best])}", (x[best], y[best]),
                        textcoords="offset points", xytext=(-4 if right_half else 4, -6),
                        ha="right" if right_half else "left", va="top", fontsize=8)
            ax.margins(y=0.16)  # room below the minimum for its label
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.35)
    axes[-1, 0].set_xlabel("training step")
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    suffix = f" ({num_samples:,} generated samples each)" if num_samples else ""
    axes[0, 0].set_title(title + suffix, fontsize=11)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_neighbour_distances(real_nn: np.ndarray, generated_nn: np.ndarray, path, *,
                             names: tuple[str, str] = ("A", "B")) -> Path:
    """Histograms of the real set's own 1-NN distances ρ and of the generated-to-real 1-NN distances d; PNG."""
    plt = require_matplotlib()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(10.6, 3.4))
    both = np.concatenate([real_nn, generated_nn])
    bins = np.linspace(0.0, max(float(both.max()), 1e-9) * 1.02, 40)
    ax.hist(real_nn, bins=bins, alpha=0.55, color="#2e86c1", label=f"ρ: real ({names[0]}) to nearest other real")
    ax.hist(generated_nn, bins=bins, alpha=0.55, color="#c0392b",
            label=f"d: generated ({names[1]}) to nearest real")
    ax.axvline(float(np.median(real_nn)), color="#1b4f72", linestyle="--", linewidth=1.2, label="median ρ")
    ax.set_xlabel("Euclidean distance in pool3 feature space")
    ax.set_ylabel("images")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.35)
    ax.legend(fontsize=9, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def have_matplotlib() -> bool:
    """Whether matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def missing_matplotlib_note(what: str) -> str | None:
    """One line saying that ``what`` is not drawn and how to get it, or None when matplotlib is there."""
    if have_matplotlib():
        return None
    return f"note: {what} is not drawn: matplotlib is not installed ({INSTALL_HINT})"
