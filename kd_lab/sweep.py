"""The temperature x alpha sweep: a resumable grid of distillation runs and its table.

`sweep(...)` (or `python -m kd_lab sweep ...`) distils one teacher into students over a grid
of temperatures T, hard-label weights alpha and seeds. Each cell is an ordinary run with its
own record, so a killed sweep, started again, trains only the runs that have no record. The
sweep takes a template: a distilled run config whose teacher and training settings every
cell shares (the CLI's default is Hinton et al.'s, from `kd_experiments.hinton2015`); the
teacher's logits are computed once and cached on disk (`teacher_logits.py`). MLP students on
cached logits train many runs as one stacked model (`stack_runs.run_stack`, up to
`stack_size`); the rest, jittered runs among them, train one by one (`runner.run`), or as Ray
Tune trials (`ray_sweep`). Every way writes the same records.

alpha = 1 trains on hard labels alone: (1 - alpha) * soft has zero gradient, so T cannot
change the run. Those runs are trained once per seed (at T = 1) and `sweep_table` shows them in
every T column, rather than repeating identical trainings.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import NullFormatter

from kd_utils import plots

from . import records, runner, stack_runs, stats
from .config import RunConfig, architecture_slug, check_seeds

VERDICT_COLOURS = {"better": "white", "worse": "red"}  # heatmap cell outlines

TEMPERATURES = (1.0, 2.0, 4.0, 8.0, 20.0)
ALPHAS = (0.0, 0.1, 0.5, 0.9, 1.0)  # weight of the HARD-label loss; 1 = no teacher signal
SEEDS = (0, 1, 2)
BACKENDS = ("local", "ray")


def sweep_configs(template: RunConfig, temperatures=TEMPERATURES, alphas=ALPHAS, seeds=SEEDS,
                  jitter_pixels: int = 0, fixed_teacher: bool = True,
                  scratch_baseline: bool = False) -> list[RunConfig]:
    """The distinct run configs of a grid, in the order they are trained.

    Args:
        template: a distilled run; each cell is it with its own T, alpha and seed.
        jitter_pixels: > 0 jitters the students' inputs too, so the teacher runs every batch.
        fixed_teacher: True: every seed distils the template's teacher (one fixed teacher);
            False: seed s distils the teacher of seed s, so the spreads hold the teachers'.
        scratch_baseline: the alpha = 1 cells are runs from scratch (role "scratch": the very
            runs a comparison's scratch row holds) rather than distilled runs at alpha = 1.
    """
    if template.role != "distilled":
        raise ValueError(f"template must be a distilled run config; got role={template.role!r}")
    if jitter_pixels:
        template = template.replace(jitter_pixels=jitter_pixels)
    configs = []
    for seed, alpha, temperature in itertools.product(seeds, alphas, temperatures):
        if alpha == 1.0:
            temperature = 1.0  # T plays no part: one run stands for the whole alpha = 1 column
        teacher = template.teacher if fixed_teacher else template.teacher.replace(seed=seed)
        config = template.replace(temperature=float(temperature), alpha=float(alpha), seed=seed,
                                  teacher=teacher)
        if alpha == 1.0 and scratch_baseline:
            config = config.replace(role="scratch", teacher=None, teacher_seeds=None)
        if config not in configs:
            configs.append(config)
    return configs


def sweep(template: RunConfig, students=None, temperatures=TEMPERATURES,
          alphas=ALPHAS, seeds=SEEDS, results_dir=records.RESULTS_DIR,
          data_dir=None, verbose=0, progress: bool = True, jitter_pixels: int = 0,
          stack_size: int | None = None, backend: str = "local", address: str | None = None,
          cpus_per_trial: float = 1, gpus_per_trial: float = 0,
          tensorboard_dir=None, fixed_teacher: bool = True,
          scratch_baseline: bool = False) -> pd.DataFrame:
    """Run (or read back) every cell of the grid; return the sweep's summary rows.

    Args:
        template: the distilled run every cell varies (teacher, dataset, profile, epochs...).
        students: architectures of the students ("mlp:800,800", "mlp:30,30", ...); None: the
            template's.
        temperatures, alphas, seeds: the grid. alpha weights the hard-label loss.
        verbose: Keras' progress per run (0 silent, 1 bar, 2 a line per epoch).
        progress: a progress bar over runs.
        jitter_pixels: jitter the students' inputs by up to this many pixels (the teacher then
            runs every batch instead of being read from the logits cache).
        stack_size: at most this many runs trained as one stacked model
            (`stack_runs.run_stack`: MLP students on cached logits, any seeds, T and alpha);
            None picks `stack_runs.STACK_SIZE`, 1 trains run by run. Lower it if memory is
            short. Records are the same either way (to float rounding). Jittered runs train
            one by one (the teacher must run every batch).
        backend: "local" (this process, the default) or "ray": each run a Ray Tune trial
            (`ray_sweep.run_configs`), on a local Ray or the cluster at `address`, with
            `cpus_per_trial` / `gpus_per_trial` each. The records are the same.
        tensorboard_dir: log each run (each stack) for TensorBoard there (local backend).
        fixed_teacher, scratch_baseline: as in `sweep_configs`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if backend != "ray" and address is not None:
        raise ValueError(f"address={address!r} names a Ray cluster: pass backend='ray' with it "
                         "(the local backend trains in this process)")
    seeds = check_seeds(seeds)
    if isinstance(students, str):
        raise ValueError(f"students must be a list of architectures, such as [{students!r}]")
    for name, values in (("temperatures", temperatures), ("alphas", alphas)):
        if len(list(values)) == 0:
            raise ValueError(f"{name} must hold at least one value; got {values!r}")
    students = students or [template.architecture]
    configs = [c for student in students
               for c in sweep_configs(template.replace(architecture=student), temperatures,
                                      alphas, seeds, jitter_pixels, fixed_teacher,
                                      scratch_baseline)]
    if backend == "ray":
        if stack_size not in (None, 1):
            raise ValueError("stack_size applies to the local backend: Ray runs one trial per "
                             "run")
        from . import ray_sweep

        return ray_sweep.run_configs(configs, results_dir, data_dir, address, cpus_per_trial,
                                     gpus_per_trial, verbose=1 if progress else 0)
    return run_configs(configs, results_dir, data_dir, verbose, progress, stack_size,
                       tensorboard_dir)


def grid_configs(template: RunConfig, axes: dict, seeds=SEEDS,
                 fixed_teacher: bool = True) -> list[RunConfig]:
    """A grid over any of the template's fields or its loss's parameters, per seed, with the
    scratch run of each seed as its baseline (last): what `grid_table` compares.

    `axes` maps each name to its values: a `RunConfig` field ("temperature", "alpha",
    "learning_rate", ...) or a parameter of the template's loss (`non_target_weight` of
    "decoupled", say): `{"temperature": [2, 4], "non_target_weight": [1, 8]}`.
    fixed_teacher: as in `sweep_configs`.
    """
    seeds = check_seeds(seeds)
    if template.role != "distilled":
        raise ValueError(f"template must be a distilled run config; got role={template.role!r}")
    if not isinstance(axes, dict) or not axes or any(
            isinstance(v, (str, bytes)) or not list(v) for v in axes.values()):
        raise ValueError(f"axes must map names to non-empty lists of values; got {axes!r}")
    fields = {f.name for f in dataclasses.fields(RunConfig)} - {"seed", "teacher",
                                                                 "loss_params", "role"}
    configs = []
    for seed in seeds:
        teacher = template.teacher if fixed_teacher else template.teacher.replace(seed=seed)
        for values in itertools.product(*axes.values()):
            cell = dict(zip(axes, values, strict=True))
            params = {**dict(template.loss_params),
                      **{k: v for k, v in cell.items() if k not in fields}}
            configs.append(template.replace(seed=seed, teacher=teacher, loss_params=params,
                                            **{k: v for k, v in cell.items() if k in fields}))
    configs += [template.replace(role="scratch", teacher=None, loss="hinton", loss_params=(),
                                 seed=seed) for seed in seeds]
    return list({c.run_id: c for c in configs}.values())


def grid_table(rows: pd.DataFrame, axes, metric: str = "test_errors") -> pd.DataFrame:
    """Per cell of a `grid_configs` grid: n, mean and 95% interval of `metric`, and the cell
    against the scratch runs paired by seed (each seed's runs share initial weights and batch
    order): the difference, its interval, the p-value, Holm's across the cells, the verdict."""
    rows = rows.copy()
    params = rows.get("loss_params", pd.Series([()] * len(rows), index=rows.index)).map(
        _as_params)
    for axis in axes:
        if axis not in rows.columns:
            rows[axis] = params.map(lambda p, axis=axis: p.get(axis))
    rows["cell"] = ["scratch" if role == "scratch" else
                    ", ".join(f"{a}={line[a]:g}" if isinstance(line[a], (int, float))
                              else f"{a}={line[a]}" for a in axes)
                    for role, (_, line) in zip(rows["role"], rows.iterrows(), strict=True)]
    summary = records.aggregate(rows, by=("cell",), metrics=(metric,))
    tests = stats.compare_within(rows.assign(grid="all"), "grid", "cell", "scratch", metric,
                                 pair_by="seed")
    return summary.merge(tests.drop(columns="grid"), on="cell", how="left").fillna(
        {"verdict": "baseline"})


def _as_params(value) -> dict:
    # A row's loss_params: pairs (a record), their JSON (summary.csv), or none (older rows).
    if isinstance(value, str):
        value = json.loads(value)
    return dict(map(tuple, value)) if isinstance(value, (list, tuple)) else {}


def run_configs(configs, results_dir=records.RESULTS_DIR, data_dir=None, verbose=0,
                progress: bool = True, stack_size: int | None = None,
                tensorboard_dir=None) -> pd.DataFrame:
    """Run (or read back) `configs` as a sweep runs its grid; return their summary rows.

    MLP students on cached logits train in stacks of at most `stack_size` (None:
    `stack_runs.STACK_SIZE`), the rest one by one; each writes its own record.
    """
    stack_size = stack_runs.STACK_SIZE if stack_size is None else stack_size
    # Checked before any training.
    batches = (stack_runs.training_stacks([c for c in configs if not c.jitter_pixels],
                                          stack_size)
               + [[c] for c in configs if c.jitter_pixels])
    todo = sum(not records.is_finished(c, results_dir) for c in configs)
    bar = _progress_bar(len(configs), len(configs) - todo, progress)
    rows = []
    for batch in batches:
        bar.set_postfix_str(batch[0].run_id[:48], refresh=False)
        if len(batch) == 1:
            done = [runner.run(batch[0], results_dir=results_dir, data_dir=data_dir,
                               verbose=verbose, tensorboard_dir=tensorboard_dir)]
        else:
            done = stack_runs.run_stack(batch, results_dir=results_dir, data_dir=data_dir,
                                        verbose=verbose, tensorboard_dir=tensorboard_dir)
        rows += [record.row for record in done]
        bar.update(sum(record.trained for record in done))
    bar.close()
    return pd.DataFrame(rows)


def _progress_bar(total: int, done: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc="sweep runs", unit="run", disable=not enabled)


def sweep_table(rows: pd.DataFrame, temperatures=TEMPERATURES,
                metric: str = "test_errors", cited: dict | None = None) -> pd.DataFrame:
    """Per (student, T, alpha): n, mean, std and 95% interval of test accuracy, errors and
    teacher agreement, from summary rows; and each distilled cell against its student's
    alpha = 1 cell (labels alone) on `metric`: the difference with its 95% interval, the
    p-value, Holm's across all the table's cells (every student's: one family), and the
    verdict (`stats.compare`, paired by seed: a seed's cells share the student's initial
    weights, batch order and teacher).

    The alpha = 1 runs (trained once, at T = 1) fill the alpha = 1 cell of every temperature.
    `cited`: {label: (distilled run ids, baseline run ids) pairs another table already tests}.
    A cell whose runs are among one such pair's (`lines_tested_elsewhere`) is that comparison,
    tested there on as many seeds or more: it is not tested again (one comparison, one Holm
    p-value), stays out of the family, and its verdict reads the label.
    """
    if len(rows) == 0 or "role" not in rows:
        raise ValueError("rows holds no runs: pass the summary rows `sweep` returned (or "
                         "records.read_summary's)")
    rows = rows[rows["role"].isin(("distilled", "scratch"))]  # scratch: the alpha = 1 cells
    label_only = rows[rows["alpha"] == 1.0]
    expanded = [rows[rows["alpha"] != 1.0]]
    expanded += [label_only.assign(temperature=float(t)) for t in temperatures]
    table = records.aggregate(pd.concat(expanded), by=("architecture", "temperature", "alpha"),
                              metrics=("test_accuracy", "test_errors", "test_teacher_agreement"))
    cited = lines_tested_elsewhere(rows, ("architecture", "temperature", "alpha"), cited)
    rows = rows[~rows.set_index(["architecture", "temperature", "alpha"]).index.isin(
        list(cited))]
    # no baseline to compare with, or nothing to compare with it: no tests for that student
    students = [(student, own) for student, own in rows.groupby("architecture")
                if (own["alpha"] == 1.0).any() and not (own["alpha"] == 1.0).all()]
    # One family: every distilled cell of the table, whichever student (the page's claims).
    family = sum(own[own["alpha"] != 1.0].groupby(["temperature", "alpha"]).ngroups
                 for _, own in students)
    tests = []
    for student, own in students:
        compared = stats.compare(own, ("temperature", "alpha"), metric,
                                 lambda line: line["alpha"] == 1.0, pair_by="seed",
                                 family=family)
        compared = compared[compared["alpha"] != 1.0].assign(architecture=student)
        tests.append(compared[["architecture", "temperature", "alpha", *stats.TEST_COLUMNS]])
    if tests:
        tests = stats.holm_together(pd.concat(tests), metric)
        table = table.merge(tests, on=["architecture", "temperature", "alpha"], how="left")
        table.loc[table["alpha"] == 1.0, "verdict"] = "baseline"
    for line, label in cited.items():
        table.loc[(table[["architecture", "temperature", "alpha"]] == line).all(axis=1),
                  "verdict"] = label
    return table.sort_values(["architecture", "alpha", "temperature"]).reset_index(drop=True)


def cell_comparisons(rows: pd.DataFrame | None) -> list[tuple[frozenset, frozenset]]:
    """(distilled run ids, alpha = 1 run ids) of every distilled cell of a grid's summary
    rows (None: no grid, no cells): the comparisons `sweep_table` tests, for another table to
    cite (`cited`)."""
    if rows is None:
        return []
    rows = rows[rows["role"].isin(("distilled", "scratch"))]
    return [(frozenset(cell["run_id"]), frozenset(rows.loc[
                (rows["architecture"] == student) & (rows["alpha"] == 1.0), "run_id"]))
            for (student, _, _), cell in rows[rows["alpha"] != 1.0].groupby(
                ["architecture", "temperature", "alpha"])]


def lines_tested_elsewhere(rows: pd.DataFrame, keys, cited: dict | None) -> dict:
    """{line (its values of `keys`): label} for the lines of `rows` whose distilled runs, and
    the same architecture's alpha = 1 runs, are among the runs of one of the (distilled,
    baseline) pairs `cited` lists under that label: the same comparison, tested there on these
    seeds or more. A line holding a run the pair lacks is another test."""
    found = {}
    if not any(cited.values() if cited else ()):
        return found
    for line, own in rows[rows["alpha"] != 1.0].groupby(list(keys)):
        student = own["architecture"].iloc[0]
        baseline = set(rows.loc[(rows["architecture"] == student) & (rows["alpha"] == 1.0),
                                "run_id"])
        for label, pairs in cited.items():
            if baseline and any(set(own["run_id"]) <= set(a) and baseline <= set(b)
                                for a, b in pairs):
                found.setdefault(line, label)
    return found


def write_outputs(table: pd.DataFrame, students, name: str, results_dir=records.RESULTS_DIR,
                  runs: pd.DataFrame | None = None, replace: bool | None = None):
    """Write the sweep table as CSV (with the ids of `runs`, the rows it was made from) and,
    per student, its heatmap and accuracy-vs-T figure."""
    from kd_utils import plots

    paths = [records.write_table(table, name, results_dir, runs=runs, replace=replace)]
    variant = records.variant_of(paths[0])  # where the table under `name` was kept
    figures_dir = Path(results_dir) / "figures"
    for student in students:
        slug = architecture_slug(student)
        for figure, plot in (("heatmap", plot_sweep_heatmap),
                             ("accuracy_vs_T", plot_metric_vs_temperature)):
            plot(table, student)
            plots.save_fig(f"{name}_{slug}_{figure}{variant}", figures_dir=figures_dir)
            paths.append(plots.figure_path(f"{name}_{slug}_{figure}{variant}", figures_dir))
        plots.plt.close("all")
    return paths


# -- Figures --------------------------------------------------------------------------------
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
        spread = std.values[i, j]  # NaN for one seed: the mean alone
        label = f"{mean.values[i, j]:.2f}" + ("" if pd.isna(spread) else f"\n± {spread:.2f}")
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
        cited = False
        for i, j in itertools.product(*map(range, verdicts.shape)):
            verdict, style = verdicts.values[i, j], dict(linewidth=2.5)
            if str(verdict).startswith("tested in"):  # another table's test (`cited`)
                cited, style = True, dict(linewidth=1.5, linestyle=":", edgecolor="grey")
            elif verdict in VERDICT_COLOURS:
                style["edgecolor"] = VERDICT_COLOURS[verdict]
            else:
                continue
            ax.add_patch(plt.Rectangle((j - 0.47, i - 0.47), 0.94, 0.94, fill=False, **style))
        title += ("\nframed: better (white) or worse (red) than alpha = 1 (labels alone),"
                  "\npaired by seed, Holm-corrected; unframed: no detectable difference"
                  + ("\ndotted: tested in another table (its verdict is there)" if cited else ""))
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
        if group[f"{metric}_mean"].isna().all():  # labels alone have no teacher to agree with
            continue
        ax.errorbar(group["temperature"], group[f"{metric}_mean"] * 100,
                    yerr=group[f"{metric}_std"].fillna(0) * 100, marker="o", capsize=3,
                    label=f"alpha = {alpha:g}" + (" (labels only)" if alpha == 1 else ""))
    temperature_axis(ax, cells["temperature"])
    ax.set_xlabel("temperature T")
    ax.set_ylabel(metric.replace("test_", "test ").replace("_", " ") + " %")
    ax.set_title(f"{architecture}; alpha weights the hard-label loss", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return ax


def plot_cell(rows: pd.DataFrame, table: pd.DataFrame, architecture: str, temperature: float,
              alpha: float, results_dir=records.RESULTS_DIR):
    """One grid cell beside alpha = 1 (labels alone): test errors seed by seed, both cells'
    learning curves, and the cell's verdict against alpha = 1 (as `sweep_table` has it) in
    the title. For a notebook's explorer of a committed sweep."""
    own = rows[rows["architecture"] == architecture]
    labels_only = own[own["alpha"] == 1.0]  # trained once, at T = 1: every T's alpha = 1 cell
    chosen = labels_only if alpha == 1.0 else own[(own["temperature"] == temperature)
                                                  & (own["alpha"] == alpha)]
    cells = table[table["architecture"] == architecture]
    line = cells[(cells["temperature"] == temperature) & (cells["alpha"] == alpha)].iloc[0]
    name = f"T = {temperature:g}, alpha = {alpha:g}"
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), width_ratios=[1, 2, 2])
    for x, group in enumerate((chosen, labels_only)):
        axes[0].plot([x] * len(group), group["test_errors"], "o", alpha=0.6)
    axes[0].set(xticks=[0, 1], xticklabels=[name.replace(", ", "\n"), "alpha = 1\n(labels only)"],
                xlim=(-0.5, 1.5), ylabel="test errors, a point per seed")
    plots.plot_learning_curves({name: records.load_histories(chosen, results_dir),
                                "alpha = 1": records.load_histories(labels_only, results_dir)},
                               metrics=("student_loss", "accuracy"), axes=axes[1:])
    test = "" if alpha == 1.0 else (
        f"; against alpha = 1: {line['difference']:+.1f} errors "
        f"[{line['diff_low']:.1f}, {line['diff_high']:.1f}], Holm p = {line['p_holm']:.2g}: "
        f"{line['verdict']}")
    fig.suptitle(f"{architecture}, {name}{test}", fontsize=10)
    return axes


def temperature_axis(ax, temperatures):
    """A log T axis labelled at the temperatures used, as plain numbers."""
    temperatures = sorted(pd.Series(temperatures).dropna().unique())
    ax.set_xscale("log")
    ax.set_xticks(temperatures, [f"{t:g}" for t in temperatures])
    ax.xaxis.set_minor_formatter(NullFormatter())
