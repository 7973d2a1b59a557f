"""sai-srinivasan-v (continue from the baseline): the recipe and its claims in points."""

import pandas as pd

from kd_experiments import claims as claims_module
from kd_experiments import sai_srinivasan


def test_continue_configs_differ_only_in_where_the_distilled_student_starts():
    configs = sai_srinivasan.continue_configs(0, "full")
    continued, fresh = configs["distilled_continued"], configs["distilled_fresh"]
    assert continued.init_from == configs["scratch"] and fresh.init_from is None
    assert continued.replace(init_from=None) == fresh
    assert (fresh.optimizer, fresh.learning_rate, fresh.momentum, fresh.weight_decay) == (
        "sgd", 0.01, 0.9, 1e-5)
    assert (fresh.temperature, fresh.alpha, fresh.epochs, fresh.batch_size) == (10.0, 0.5, 30, 128)
    assert configs["teacher"].architecture == "mlp:1200,1200"
    assert configs["scratch_continued"].role == "scratch"


def test_continue_claims_report_gains_in_points():
    rows = pd.DataFrame({"seed": [0, 1] * 5,
                         "model": [m for m in sai_srinivasan.CONTINUE_LABELS for _ in range(2)],
                         "test_accuracy": [0.982, 0.984, 0.979, 0.979, 0.981, 0.981, 0.980,
                                           0.980, 0.9805, 0.9805],
                         "test_errors": [0] * 10, "train_examples": [55000] * 10})
    claims = sai_srinivasan.continue_claims(rows).set_index("claim")
    assert claims.loc["teacher 784-1200-1200-10, test accuracy", "reported"] == "98.19%"
    assert claims.loc["teacher 784-1200-1200-10, test accuracy",
                      "as_published_here"] == "98.30 ± 0.14% [97.03, 99.57]"  # t(0.975, 1) = 12.71
    gain = claims.loc["distillation improves the student"]
    assert gain.reported == "+0.20 points"
    # Constant seeds on both sides: any difference is certain (stats.welch). The verdicts come
    # with the table's Holm correction (`claims.holm_verdicts`).
    assert gain.as_published_here == "+0.20 points over the student (Welch p = 0)"
    assert gain.corrected_here.startswith("+0.10 points over the student (Welch p = 0)"
                                          "; continuing on hard labels alone: +0.15 points")
    shown = claims_module.holm_verdicts(claims.reset_index()).set_index("claim")
    assert shown.loc["distillation improves the student", "as_published_here"] == (
        "+0.20 points over the student (Welch p = 0, Holm p = 0: better)")
