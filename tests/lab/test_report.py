"""The one mean ± spread formatter, Markdown tables, and the README's generated blocks."""

import math

import pandas as pd
import pytest

from kd_lab import report, stats


@pytest.mark.parametrize("args,kwargs,expected", [
    ((151.66666, 4.7258), {}, "151.7 ± 4.7"),
    ((151.66666, float("nan")), {}, "151.7"),  # one seed: no spread to show
    ((151.66666, None), {"digits": 0}, "152"),
    ((0.98123, 0.00041), {"digits": 2, "scale": 100, "suffix": "%"}, "98.12 ± 0.04%"),
    ((98.36, 0.0), {"digits": 2, "widths": (11, 5)}, "      98.36 ± 0.00 "),
])
def test_mean_spread(args, kwargs, expected):
    assert report.mean_spread(*args, **kwargs) == expected


def test_with_a_count_the_mean_s_95_interval_follows():
    # t(0.975, 2) = 4.3027: 147.667 ± 4.3027 * 9.866 / sqrt(3) = [123.2, 172.2], the compare
    # table's interval for the same three seeds.
    assert report.mean_spread(147.6667, 9.866, n=3) == "147.7 ± 9.9 [123.2, 172.2]"
    assert report.mean_spread(76.0, float("nan"), n=1) == "76.0"  # one run: no interval
    assert report.percent(0.9812, 0.0004, 2, n=10) == "98.12 ± 0.04% [98.09, 98.15]"


def test_a_table_row_is_stated_with_its_interval():
    values = [140, 151, 163, 149, 138]
    row = stats.summarise(pd.DataFrame({"g": 0, "test_errors": values}), ["g"],
                          ["test_errors"]).iloc[0]
    low, high = stats.describe(values)["ci_low"], stats.describe(values)["ci_high"]
    assert report.mean_spread_of(row, "test_errors") == (
        f"148.2 ± 10.0 [{low:.1f}, {high:.1f}]")
    assert report.percent_of(pd.Series({"test_accuracy_mean": 0.5, "test_accuracy_std": 0.1,
                                        "test_accuracy_count": 4})) == "50.0 ± 10.0% [34.1, 65.9]"


def test_percent_is_mean_spread_in_percent():
    assert report.percent(0.865) == "86.5%"
    assert report.percent(0.9012, 0.0123, 2) == "90.12 ± 1.23%"
    assert not math.isnan(float(report.percent(0.5)[:-1]))


def test_markdown_tables():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    assert report.frame_markdown(frame, {"b": "B", "a": "A"}) == (
        "| B | A |\n| --- | --- |\n| x | 1 |\n|  | 2 |")


def test_a_generated_block_is_found_and_replaced_and_nothing_else_moves():
    text = "intro\n<!-- results:t -->\nold\nlines\n<!-- /results:t -->\noutro $1 \\1\n"
    assert report.block(text, "t") == "old\nlines"
    new = report.replace_block(text, "t", "new $1 \\g<0>")  # no regex escapes in the content
    assert new == "intro\n<!-- results:t -->\nnew $1 \\g<0>\n<!-- /results:t -->\noutro $1 \\1\n"
    assert report.block(text, "missing") is None
    with pytest.raises(ValueError, match="results:missing"):
        report.replace_block(text, "missing", "x")
