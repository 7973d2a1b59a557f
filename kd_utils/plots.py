"""Figures: `save_fig` (handson-ml3's habit: every figure goes through it, so the README and
the notebooks show the same files), learning curves and soft targets, from arrays or frames."""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib

# Headless by default (CI, nohup runs); notebooks keep their inline backend.
if not matplotlib.get_backend().lower().startswith(("module://", "nbagg", "widget", "qt", "tk")):
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .losses import softmax  # noqa: E402


def figure_path(fig_id: str, figures_dir="figures") -> Path:
    """Where `save_fig(fig_id, figures_dir=...)` writes: `<figures_dir>/<fig_id>.png`."""
    return Path(figures_dir) / f"{fig_id}.png"


def save_fig(fig_id: str, fig=None, figures_dir="figures", tight_layout: bool = True,
             resolution: int = 150) -> None:
    """Save a figure (the current one by default) as `figure_path(fig_id, figures_dir)`;
    returns nothing, so a cell ending with it shows the figure, not a path."""
    fig = fig or plt.gcf()
    path = figure_path(fig_id, figures_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight_layout:
        fig.tight_layout()
    fig.savefig(path, format="png", dpi=resolution)


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


def plot_soft_targets(logits, images, labels, temperatures=(1.0, 4.0, 20.0)):
    """The teacher's softmax(logits / T) for a few examples: per row an image, then a bar chart
    per temperature, on a log scale that shows the "dark knowledge" in small probabilities."""
    logits = np.asarray(logits, dtype=np.float64)
    rows, cols = len(logits), 1 + len(temperatures)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 1.7 * rows), squeeze=False)
    for row, (z, image, label) in enumerate(zip(logits, images, labels, strict=True)):
        axes[row, 0].imshow(np.squeeze(image), cmap="gray_r")
        axes[row, 0].set_axis_off()
        axes[row, 0].set_title(f"label {label}", fontsize=8)
        for col, temperature in enumerate(temperatures, start=1):
            probs = softmax(z, temperature)
            ax = axes[row, col]
            ax.bar(range(len(probs)), probs, color="tab:blue")
            ax.set_yscale("log")
            ax.set_ylim(1e-6, 1.5)
            ax.set_xticks(range(len(probs)))
            ax.tick_params(labelsize=6)
            if row == 0:
                ax.set_title(f"softmax(teacher logits / {temperature:g})", fontsize=8)
    return fig
