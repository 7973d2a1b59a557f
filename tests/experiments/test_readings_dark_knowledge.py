"""The dark-knowledge notebook's block: the teachers against the target, in words."""

import pandas as pd

from kd_experiments import readings_dark_knowledge


def test_the_teachers_sentence_places_the_interval_against_the_target():
    def sentence(errors):
        return readings_dark_knowledge.teachers_sentence(pd.DataFrame({"test_errors": errors}))

    assert sentence([72]).endswith("one teacher gives no interval yet.")
    assert sentence([60, 62, 64, 66, 68]).endswith("its whole interval lies below the target.")
    assert sentence([60, 90, 70, 80, 75]).endswith("the target lies inside its interval.")
    assert sentence([90, 92, 94]).endswith("its whole interval lies above the target.")
    assert sentence([72]).startswith("1 of 10 teachers trained: 72.0")
