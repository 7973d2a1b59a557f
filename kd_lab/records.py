"""Run records: one self-describing folder per finished run, and the tables derived from them.

    results/runs/<run_id>/config.json   the config (and how it was executed)
    results/runs/<run_id>/history.csv   one row per epoch, every loss and metric
    results/runs/<run_id>/row.json      the summary row; written last, so it marks completion
    results/runs/<run_id>/model.keras   the trained model (not committed: regenerable)
    results/summary.csv                 one tidy row per finished run, rebuilt from row.json
    results/tables/<name>.csv           tables derived from the rows by code, never typed

Files are replaced atomically: a killed run leaves no half-written record. The layout follows
the one-row-per-run records of RepDistiller and torchdistill.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import stats
from .config import RunConfig
from .registry import check_name

REPO_DIR = Path(__file__).resolve().parent.parent
# `KD_RESULTS_DIR` points the lab at another folder (a copy the notebook tests execute against)
RESULTS_DIR = Path(os.environ.get("KD_RESULTS_DIR") or REPO_DIR / "results")
# What the repository ships, whatever `KD_RESULTS_DIR` says: notebooks read committed tables here.
COMMITTED_DIR = REPO_DIR / "results"


@dataclass
class RunRecord:
    """What a finished run left behind. `trained` is False when it was read back from disk."""

    config: RunConfig
    run_dir: Path
    row: dict
    history: pd.DataFrame
    trained: bool
    model: object = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return self.config.run_id

    def load_model(self):
        """The trained model (a keras.Model), loaded from `model.keras` when not in memory."""
        import keras

        if self.model is None:
            path = self.run_dir / "model.keras"
            if not path.exists():
                raise FileNotFoundError(f"{path}: the record has no model (models are not "
                                        "committed); retrain the run with force=True")
            try:
                self.model = keras.models.load_model(path)
            except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
                raise damaged(path, f"unreadable model ({type(error).__name__}: "
                              f"{str(error)[:200]})") from None
        return self.model


def atomic_write(path: Path, write, binary: bool = False) -> None:
    """Call `write(file)` on a temporary file, then move it to `path`: readers see the old
    file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
        # mkstemp makes owner-only files; give the file the permissions a plain open() would
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (see `atomic_write`)."""
    atomic_write(path, lambda f: f.write(text))


# A teacher's logits, kept (and committed) beside its record once a student has used them, one
# file per set of inputs (`logits-<hash of the inputs>.npz`):
# students read them instead of the model, which cannot be retrained bit for bit on another
# machine (`teacher_logits`).
LOGITS_FILES = "logits-*.npz"


def inside(folder, *parts: str) -> Path:
    """`folder/parts...`, refused unless it lies inside `folder`: the lab writes nowhere else.
    Checked on the names (`..`, separators, absolute paths), not through symlinks: a run folder
    may link to a record kept elsewhere."""
    folder = Path(os.path.abspath(folder))
    path = Path(os.path.normpath(folder.joinpath(*parts)))
    if folder not in path.parents:
        raise ValueError(f"{'/'.join(parts)!r} would be written outside {folder}: names of "
                         "runs and tables may hold no path separator")
    return path


def check_results_dir(results_dir, argument: str = "results_dir") -> Path:
    """`results_dir` as a Path, checked before anything trains: the nearest existing part of it
    is a folder this process may write in (the rest is created when a run is recorded)."""
    results_dir = Path(results_dir)
    existing = next((p for p in (results_dir, *results_dir.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(f"{argument}: {str(existing)!r} is a file, not a folder")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{argument}: {str(existing)!r} is not writable")
    return results_dir


def run_dir(config: RunConfig, results_dir=RESULTS_DIR) -> Path:
    return inside(Path(results_dir) / "runs", config.run_id)


def is_finished(config: RunConfig, results_dir=RESULTS_DIR) -> bool:
    folder = run_dir(config, results_dir)
    if not (folder / "row.json").exists():
        recover(folder)
    return (folder / "row.json").exists()


# A record is written whole into `results/.incoming/<run id>/`, then swapped in for the old
# folder (moved to `results/.replaced/<run id>/` and deleted once the new one is in place):
# a kill at any moment leaves the old record or the new one, never neither. Outside `runs/`, so
# `summary.csv` never sees a half-swapped record.
INCOMING, REPLACED = ".incoming", ".replaced"


def _aside(folder: Path, where: str) -> Path:
    return folder.parent.parent / where / folder.name


def recover(folder: Path) -> None:
    """Finish the swap of a record that a kill interrupted between its two moves (see
    `write_record`): the new record, complete, goes in place and the old one away."""
    incoming = _aside(folder, INCOMING)
    if not folder.exists() and (incoming / "row.json").exists():
        os.replace(incoming, folder)
        shutil.rmtree(_aside(folder, REPLACED), ignore_errors=True)


class DamagedRecord(ValueError):
    """A file of a record that does not parse, or that disagrees with the rest of it."""


def damaged(path: Path, problem: str) -> DamagedRecord:
    return DamagedRecord(f"{path}: {problem}. Delete its run folder to retrain the run, or "
                         "restore the file (git checkout, for a committed record)")


MEASURED_FIELDS = ("test_errors", "test_accuracy", "val_accuracy", "train_accuracy",
                   "best_epoch", "epochs_trained", "wall_seconds")


def read_row(path: Path) -> dict:
    """A record's `row.json`, or `DamagedRecord` naming it."""
    try:
        row = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise damaged(path, f"not valid JSON ({error})") from None
    if not isinstance(row, dict) or "run_id" not in row:
        raise damaged(path, "not a run's row (no run_id)")
    for name in MEASURED_FIELDS:  # the numbers every table reads
        value = row.get(name)
        if name in row and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise damaged(path, f"its {name} is {value!r}, not a number")
    errors, accuracy, count = (row.get(k) for k in ("test_errors", "test_accuracy",
                                                    "test_count"))
    if None not in (errors, accuracy, count) and round((1 - accuracy) * count) != errors:
        raise damaged(path, f"its test_errors {errors} disagree with its test_accuracy "
                      f"{accuracy} of {count} test examples (edited?)")
    return row


def load_row(config: RunConfig, results_dir=RESULTS_DIR) -> dict:
    """The finished run's `row.json` (its measurements), checked to be this run's."""
    path = run_dir(config, results_dir) / "row.json"
    row = read_row(path)
    if row["run_id"] != config.run_id:
        raise damaged(path, f"the row of run {row['run_id']!r}, not of this run")
    return row


def load_record(config: RunConfig, results_dir=RESULTS_DIR) -> RunRecord:
    folder = run_dir(config, results_dir)
    row = load_row(config, results_dir)
    history = read_history(folder)
    if "epochs_trained" in row and len(history) != row["epochs_trained"]:
        raise damaged(folder / "history.csv", f"{len(history)} epochs where row.json says "
                      f"{row['epochs_trained']} (cut short?)")
    return RunRecord(config, folder, row, history, trained=False)


def save_model(model, path: Path) -> None:
    """`model.save(path)` to a temporary name in the same folder, then renamed: a kill during
    the save leaves the old file or the new one, never a truncated one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_record(config: RunConfig, row: dict, history: pd.DataFrame, model,
                 results_dir=RESULTS_DIR) -> RunRecord:
    """Write a finished run's record whole, then swap it in for the folder it replaces (a
    retrained run's old record, or a training's checkpoint): a kill at any moment leaves the
    old record or the new one, never a mix of two trainings and never neither (`recover`)."""
    row = json.loads(json.dumps(row))  # the same values in memory as read back from row.json
    folder = run_dir(config, results_dir)
    recover(folder)
    incoming, replaced = _aside(folder, INCOMING), _aside(folder, REPLACED)
    for leftover in (incoming, replaced):  # a write or a swap killed before it began
        shutil.rmtree(leftover, ignore_errors=True)
    incoming.mkdir(parents=True)
    for parent in (replaced.parent, folder.parent):
        parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(incoming / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
    atomic_write_text(incoming / "history.csv", history.to_csv(index=False))
    save_model(model, incoming / "model.keras")
    atomic_write_text(incoming / "row.json", json.dumps(row, indent=2) + "\n")
    if folder.exists():  # the old record (and the run's checkpoint) go aside, then away
        os.replace(folder, replaced)
    os.replace(incoming, folder)
    shutil.rmtree(replaced, ignore_errors=True)
    write_summary(results_dir)
    return RunRecord(config, folder, row, history, trained=True, model=model)


def summary_of_records(results_dir=RESULTS_DIR) -> pd.DataFrame:
    """One row per finished run, from its `row.json` (a damaged one is left out, with a
    warning naming it), in the order `summary.csv` keeps."""
    rows = []
    for path in sorted(Path(results_dir).glob("runs/*/row.json")):
        try:
            rows.append(read_row(path))
        except DamagedRecord as error:  # one damaged record blocks no other
            warnings.warn(f"left out of summary.csv: {error}", stacklevel=3)
    summary = pd.DataFrame(rows)
    return summary.sort_values(["finished_at", "run_id"], kind="stable") if rows else summary


def write_summary(results_dir=RESULTS_DIR) -> pd.DataFrame:
    """Rebuild `summary.csv` from every finished run's `row.json` (one row each, no duplicates)."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    # One rebuild at a time: without the lock, two processes sharing a results folder (a sweep
    # and a notebook, say) could each write a summary that misses the other's newest row.
    with open(results_dir / ".summary.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        summary = summary_of_records(results_dir)
        atomic_write_text(results_dir / "summary.csv", summary.to_csv(index=False))
    return summary


def read_summary(results_dir=RESULTS_DIR) -> pd.DataFrame:
    """`summary.csv`, checked against the records it is made from: when it says anything else
    than their `row.json` files (cut short, edited by hand, duplicated rows, or written by a
    process killed before its rebuild), it is rebuilt from them first. The records are the
    measurements; the summary is only their index."""
    path = Path(results_dir) / "summary.csv"
    key, signature = str(Path(results_dir).resolve()), files_signature(results_dir)
    if key in _CHECKED and _CHECKED[key][0] == signature:
        return _CHECKED[key][1].copy()
    summary = _read_summary_checked(path, results_dir)
    if files_signature(results_dir) == signature:  # it agreed: nothing was rebuilt
        _CHECKED[key] = (signature, summary.copy())
    return summary


# The summary last found to agree with its records, by results folder, with the size, time and
# inode of its summary.csv and of every row.json then: any write to one of them (the lab's,
# another process's, an edit by hand) changes them, and the summary is checked again. The
# tables of one page read it many times while nothing is written.
_CHECKED: dict[str, tuple[tuple, pd.DataFrame]] = {}


def files_signature(results_dir) -> tuple:
    """The size, time and inode of `summary.csv` and of every `row.json`: it changes with any
    write to a record."""
    paths = [Path(results_dir) / "summary.csv", *Path(results_dir).glob("runs/*/row.json")]
    return tuple(sorted((str(p), s.st_size, s.st_mtime_ns, s.st_ino)
                        for p in paths if (s := _stat(p)) is not None))


def _stat(path: Path):
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _read_summary_checked(path: Path, results_dir) -> pd.DataFrame:
    expected = summary_of_records(results_dir)
    # Undecodable bytes (a summary overwritten with binary data) disagree like any other edit.
    text = path.read_text(errors="replace") if path.exists() else None
    if text is None and expected.empty:
        return expected
    if text != expected.to_csv(index=False):
        if text is not None and len(expected):
            warnings.warn(f"{path} disagreed with the run records; rebuilt from them",
                          stacklevel=3)
        write_summary(results_dir)  # then read back as every other reader reads it (a list
    return pd.read_csv(path) if len(expected) else expected  # field is its text, as in the CSV)


# A written table is not replaced by a different one unless asked: a notebook run with other
# parameters than the committed table's leaves that table (and the README that quotes it) as it
# is. `make notebooks` sets this to regenerate tables from new records.
REPLACE_TABLES_ENV = "KD_REPLACE_TABLES"
VARIANT = ".variant-"  # in the name of a table written beside another (`write_table`)


def write_table(table: pd.DataFrame, name: str, results_dir=RESULTS_DIR,
                runs: pd.DataFrame | None = None, replace: bool | None = None) -> Path:
    """Write a derived table as `results/tables/<name>.csv` (atomically); return its path.

    `runs`: the summary rows the table was derived from; their run ids go to
    `tables/<name>.runs.csv`, so a test can check that a table's runs of one architecture
    were executed alike (`execution_mix`), and a table can say which were stacked
    (`trained_as_mix`).

    Where `<name>.csv` already holds a different table (made with other parameters, or from
    other records) it is kept, and this one is written beside it as a variant,
    `<name>.variant-<digest>.csv`, with a warning naming both (figures drawn from it carry the
    same `variant_of` suffix); `replace=True` (default: `$KD_REPLACE_TABLES` is 1) replaces it.
    The same table written again is written under its name.
    """
    path = inside(Path(results_dir) / "tables", f"{check_name(name, 'table name')}.csv")
    text = table.to_csv(index=False)
    listing = None if runs is None else runs[["run_id"]].drop_duplicates().to_csv(index=False)
    path = kept_or_beside(path, text, listing, replace)
    atomic_write_text(path, text)
    listed = path.with_suffix(".runs.csv")
    if listing is not None:
        atomic_write_text(listed, listing)
    else:  # a run list left from an earlier version of the table would now be wrong
        listed.unlink(missing_ok=True)
    return path


def kept_or_beside(path: Path, text: str, listing: str | None = None,
                   replace: bool | None = None) -> Path:
    """Where to write `text` (a table's CSV; `listing`, its run list): `path` itself, unless
    `path` holds another table and `replace` is off (default: `$KD_REPLACE_TABLES` is not 1);
    then `<stem>.variant-<digest>.csv` beside it, with a warning naming both, so that a table
    made with other parameters never overwrites the committed one."""
    if replace is None:
        replace = os.environ.get(REPLACE_TABLES_ENV) == "1"
    if replace or not path.exists() or (path.read_text(), _listing(path)) == (text, listing):
        return path
    digest = hashlib.sha256(f"{text}{listing}".encode()).hexdigest()[:8]
    beside = path.with_name(f"{path.stem}{VARIANT}{digest}.csv")
    warnings.warn(f"{path.parent.name}/{path.name} holds another table (the committed one, or "
                  f"one of other parameters or records) and is kept: this one is written as "
                  f"{path.parent.name}/{beside.name}. To replace it, delete it first, or set "
                  f"{REPLACE_TABLES_ENV}=1", stacklevel=_outside_the_lab())
    return beside


def _outside_the_lab() -> int:
    """The stacklevel of the first caller outside the lab's and experiments' packages, so that
    a warning points at the notebook cell or script line that wrote the table."""
    packages = tuple(str(REPO_DIR / name) for name in ("kd_lab", "kd_experiments"))
    frame, level = inspect.currentframe().f_back, 1  # write_table's frame
    while frame.f_back is not None and frame.f_code.co_filename.startswith(packages):
        frame, level = frame.f_back, level + 1
    return level


def variant_of(table_path: Path) -> str:
    """`.variant-<digest>` for a table `write_table` wrote beside the one it would have
    replaced, else "": name a figure drawn from the table `f"{figure}{variant_of(path)}"`."""
    stem = Path(table_path).name.removesuffix(".csv")
    return stem[stem.index(VARIANT):] if VARIANT in stem else ""


def is_variant(table_name: str) -> bool:
    """Whether a table (or figure) name is a variant written beside a table (`write_table`):
    the lab's readings and checks read the tables themselves, never their variants."""
    return VARIANT in table_name


def _listing(table_path: Path) -> str | None:
    listed = table_path.with_suffix(".runs.csv")
    return listed.read_text() if listed.exists() else None


# What must be equal across the runs of one architecture in one table: how they were executed
# (the run id leaves it out).
EXECUTION_COLUMNS = ("jit_compile", "steps_per_execution", "trained_as", "tf_version",
                     "keras_version")


def execution_mix(rows: pd.DataFrame) -> list[str]:
    """How the runs in `rows` (summary rows of one table) differ in execution, per
    architecture: one line per column that takes several values (empty: executed alike)."""
    problems = []
    for architecture, runs in rows.groupby("architecture"):
        for column in EXECUTION_COLUMNS:
            values = (runs[column].astype("string").fillna("missing") if column in runs
                      else pd.Series(["missing"]))
            if values.nunique() > 1:
                counts = ", ".join(f"{v}: {n}" for v, n in values.value_counts().items())
                problems.append(f"{architecture} runs differ in {column} ({counts})")
    return problems


# How `trained_as` reads in a sentence; records older than the field hold none.
TRAINED_AS_WORDS = {"stack": "stacked", "alone": "alone"}
NOT_RECORDED = "not recorded"


def trained_as_mix(rows: pd.DataFrame) -> list[str]:
    """Which runs in `rows` (summary rows of one table) were trained in a stack and which alone,
    one line per way ("stacked: mlp:30,30 (10 runs)"), naming the architectures and counting
    their runs; empty when every run was trained the same way. `execution_mix` requires one
    way per architecture, so a table that mixes them holds, say, small students trained in a
    stack beside large ones trained alone: a table's statement of how it was executed must
    say so."""
    ways = (rows["trained_as"].astype("string").fillna(NOT_RECORDED) if "trained_as" in rows
            else pd.Series(NOT_RECORDED, index=rows.index, dtype="string"))
    if ways.nunique() < 2:
        return []
    order = [*TRAINED_AS_WORDS, *sorted(set(ways) - set(TRAINED_AS_WORDS))]
    lines = []
    for way in [w for w in order if w in set(ways)]:
        counts = rows.loc[ways == way, "architecture"].value_counts().sort_index()
        lines.append(f"{TRAINED_AS_WORDS.get(way, way)}: " + ", ".join(
            f"{architecture} ({n} run{'s' if n != 1 else ''})"
            for architecture, n in counts.items()))
    return lines


def best_in_last_tenth(rows: pd.DataFrame) -> pd.Series:
    """Whether each run's best validation epoch fell in the last tenth of its epoch budget:
    a run that was still improving there may have been stopped by the budget, not by
    convergence (budgets should leave this at most 10% of a table's runs)."""
    return rows["best_epoch"] > 0.9 * rows["epochs"]


def table_runs(name: str, results_dir=RESULTS_DIR) -> pd.DataFrame | None:
    """The summary rows of the runs behind table `name` (None when it lists no runs)."""
    listed = Path(results_dir) / "tables" / f"{name}.runs.csv"
    if not listed.exists():
        return None
    ids = pd.read_csv(listed)["run_id"]
    summary = read_summary(results_dir)
    missing = sorted(set(ids) - set(summary.get("run_id", ())))
    if missing:
        raise FileNotFoundError(f"table {name} lists runs without records: {missing[:3]}")
    return summary[summary["run_id"].isin(ids)].reset_index(drop=True)


def read_history(folder: Path) -> pd.DataFrame:
    """A run folder's `history.csv`, or `DamagedRecord` naming it when it is unreadable or a
    column holds anything but numbers."""
    try:
        history = pd.read_csv(folder / "history.csv")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, FileNotFoundError) as error:
        raise damaged(folder / "history.csv", f"unreadable ({error})") from None
    text = [c for c in history.columns if not pd.api.types.is_numeric_dtype(history[c])]
    if text:
        raise damaged(folder / "history.csv", f"column {text[0]!r} holds values that are not "
                      "numbers")
    return history


def load_histories(rows: pd.DataFrame, results_dir=RESULTS_DIR) -> list[pd.DataFrame]:
    """The `history.csv` of each run in `rows` (summary rows), in the same order."""
    return [read_history(Path(results_dir) / "runs" / run_id) for run_id in rows["run_id"]]


def provenance() -> dict:
    """What every record says of how it was made: library versions, machine, commit, time."""
    import platform
    from datetime import UTC, datetime

    import keras
    import tensorflow as tf

    return {"tf_version": tf.__version__, "keras_version": keras.__version__,
            "machine": f"{platform.machine()} {os.cpu_count()} cpus",
            "cpu": cpu_model(), "git_commit": git_commit(),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds")}


def cpu_model(info: str | None = None) -> str:
    """The CPU's model name and the vector extensions oneDNN picks its kernels by (from `info`,
    else /proc/cpuinfo): a run retrained on another of these may not give the same numbers."""
    try:
        info = Path("/proc/cpuinfo").read_text() if info is None else info
    except OSError:
        return "unknown"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.startswith("model name")), "unknown")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines()
                      if line.startswith("flags")), []))
    return " ".join([name, *sorted(flags & {"avx2", "avx512f", "avx512_bf16", "amx_tile"})])


def write_derived_record(folder: Path, config: dict, row: dict,
                         history: pd.DataFrame | None = None) -> dict:
    """A record of a result that `runner.run` does not train (a published loop with its bugs,
    an ensemble's averaged logits): `config.json`, `history.csv` (when given) and `row.json`
    last, with `provenance()`, in `folder` (outside `runs/`, so no summary table mixes it
    with the lab's runs). Returns the row as written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    row = json.loads(json.dumps({**row, **provenance()}))
    atomic_write_text(folder / "config.json", json.dumps(config, indent=2) + "\n")
    if history is not None:
        atomic_write_text(folder / "history.csv", history.to_csv(index=False))
    atomic_write_text(folder / "row.json", json.dumps(row, indent=2) + "\n")
    return row


def read_derived_row(folder: Path) -> dict | None:
    """The row of a derived record in `folder`, or None if it is not finished."""
    path = Path(folder) / "row.json"
    return json.loads(path.read_text()) if path.exists() else None


def git_commit() -> str:
    """The commit this process's code came from, with '-dirty' when tracked files differed
    from it. Read when this module is imported (at start-up, with the rest of the code), so
    edits made while a long job runs neither mark its records dirty nor pass edited code off
    as a clean commit."""
    return _COMMIT_AT_START


def _read_git_commit() -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_DIR,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO_DIR, capture_output=True, text=True).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


_COMMIT_AT_START = _read_git_commit()


def estimated_minutes(config: RunConfig, train_examples: int,
                      results_dir=RESULTS_DIR) -> tuple[float, int] | None:
    """(minutes, runs): how long `config` should take, scaled from the committed runs of its
    architecture and dataset (median wall seconds per epoch and training example, times its
    epochs and examples), and how many runs that median is over; None without such runs."""
    rows = read_summary(results_dir)
    if rows.empty:
        return None
    alike = rows[(rows["architecture"] == config.architecture)
                 & (rows["dataset"] == config.dataset) & (rows["epochs_trained"] > 0)]
    if alike.empty:
        return None
    minutes = seconds_per_example_epoch(alike) * train_examples * config.epochs / 60
    return minutes, len(alike)


def seconds_per_example_epoch(rows: pd.DataFrame) -> float:
    """The median recorded wall seconds per training example and epoch of finished runs."""
    return float((rows["wall_seconds"] / rows["epochs_trained"] / rows["train_examples"]).median())


def aggregate(summary: pd.DataFrame, by=("dataset", "role", "architecture", "temperature", "alpha"),
              metrics=("test_accuracy", "test_errors", "test_teacher_agreement")) -> pd.DataFrame:
    """For each group of runs and metric: mean, standard deviation (ddof=1), count over seeds
    and the 95% confidence interval of the mean (`_ci_low`, `_ci_high`; `stats.describe`)."""
    return stats.summarise(summary, by, metrics)
