"""How long each notebook takes on this machine, FAST and with its defaults (the index's table).

Each notebook runs headless (papermill) in a fresh copy of the committed `results/`, as on a
fresh clone, once with `FAST = True` and once with its default parameters; the seconds include
starting the kernel and importing TensorFlow. "trains by default" is read from the notebook's
own announcements (every training path of the lab prints a line starting with "training" before
it starts) and from its cells tagged `live` (a section that fits models in the notebook, each
announced by its own cell). Writes `results/notebook_times.csv`; `make readings` puts it into
`00_index`.

    python benchmarks/notebook_times.py [--notebooks 03_distillation 16_workshop]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from kd_lab.notebooks import LIVE_TAG

REPO = Path(__file__).resolve().parents[1]
ANNOUNCEMENT = re.compile(r"^(re)?training\b", re.M)


def time_notebook(notebook: Path, fast: bool, scratch: Path) -> tuple[float, bool]:
    """(seconds, whether it announced training) of one headless run in a copy of results/."""
    results = scratch / "results"
    shutil.rmtree(results, ignore_errors=True)
    shutil.copytree(REPO / "results", results,
                    ignore=shutil.ignore_patterns("cache", "tensorboard"))
    command = [sys.executable, "-m", "papermill", str(notebook), str(scratch / "out.ipynb"),
               "--cwd", str(REPO / "notebooks"), "--log-output"]
    # The lab reads and writes $KD_RESULTS_DIR (`records.RESULTS_DIR`): the copy, never results/.
    environment = {**os.environ, "KD_RESULTS_DIR": str(results)}
    if fast:
        command += ["-p", "FAST", "True"]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{notebook.name} (FAST={fast}) failed:\n{done.stderr[-3000:]}")
    return seconds, bool(ANNOUNCEMENT.search(done.stderr + done.stdout))


def has_live_cells(notebook: Path) -> bool:
    """Whether a code cell of `notebook` is tagged `live` (it fits a model in the notebook)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return any(LIVE_TAG in cell.get("metadata", {}).get("tags", []) for cell in cells
               if cell["cell_type"] == "code")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", nargs="*", help="stems of the notebooks to time (all)")
    args = parser.parse_args(argv)
    notebooks = sorted((REPO / "notebooks").glob("*.ipynb"))
    if args.notebooks:
        notebooks = [n for n in notebooks if n.stem in args.notebooks]
    path = REPO / "results" / "notebook_times.csv"
    table = pd.read_csv(path) if path.exists() else pd.DataFrame(
        columns=["notebook", "fast_seconds", "default_seconds", "trains_by_default"])
    for notebook in notebooks:
        with tempfile.TemporaryDirectory() as scratch:
            fast, _ = time_notebook(notebook, True, Path(scratch))
            default, trained = time_notebook(notebook, False, Path(scratch))
        row = {"notebook": notebook.stem, "fast_seconds": round(fast),
               "default_seconds": round(default),
               "trains_by_default": "live, announced" if trained or has_live_cells(notebook)
               else "no"}
        print(row, flush=True)
        table = pd.concat([table[table.notebook != notebook.stem], pd.DataFrame([row])])
        table.sort_values("notebook").to_csv(path, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
