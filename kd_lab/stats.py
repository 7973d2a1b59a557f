"""The statistics every table and comparison carries: n, mean, std and a 95% confidence
interval per group; against a named baseline, the difference with its 95% interval, the
p-value, Holm's correction across a table's comparisons, and a verdict word.

The protocol (the README's "How numbers are reported" says it in prose):
- seeds are the unit: one run, one value; std has ddof = 1;
- a group's interval is Student's t interval of its mean;
- where seeds pair runs (runs of one seed share their initial weights, batch order and
  teacher) or the same runs are measured two ways (a trained student with and without a bias
  shift), a comparison is the paired t test on the per-pair differences (`paired`), two-sided,
  over the pairs both sides hold; otherwise Welch's two-sample t test (unequal variances), its
  interval the matching Welch interval of the difference (group minus baseline);
- the p-values of one table's comparisons are Holm-adjusted together; the verdict is "better"
  or "worse" (by the metric's direction) when the adjusted p-value is below 0.05, "no detectable
  difference" otherwise, and "too few runs" when either side has fewer than 2;
- `detectable_difference` is the smallest true difference the test finds with 80% power at
  the measured spreads and counts, at the level Holm's first step demands in a table of m
  comparisons, 0.05 / m (the usual approximation with t quantiles).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

CONFIDENCE = 0.95
SIGNIFICANCE = 0.05  # the level of every test, after Holm's correction (1 - CONFIDENCE)
POWER = 0.8
BETTER, WORSE, UNDECIDED, TOO_FEW = ("better", "worse", "no detectable difference",
                                     "too few runs")
# The columns `compare` adds to a summary line of a group that is not the baseline.
TEST_COLUMNS = ("difference", "diff_low", "diff_high", "p_value", "p_holm", "verdict",
                "detectable", "pairs")
# Metrics where a smaller value is better; every other metric is better when larger.
LOWER_IS_BETTER = ("test_errors", "errors", "test_error_rate", "loss", "wall_seconds")


def _t():
    from scipy import stats  # imported on first use: only its t distribution is needed

    return stats.t


def _values(values) -> np.ndarray:
    return pd.Series(values, dtype="float64").dropna().to_numpy()


def describe(values) -> dict:
    """mean, std (ddof = 1), count n and the 95% t interval of the mean of `values` (NaN
    dropped).

    With one value the std and interval are NaN: one seed says nothing about the spread.
    """
    x = _values(values)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    low, high = mean_interval(mean, std, n)
    return dict(mean=mean, std=std, count=n, ci_low=low, ci_high=high)


def mean_interval(mean: float, std: float, n: int) -> tuple[float, float]:
    """The 95% t interval of a mean from its summary (mean, std with ddof = 1, count), as a
    table stores it; (NaN, NaN) below 2 values."""
    if pd.isna(n) or n < 2 or pd.isna(std):
        return math.nan, math.nan
    half = float(_t().ppf(0.5 + CONFIDENCE / 2, int(n) - 1)) * std / math.sqrt(n)
    return mean - half, mean + half


def welch(values, baseline) -> dict:
    """`values` minus `baseline`: the difference of means, its 95% Welch interval, Welch's
    degrees of freedom and the two-sided p-value (NaN when either side has fewer than 2)."""
    a, b = _values(values), _values(baseline)
    difference = (a.mean() - b.mean()) if len(a) and len(b) else math.nan
    if len(a) < 2 or len(b) < 2:
        return dict(difference=float(difference), diff_low=math.nan, diff_high=math.nan,
                    df=math.nan, p_value=math.nan)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:  # two constant samples: equal means are no difference, unequal ones certain
        return dict(difference=float(difference), diff_low=float(difference),
                    diff_high=float(difference), df=math.inf,
                    p_value=1.0 if difference == 0 else 0.0)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(_t().ppf(0.5 + CONFIDENCE / 2, df)) * se
    p_value = 2 * float(_t().sf(abs(difference) / se, df))
    return dict(difference=float(difference), diff_low=float(difference - half),
                diff_high=float(difference + half), df=float(df), p_value=min(p_value, 1.0))


def paired(values, baseline) -> dict:
    """`values` minus `baseline` pair by pair (the same runs measured two ways): the mean
    difference, its 95% t interval, the degrees of freedom and the two-sided p-value of the
    paired t test (NaN below 2 pairs)."""
    d = describe(np.asarray(values, dtype="float64") - np.asarray(baseline, dtype="float64"))
    if d["count"] < 2:
        return dict(difference=d["mean"], diff_low=math.nan, diff_high=math.nan, df=math.nan,
                    p_value=math.nan)
    se = d["std"] / math.sqrt(d["count"])
    p_value = (1.0 if d["mean"] == 0 else 0.0) if se == 0 else min(
        2 * float(_t().sf(abs(d["mean"]) / se, d["count"] - 1)), 1.0)
    return dict(difference=d["mean"], diff_low=d["ci_low"], diff_high=d["ci_high"],
                df=float(d["count"] - 1), p_value=p_value)


def paired_ratio(part, whole) -> dict:
    """mean(`part`) / mean(`whole`) over the same pairs (seeds), with Fieller's 95% interval.

    The interval holds every ratio r for which the paired t test of part - r * whole does not
    reject (two-sided, 5%): exact for normal pairs, and honest where a delta-method interval
    is not: when the paired t test does not find mean(`whole`) different from 0 (it carries
    the denominator), the interval is unbounded, (-inf, inf). NaN bounds below 2 pairs.
    """
    a, b = np.asarray(part, dtype="float64"), np.asarray(whole, dtype="float64")
    if a.shape != b.shape:
        raise ValueError(f"part and whole must pair one to one; got {len(a)} and {len(b)}")
    n = len(a)
    ratio = float(a.mean() / b.mean()) if n and b.mean() != 0 else math.nan
    if n < 2:
        return dict(ratio=ratio, ratio_low=math.nan, ratio_high=math.nan, pairs=n)
    q = float(_t().ppf(0.5 + CONFIDENCE / 2, n - 1)) ** 2 / n
    (s_aa, s_ab), (_, s_bb) = np.cov(a, b, ddof=1)
    # Not rejected: n (mean(a) - r mean(b))^2 <= t^2 var(a - r b), a quadratic A r^2 - 2 B r + C.
    lead = b.mean() ** 2 - q * s_bb
    middle = a.mean() * b.mean() - q * s_ab
    constant = a.mean() ** 2 - q * s_aa
    if lead <= 0:
        return dict(ratio=ratio, ratio_low=-math.inf, ratio_high=math.inf, pairs=n)
    half = math.sqrt(max(middle ** 2 - lead * constant, 0.0))  # >= 0: the estimate is inside
    return dict(ratio=ratio, ratio_low=(middle - half) / lead, ratio_high=(middle + half) / lead,
                pairs=n)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of `p_values` (NaN stays NaN and is not counted)."""
    p = np.asarray(p_values, dtype="float64")
    adjusted = np.full_like(p, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, (len(order) - rank) * p[index])
        adjusted[index] = min(running, 1.0)
    return adjusted


def lower_is_better(metric: str) -> bool:
    return metric.endswith(LOWER_IS_BETTER)


def verdict(difference: float, p_adjusted: float, metric: str) -> str:
    """The verdict word for one comparison whose (adjusted) p-value is `p_adjusted`."""
    if pd.isna(p_adjusted):
        return TOO_FEW
    if p_adjusted >= SIGNIFICANCE:
        return UNDECIDED
    return BETTER if (difference < 0) == lower_is_better(metric) else WORSE


def detectable_difference(std: float, n: int, baseline_std: float, baseline_n: int,
                          comparisons: int = 1) -> float:
    """The smallest true difference Welch's test detects with 80% power at the 0.05 level
    (0.05 / `comparisons`: Holm's first step in a table of that many comparisons), given these
    spreads and counts (NaN when a side has fewer than 2 runs)."""
    if n < 2 or baseline_n < 2 or pd.isna(std) or pd.isna(baseline_std):
        return math.nan
    va, vb = std ** 2 / n, baseline_std ** 2 / baseline_n
    if va + vb == 0:
        return 0.0
    df = (va + vb) ** 2 / (va ** 2 / (n - 1) + vb ** 2 / (baseline_n - 1))
    return _detectable(math.sqrt(va + vb), df, comparisons)


def _detectable(standard_error: float, df: float, comparisons: int) -> float:
    """The difference a t test with this standard error and df finds with `POWER`."""
    t = _t()
    level = SIGNIFICANCE / comparisons
    return float((t.ppf(1 - level / 2, df) + t.ppf(POWER, df)) * standard_error)


def seeds_to_detect(difference_std: float, target: float, comparisons: int = 1,
                    at_most: int = 100) -> int:
    """The fewest paired seeds whose test detects a difference of `target` with `POWER` at
    `SIGNIFICANCE` / `comparisons` (Bonferroni, which Holm never needs more than), when paired
    differences spread by `difference_std`; `at_most` when even that many are not enough."""
    for n in range(2, at_most + 1):
        if _detectable(difference_std / math.sqrt(n), n - 1, comparisons) <= abs(target):
            return n
    return at_most


def summarise(rows: pd.DataFrame, by, metrics) -> pd.DataFrame:
    """One line per group of `rows`: for each metric its `_mean`, `_std`, `_count` (n),
    `_ci_low` and `_ci_high` (`by` columns missing from `rows` are ignored; NaN keys form
    groups too)."""
    by = [c for c in by if c in rows.columns]
    lines = []
    for key, group in rows.groupby(by, dropna=False, sort=True):
        line = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        for metric in metrics:
            line.update({f"{metric}_{k}": v for k, v in describe(group[metric]).items()})
        lines.append(line)
    columns = by + [f"{m}_{k}" for m in metrics
                    for k in ("mean", "std", "count", "ci_low", "ci_high")]
    return pd.DataFrame(lines, columns=columns)


def compare(rows: pd.DataFrame, by, metric: str, is_baseline,
            pair_by: str | None = None, family: int | None = None) -> pd.DataFrame:
    """`summarise(rows, by, [metric])` plus, for every group but the baseline, its difference
    from the baseline (`difference`, `diff_low`, `diff_high`), `p_value`, `p_holm` (Holm across
    this table's comparisons), `verdict`, `detectable` (the smallest difference its n could
    detect) and `pairs`. `is_baseline(line)` picks the baseline among the summary lines:
    exactly one.

    With `pair_by` (a column such as "seed", where runs of one seed share their initial
    weights, batch order and teacher), a group is compared with the baseline on the values of
    `pair_by` both hold, pair by pair (`paired`; `pairs` counts them); without it, Welch's test
    (`pairs` is NaN). A group holding one `pair_by` value twice is refused.

    `family`: how many comparisons the table's family holds, when this call makes only part of
    them (`detectable` uses it; the caller then corrects the whole family, `holm_together`)."""
    rows = rows.reset_index(drop=True)  # `_test` finds a value's pair by its row label
    table = summarise(rows, by, [metric])
    by = [c for c in by if c in rows.columns]
    chosen = [i for i, line in table.iterrows() if is_baseline(line)]
    if len(chosen) != 1:
        raise ValueError(f"is_baseline must pick exactly one group of {by}; it picked "
                         f"{len(chosen)}")
    base_values = _group(rows, by, table.loc[chosen[0], by])[metric]
    tests = []
    for i, line in table.iterrows():
        if i == chosen[0]:
            tests.append(dict(is_baseline=True))
            continue
        values = _group(rows, by, line[by])[metric]
        tests.append(dict(is_baseline=False, **_test(rows, values, base_values, pair_by,
                                                     comparisons=family or len(table) - 1)))
    table = pd.concat([table, pd.DataFrame(tests, index=table.index)], axis=1)
    table["p_holm"] = holm(table["p_value"].where(~table["is_baseline"]))
    table["verdict"] = [
        "baseline" if line.is_baseline else verdict(line.difference, line.p_holm, metric)
        for line in table.itertuples()]
    return table


def holm_together(tests: pd.DataFrame, metric: str) -> pd.DataFrame:
    """`tests` (lines with `difference` and `p_value`, from several `compare` calls) with
    `p_holm` and `verdict` recomputed over all of them: one family."""
    tests = tests.copy()
    tests["p_holm"] = holm(tests["p_value"])
    tests["verdict"] = [verdict(d, p, metric) for d, p in zip(tests["difference"],
                                                               tests["p_holm"], strict=True)]
    return tests


def compare_within(rows: pd.DataFrame, group: str, arm: str, baseline, metric: str,
                   pair_by: str | None = None) -> pd.DataFrame:
    """Within each value of `group`, every value of `arm` against the `baseline` arm (e.g. soft
    targets against hard labels at each data size): one line per (group, arm) with the
    `TEST_COLUMNS` (`p_holm`: Holm across all the lines, one table's comparisons). With
    `pair_by` (a column naming what pairs runs: a seed, or the run itself when the arms are
    the same runs measured two ways), the arms are compared pair by pair (`paired`);
    otherwise Welch's test."""
    rows = rows.reset_index(drop=True)  # `_test` finds a value's pair by its row label
    pairs = []  # (group value, arm value, the arm's values, the baseline's values)
    for key, own in rows.groupby(group, sort=True):
        base = own.loc[own[arm] == baseline, metric]
        pairs += [(key, value, values, base) for value, values in
                  own[own[arm] != baseline].groupby(arm, sort=True)[metric]]
    lines = [{group: key, arm: value, **_test(rows, values, base, pair_by, len(pairs))}
             for key, value, values, base in pairs]
    return holm_together(pd.DataFrame(lines), metric)[[group, arm, *TEST_COLUMNS]]


def _test(rows: pd.DataFrame, values: pd.Series, base: pd.Series, pair_by: str | None,
          comparisons: int) -> dict:
    """`values` (rows of `rows`) against `base`: `paired` over the values of `pair_by` both
    hold, else `welch`; with `detectable` (at Holm's first step over `comparisons`) and
    `pairs` (NaN for Welch)."""
    if pair_by is None:
        v, b = describe(values), describe(base)
        return dict(**welch(values, base), pairs=math.nan, detectable=detectable_difference(
            v["std"], v["count"], b["std"], b["count"], comparisons=comparisons))
    own = pd.DataFrame({"pair": rows.loc[values.index, pair_by], "value": values})
    other = pd.DataFrame({"pair": rows.loc[base.index, pair_by], "base": base})
    for side in (own, other):
        if side["pair"].duplicated().any():
            raise ValueError(f"pair_by={pair_by!r}: a group holds {pair_by} "
                             f"{side['pair'][side['pair'].duplicated()].iloc[0]} twice; "
                             f"pairs need one run per {pair_by} in each group")
    joined = own.merge(other, on="pair")
    d = describe(joined["value"] - joined["base"])
    detectable = (_detectable(d["std"] / math.sqrt(d["count"]), d["count"] - 1, comparisons)
                  if d["count"] > 1 else math.nan)
    return dict(**paired(joined["value"], joined["base"]), pairs=len(joined),
                detectable=detectable)


def how_tested(table: pd.DataFrame, pair_by: str = "seed") -> str:
    """How a table's comparisons were tested, in words: "a paired t test by seed" when its
    `pairs` column counts pairs, else "Welch's t test"."""
    paired_lines = table["pairs"].notna().any() if "pairs" in table else False
    return f"a paired t test by {pair_by}" if paired_lines else "Welch's t test"


def _group(rows: pd.DataFrame, by, key) -> pd.DataFrame:
    mask = np.ones(len(rows), dtype=bool)
    for column in by:
        value = key[column]
        mask &= (rows[column].isna() if pd.isna(value) else rows[column] == value).to_numpy()
    return rows[mask]


def p_text(p: float) -> str:
    """A p value to three decimals, or "< 0.001" (a p value is never 0)."""
    return "< 0.001" if p < 0.0005 else f"= {p:.3f}"


def interval(low, high, digits: int = 1, scale: float = 1.0) -> str:
    """'[low, high]' (times `scale`, `digits` decimals); '' when the interval is undefined."""
    if pd.isna(low) or pd.isna(high):
        return ""
    return f"[{scale * low:.{digits}f}, {scale * high:.{digits}f}]"
