"""Named experiments: the run configs of Hinton, Vinyals & Dean's (2015) MNIST comparison.

`hinton_configs(seed, profile)` gives the teacher (784-1200-1200-10, dropout, max-norm,
+-2 pixel jitter), the 784-800-800-10 student trained from scratch, and the same student
distilled at T = 20. `compare(...)` runs them over seeds and derives the comparison table
(mean and spread over seeds, test errors out of 10,000) from the run records.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import runs

# FAST shrinks data and epochs so the whole comparison runs in about a minute on 2 CPU cores.
# The full profile fits the main job into about 20 minutes there (see README); the paper's
# numbers need far longer teacher training (the reproduction notebook does that).
PROFILES = {
    "fast": dict(train_limit=5000, val_size=1000, teacher_epochs=3, student_epochs=3, patience=3),
    "full": dict(train_limit=None, val_size=5000, teacher_epochs=20, student_epochs=20,
                 patience=8),
    # Hinton et al.'s numbers need long training: no early stop (the best validation epoch is
    # still the one kept) and a cosine learning-rate decay to 0. About 27 minutes per teacher
    # and 5 per student on 2 CPU cores (16 s per teacher epoch, measured), so 3 seeds take
    # about 2 hours; the paper trained far longer (hinton.py, notebook 06).
    "paper": dict(train_limit=None, val_size=5000, teacher_epochs=100, student_epochs=60,
                  patience=0, lr_schedule="cosine"),
}
ROLE_LABELS = {"teacher": "teacher", "scratch": "student from scratch",
               "distilled": "distilled student"}


def hinton_configs(seed: int = 0, profile: str = "full", dataset: str = "mnist",
                   student: str = "mlp:800,800", temperature: float = 20.0,
                   alpha: float = 0.1) -> tuple[runs.RunConfig, runs.RunConfig, runs.RunConfig]:
    """(teacher, scratch, distilled) configs of one seed. alpha weights the hard-label loss."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}; got {profile!r}")
    p = PROFILES[profile]
    common = dict(dataset=dataset, seed=seed, profile=profile, train_limit=p["train_limit"],
                  val_size=p["val_size"], patience=p["patience"],
                  lr_schedule=p.get("lr_schedule", "constant"))
    teacher = runs.RunConfig(role="teacher", architecture="hinton_teacher", jitter_pixels=2,
                             epochs=p["teacher_epochs"], **common)
    scratch = runs.RunConfig(role="scratch", architecture=student, epochs=p["student_epochs"],
                             **common)
    distilled = runs.RunConfig(role="distilled", architecture=student, teacher=teacher,
                               temperature=temperature, alpha=alpha,
                               epochs=p["student_epochs"], **common)
    return teacher, scratch, distilled


def comparison_table(records: list[runs.RunRecord]) -> pd.DataFrame:
    """One line per role: mean +- std over seeds of test accuracy and errors, from the records."""
    summary = pd.DataFrame([r.row for r in records])
    table = runs.aggregate(summary, by=("role", "architecture", "temperature", "alpha"),
                           metrics=("test_accuracy", "test_errors", "test_teacher_agreement",
                                    "best_epoch"))
    table["model"] = table["role"].map(ROLE_LABELS)
    table["role"] = pd.Categorical(table["role"], list(ROLE_LABELS), ordered=True)
    table = table.sort_values("role").reset_index(drop=True)
    table["seeds"] = table["test_errors_count"].astype(int)
    return table


def format_table(table: pd.DataFrame) -> str:
    """The comparison as readable text: accuracy in %, errors out of the test count."""
    lines = [f"{'model':<22}{'architecture':<16}{'T':>4}{'alpha':>7}{'seeds':>7}"
             f"{'test accuracy %':>20}{'test errors':>16}{'agreement %':>14}"]
    for _, r in table.iterrows():
        knobs = f"{r.temperature:>4g}{r.alpha:>7g}" if r.role == "distilled" else " " * 11
        agreement = ("" if pd.isna(r.test_teacher_agreement_mean)
                     else f"{100 * r.test_teacher_agreement_mean:.2f}")
        lines.append(
            f"{r.model:<22}{r.architecture:<16}{knobs}{r.seeds:>7d}"
            f"{100 * r.test_accuracy_mean:>11.2f} ± {100 * _sd(r.test_accuracy_std):<5.2f}"
            f"{r.test_errors_mean:>9.1f} ± {_sd(r.test_errors_std):<5.1f}{agreement:>12}")
    lines.append("alpha weights the hard-label loss; 1 - alpha weights the T^2-scaled soft loss. "
                 "± is the standard deviation over seeds.")
    return "\n".join(line.rstrip() for line in lines)


def _sd(value) -> float:
    return 0.0 if pd.isna(value) else float(value)


def compare(seeds=(0, 1, 2), profile: str = "full", dataset: str = "mnist",
            results_dir=runs.RESULTS_DIR, data_dir=None, verbose=2, **config_overrides):
    """Run teacher -> scratch -> distilled for each seed (reusing finished runs); return records."""
    records = []
    for seed in seeds:
        for config in hinton_configs(seed, profile, dataset, **config_overrides):
            records.append(runs.run(config, results_dir=results_dir, data_dir=data_dir,
                                    verbose=verbose))
    return records


def write_comparison(records, results_dir=runs.RESULTS_DIR, name: str = "compare_mnist_full"):
    """Write the table as CSV and the learning curves as PNG; return their paths."""
    from . import plots

    results_dir = Path(results_dir)
    table = comparison_table(records)
    csv_path = runs.write_table(table, name, results_dir)
    histories: dict = {}
    for record in records:
        histories.setdefault(ROLE_LABELS[record.config.role], []).append(record.history)
    plots.plot_learning_curves(histories, metrics=("student_loss", "accuracy"))
    fig_path = plots.save_fig(f"{name}_learning_curves", figures_dir=results_dir / "figures")
    plots.plt.close("all")
    return table, csv_path, fig_path


def soft_target_examples(teacher, splits, count: int = 5) -> pd.DataFrame:
    """The teacher's logits, label and pixels of the first `count` test images, one row each.

    Saved as a table so that the soft-target figure can be redrawn from `results/` alone.
    """
    import numpy as np

    images = splits.x_test[:count]
    logits = teacher.predict(images, verbose=0)
    frame = pd.DataFrame(logits, columns=[f"logit_{k}" for k in range(logits.shape[1])])
    frame.insert(0, "label", splits.y_test[:count])
    pixels = pd.DataFrame(images.reshape(count, -1),
                          columns=[f"pixel_{k}" for k in range(int(np.prod(images.shape[1:])))])
    return pd.concat([frame, pixels], axis=1)


def split_soft_target_examples(frame: pd.DataFrame, image_shape=(28, 28)):
    """(logits, images, labels) back from a `soft_target_examples` table."""
    logits = frame.filter(like="logit_").to_numpy()
    images = frame.filter(like="pixel_").to_numpy().reshape(len(frame), *image_shape)
    return logits, images, frame["label"].to_numpy()
