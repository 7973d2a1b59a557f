"""Figures of the lab: one `save_fig` for every figure, and learning curves from run records.

Follows handson-ml3's habit: every figure goes through `save_fig(fig_id)` into
`results/figures/<fig_id>.png`, so the README's gallery and the notebooks show the same files.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

# Headless by default (CI, nohup runs); notebooks keep their inline backend.
if not matplotlib.get_backend().lower().startswith(("module://", "nbagg", "widget", "qt", "tk")):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .runs import RESULTS_DIR  # noqa: E402

FIGURES_DIR = RESULTS_DIR / "figures"


def save_fig(fig_id: str, fig=None, figures_dir=None, tight_layout: bool = True,
             resolution: int = 150) -> Path:
    """Save a figure (the current one by default) as `<figures_dir>/<fig_id>.png`."""
    fig = fig or plt.gcf()
    path = Path(figures_dir or FIGURES_DIR) / f"{fig_id}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight_layout:
        fig.tight_layout()
    fig.savefig(path, format="png", dpi=resolution)
    return path


def plot_learning_curves(histories: dict[str, list[pd.DataFrame]],
                         metrics=("loss", "accuracy"), axes=None):
    """Train (dashed) and validation (solid) curves per label, mean over seeds with a band.

    Args:
        histories: label -> the `history.csv` frames of that label's runs (one per seed).
        metrics: history columns to plot, one panel each. `loss` is each run's own objective
            (for distilled runs alpha * hard + (1 - alpha) * soft), so `student_loss`, the
            hard-label cross-entropy, is the column that compares across roles.
    """
    if axes is None:
        _, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
        axes = axes[0]
    colors = itertools.cycle(c["color"] for c in plt.rcParams["axes.prop_cycle"])
    for (label, frames), color in zip(histories.items(), colors, strict=False):  # colors cycle
        for ax, metric in zip(axes, metrics, strict=True):
            for prefix, style in (("", "--"), ("val_", "-")):
                column = prefix + metric
                curves = pd.concat([f.set_index("epoch")[column] for f in frames if column in f],
                                   axis=1)
                if curves.empty:
                    continue
                mean = curves.mean(axis=1)
                name = f"{label} ({'validation' if prefix else 'train'})"
                ax.plot(mean.index, mean.values, style, color=color, label=name)
                if curves.shape[1] > 1:
                    ax.fill_between(mean.index, curves.min(axis=1), curves.max(axis=1),
                                    color=color, alpha=0.15, linewidth=0)
    for ax, metric in zip(axes, metrics, strict=True):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return axes
