"""Hinton, Vinyals & Dean (2015) on MNIST: the paper-profile distilled student in two other
settings, each against notebook 06's distilled student (one teacher, its logits cached from
unjittered images):

- distilled from the ensemble of the main table's teachers (`hinton2015_ensemble`);
- distilled on 2-pixel jittered images with its teacher running on every batch: the paper's
  teacher trained on jittered images, and a student that sees the same transfer set may close
  part of the gap to the paper's 74 errors.

`variants_table` gives each one's test errors (n, mean, std, 95% interval) and its difference
from the cached-logit student (a paired t test over the seeds both hold, Holm over the
variants, a verdict).
"""

from __future__ import annotations

import pandas as pd

from kd_lab import stats
from kd_lab.config import RunConfig
from kd_lab.records import RunRecord
from kd_lab.report import markdown_table, mean_spread_of

from .hinton2015 import hinton_configs

BASELINE = "cached"
VARIANT_LABELS = {
    BASELINE: "distilled from one teacher, cached logits (the main table's row)",
    "ensemble": "distilled from the teachers' ensemble (averaged logits)",
    "jittered": "distilled on 2-pixel jittered images, the teacher run on every batch",
}


def jittered_student_configs(seeds=(0, 1, 2), profile: str = "paper", pixels: int = 2,
                             temperature: float = 20.0, alpha: float = 0.1,
                             student_knobs: dict | None = None,
                             teacher_knobs: dict | None = None) -> list[RunConfig]:
    """The main table's distilled student on jittered inputs: each seed distils the teacher of
    its seed, which then runs on every (jittered) batch instead of being read from its cache."""
    return [hinton_configs(seed, profile, temperature=temperature, alpha=alpha,
                           student_knobs=student_knobs, teacher_knobs=teacher_knobs)[2]
            .replace(jitter_pixels=pixels) for seed in seeds]


def variants_table(records: dict[str, list[RunRecord]]) -> pd.DataFrame:
    """One line per variant (keys of `VARIANT_LABELS`; `records["cached"]` is the baseline):
    test errors over seeds and, for the others, the difference from the cached-logit student
    with its interval, p-values (Holm over the variants), verdict and detectable difference."""
    unknown = set(records) - set(VARIANT_LABELS)
    if BASELINE not in records or unknown:
        raise ValueError(f"records must hold {BASELINE!r} and only the variants "
                         f"{', '.join(VARIANT_LABELS)}; got {', '.join(records)}")
    rows = pd.DataFrame([{"variant": name, "seed": r.row["seed"],
                          "test_errors": r.row["test_errors"]}
                         for name, runs in records.items() for r in runs])
    table = stats.compare(rows, ("variant",), "test_errors",
                          lambda line: line["variant"] == BASELINE, pair_by="seed")
    order = list(VARIANT_LABELS)
    table = table.sort_values("variant", key=lambda s: s.map(order.index)).reset_index(drop=True)
    table.insert(1, "label", table["variant"].map(VARIANT_LABELS))
    return table


def format_variants_table(table: pd.DataFrame) -> str:
    """`variants_table` as Markdown: each variant's test errors (mean ± std [95% CI], seeds)
    and, but for the baseline, its difference from the cached-logit student with its
    interval, Holm's p-value, verdict and the difference its seeds could detect."""
    rows = []
    for line in table.itertuples():
        tested = line.variant != BASELINE
        rows.append((line.label, mean_spread_of(line, "test_errors"),
                     int(line.test_errors_count),
                     f"{line.difference:+.1f} {stats.interval(line.diff_low, line.diff_high)}"
                     if tested else "baseline",
                     f"{line.p_holm:.3g}" if tested else "",
                     line.verdict if tested else "", f"{line.detectable:.0f}" if tested else ""))
    text = markdown_table(rows, ["800-800 student", "test errors (mean ± std [95% CI])",
                                 "seeds", "minus cached, errors [95% CI]", "Holm p", "verdict",
                                 "detectable (80% power)"])
    baseline = table.loc[table["variant"] == BASELINE, "test_errors_count"].iloc[0]
    fewer = table[(table["variant"] != BASELINE) & (table["pairs"] < baseline)]
    if len(fewer):  # a paired difference is over the shared seeds, not the means shown
        shared = " or ".join(str(int(n)) for n in sorted(set(fewer["pairs"])))
        text += (f"\n\nEach difference is paired by seed over the seeds both rows hold "
                 f"({shared} of the baseline's "
                 f"{int(baseline)}), so it is not the gap between the means shown, which are "
                 "over each row's own seeds.")
    return text
