"""Figures of the lab: one `save_fig` for every figure, and learning curves from run records.

Follows handson-ml3's habit: every figure goes through `save_fig(fig_id)` into
`results/figures/<fig_id>.png`, so the README's gallery and the notebooks show the same files."""

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
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from .losses import softmax  # noqa: E402
from .records import RESULTS_DIR  # noqa: E402
from .report import mean_spread  # noqa: E402

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


VERDICT_COLOURS = {"better": "white", "worse": "red"}


def plot_sweep_heatmap(table: pd.DataFrame, architecture: str, ax=None):
    """Mean test accuracy (%) per temperature x alpha, each cell annotated with mean +- std.

    Args:
        table: `sweep.sweep_table(...)` output.
        architecture: the student whose cells to show.
    """
    cells = table[table["architecture"] == architecture]
    mean = cells.pivot(index="alpha", columns="temperature", values="test_accuracy_mean") * 100
    std = cells.pivot(index="alpha", columns="temperature", values="test_accuracy_std") * 100
    count = cells.pivot(index="alpha", columns="temperature", values="test_accuracy_count")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 1.3 * mean.shape[1] + 2), 0.8 * mean.shape[0] + 1.5))
    image = ax.imshow(mean.values, cmap="viridis", aspect="auto", origin="lower")
    for i, j in itertools.product(range(mean.shape[0]), range(mean.shape[1])):
        label = mean_spread(mean.values[i, j], std.values[i, j], 2).replace(" ± ", "\n± ")
        ax.text(j, i, label, ha="center", va="center", fontsize=7,
                color="white" if mean.values[i, j] < mean.values.mean() else "black")
    ax.set_xticks(range(mean.shape[1]), [f"{t:g}" for t in mean.columns])
    ax.set_yticks(range(mean.shape[0]), [f"{a:g}" for a in mean.index])
    ax.set_xlabel("temperature T")
    ax.set_ylabel("alpha (weight of the hard-label loss)")
    n = sorted({int(c) for c in count.values.ravel() if c == c}) or [0]  # c == c: not NaN
    seeds = "-".join(map(str, dict.fromkeys((n[0], n[-1]))))
    title = f"{architecture}: test accuracy %, mean ± std over {seeds} seeds"
    if "verdict" in cells:  # frame the cells whose verdict against labels alone is decided
        verdicts = cells.pivot(index="alpha", columns="temperature", values="verdict")
        for (i, j), colour in ((ij, VERDICT_COLOURS.get(verdicts.values[ij])) for ij in
                               itertools.product(*map(range, verdicts.shape))):
            if colour:
                ax.add_patch(plt.Rectangle((j - 0.47, i - 0.47), 0.94, 0.94, fill=False,
                                           edgecolor=colour, linewidth=2.5))
        title += ("\nframed: better (white) or worse (red) than alpha = 1 (labels alone),"
                  "\nWelch, Holm-corrected; unframed: no detectable difference")
    ax.set_title(title, fontsize=9)
    ax.figure.colorbar(image, ax=ax, label="test accuracy %")
    return ax


def plot_metric_vs_temperature(table: pd.DataFrame, architecture: str,
                               metric: str = "test_accuracy", ax=None):
    """A metric (%) against T, one line per alpha, error bars of one std over seeds.

    Args:
        table: `sweep.sweep_table(...)` output.
        metric: `test_accuracy` or `test_teacher_agreement`.
    """
    cells = table[table["architecture"] == architecture]
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.8))
    for alpha, group in cells.groupby("alpha"):
        group = group.sort_values("temperature")
        ax.errorbar(group["temperature"], group[f"{metric}_mean"] * 100,
                    yerr=group[f"{metric}_std"].fillna(0) * 100, marker="o", capsize=3,
                    label=f"alpha = {alpha:g}" + (" (labels only)" if alpha == 1 else ""))
    _temperature_axis(ax, cells["temperature"])
    ax.set_xlabel("temperature T")
    ax.set_ylabel(metric.replace("test_", "test ").replace("_", " ") + " %")
    ax.set_title(f"{architecture}; alpha weights the hard-label loss", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return ax


def plot_errors_vs_temperature_by_width(table: pd.DataFrame, ax=None):
    """Test errors against T, one line per student width, with each width's scratch level.

    Args:
        table: `reproductions.hinton2015.width_table(...)` output (distilled rows at each T,
            scratch rows at NaN).
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    colors = itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for (width, group), color in zip(table.groupby("width"), colors, strict=False):
        distilled = group[group["student"] == "distilled"].sort_values("temperature")
        ax.errorbar(distilled["temperature"], distilled["test_errors_mean"],
                    yerr=distilled["test_errors_std"].fillna(0), marker="o", capsize=3,
                    color=color, label=f"{width}-{width} distilled")
        for _, row in group[group["student"] == "scratch"].iterrows():
            ax.axhline(row.test_errors_mean, color=color, linestyle=":", linewidth=1)
    _temperature_axis(ax, table["temperature"])
    ax.set_xlabel("temperature T")
    ax.set_ylabel("test errors (of 10,000)")
    alphas = sorted(table.loc[table["student"] == "distilled", "alpha"].unique())
    ax.set_title("dotted: the same width from scratch; alpha (hard-label weight) = "
                 + ", ".join(f"{a:g}" for a in alphas), fontsize=8)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return ax


def plot_bias_shift_curves(curves: pd.DataFrame, chosen: pd.DataFrame | None = None,
                           paper_shift: float | None = None, axes=None):
    """Errors overall and on the shifted classes against the bias shift, per split.

    Mean over seeds with the min-max band; the shifts chosen on validation (one per seed) and
    the paper's shift are marked.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, (column, label) in zip(axes, (("error_percent", "test error % (all classes)"),
                                          ("class_accuracy_percent",
                                           "% of the shifted classes right")), strict=True):
        for split, style in (("val", "--"), ("test", "-")):
            stats = (curves[curves["split"] == split].groupby("shift")[column]
                     .agg(["mean", "min", "max"]))
            ax.plot(stats.index, stats["mean"], style, label=split)
            ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.2)
        if chosen is not None:
            for shift in chosen["shift"]:
                ax.axvline(shift, color="gray", linewidth=0.8)
        if paper_shift is not None:
            ax.axvline(paper_shift, color="black", linestyle=":", label=f"paper ({paper_shift:g})")
        ax.set_xlabel("shift added to the output bias of the omitted class(es)")
        ax.set_ylabel(label.replace("test ", ""))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_yscale("log")
    axes[0].yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes[0].yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes[0].yaxis.set_minor_formatter(NullFormatter())
    axes[0].set_title("gray: the shift chosen on validation, per seed", fontsize=8)
    return axes


def _temperature_axis(ax, temperatures):
    """A log T axis labelled at the temperatures used, as plain numbers."""
    temperatures = sorted(pd.Series(temperatures).dropna().unique())
    ax.set_xscale("log")
    ax.set_xticks(temperatures, [f"{t:g}" for t in temperatures])
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_soft_targets(logits, images, labels, temperatures=(1.0, 4.0, 20.0)):
    """The teacher's softened outputs softmax(logits / T) for a few examples, one row each.

    Rows: an example (its image, then one bar chart of class probabilities per temperature).
    A log scale shows what T does: the "dark knowledge" in the small probabilities.
    """
    import numpy as np

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


def plot_decision_boundaries(predictors: dict, x, y, titles: dict | None = None,
                             resolution: int = 300, axes=None):
    """Each predictor's decision regions over a 2-D input grid, with the points on top.

    Args:
        predictors: {name: function from an (n, 2) array to class ids}.
        x, y: the points to draw (the test set, say) and their labels.
        titles: optional {name: title}, such as the test accuracy.
    """
    import numpy as np

    if axes is None:
        _, axes = plt.subplots(1, len(predictors), figsize=(4.2 * len(predictors), 3.8),
                               squeeze=False)
        axes = axes[0]
    low, high = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    grid_x, grid_y = np.meshgrid(np.linspace(low[0], high[0], resolution),
                                 np.linspace(low[1], high[1], resolution))
    grid = np.c_[grid_x.ravel(), grid_y.ravel()].astype(np.float32)
    for ax, (name, predict) in zip(axes, predictors.items(), strict=True):
        regions = np.asarray(predict(grid)).reshape(grid_x.shape)
        ax.contourf(grid_x, grid_y, regions, levels=[-0.5, 0.5, 1.5], colors=["#cfe2f3", "#f4cccc"])
        ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=6, edgecolors="none")
        ax.set_title((titles or {}).get(name, name), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    return axes


def plot_protocol_comparison(table: pd.DataFrame, reported_label: str = "reported", ax=None):
    """Test accuracy per student (x) for each protocol (bars, mean +- std over seeds), with
    the repository's reported number as a marker.

    `table` has columns model, protocol, test_accuracy_mean, test_accuracy_std and
    reported_* (one column, the reported accuracy); the `teacher` row is drawn as a line.
    """
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    reported_column = next(c for c in table.columns if c.startswith("reported"))
    students = table[table["model"] != "teacher"]
    models_order = list(dict.fromkeys(students["model"]))
    protocols = list(dict.fromkeys(students["protocol"]))
    width = 0.8 / len(protocols)
    for i, protocol in enumerate(protocols):
        rows = students[students["protocol"] == protocol].set_index("model").reindex(models_order)
        positions = np.arange(len(models_order)) + (i - (len(protocols) - 1) / 2) * width
        ax.bar(positions, 100 * rows["test_accuracy_mean"], width,
               yerr=100 * rows["test_accuracy_std"].fillna(0), capsize=3, label=protocol)
    reported = students.drop_duplicates("model").set_index("model").reindex(models_order)
    ax.plot(np.arange(len(models_order)), 100 * reported[reported_column], "k_", markersize=30,
            markeredgewidth=2, label=reported_label)
    teacher = table[table["model"] == "teacher"]
    if len(teacher):
        ax.axhline(100 * teacher["test_accuracy_mean"].iloc[0], color="grey", linestyle="--",
                   label="teacher (here)")
    ax.set_xticks(np.arange(len(models_order)), models_order)
    ax.set_xlabel("student (alpha weights the hard-label loss)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize="small", loc="lower right")
    return ax
