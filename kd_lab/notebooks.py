"""Executing the numbered notebooks with their defaults, against the committed records, read-only.

The notebooks are committed executed, as handson-ml3 commits its own: their outputs (figures
embedded) are what a reader sees in GitHub, nbviewer, JupyterLab and Colab without a kernel.
`python -m kd_lab.notebooks [NAME ...]` (`make notebooks`) re-executes them top to bottom and
writes them back. Nothing trains (`KD_READ_ONLY=1`) except in the cells tagged `live`, which fit
a small model in the cell, announced, and whose outputs depend on the machine.

`PUBLIC_REPO` is the one place the lab's public address is written: the Colab badges and install
cells follow it.

`differences(path, results_dir)` is what the test runs: it executes a notebook against a copy
of `results/` and lists the cells whose outputs differ from the committed ones (live cells
aside, times normalised).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError

from .records import REPO_DIR

NOTEBOOKS_DIR = REPO_DIR / "notebooks"
# The lab's public GitHub repository ("owner/name"), once there is one. Until then no notebook
# shows a Colab badge or install cell (a badge to nowhere, or a clone that fails, helps nobody);
# set it and run `make notebooks`, and the notebooks below get both.
PUBLIC_REPO: str | None = None
COLAB_NOTEBOOKS = ("16_workshop", "17_bring_your_own")
COLAB_TAG = "colab"  # the cells `colab_cells` writes, replaced at each execution
LIVE_TAG = "live"  # a cell that trains in the notebook: its outputs are this machine's
TIMEOUT = 300  # seconds per cell; a notebook with its defaults takes about 2 minutes in all
ATTEMPTS = 2  # executions of a notebook whose kernel left a cell without a reply (see `execute`)
# "in 3.2 s", "12.5 s per epoch", "took 41 s": how long something took differs run to run
_DURATION = re.compile(r"\b\d+(\.\d+)?(?= ?(s|ms|seconds?|min|minutes?)\b)")


def numbered() -> list[Path]:
    """The notebooks `make notebooks` executes: 00_index to 17_bring_your_own."""
    return sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


@contextlib.contextmanager
def _environment(results_dir: Path | None):
    """The kernel's environment: read-only, tables regenerated in place from the records, this
    checkout first on the path, quiet TensorFlow."""
    saved = dict(os.environ)
    os.environ.update(KD_READ_ONLY="1", KD_REPLACE_TABLES="1", TF_CPP_MIN_LOG_LEVEL="2",
                      PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_DIR),
                                                               saved.get("PYTHONPATH")])))
    os.environ.pop("MPLBACKEND", None)  # the inline backend embeds the figures
    os.environ.pop("KD_FAST", None)
    if results_dir is not None:
        os.environ["KD_RESULTS_DIR"] = str(results_dir)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def colab_cells(name: str, repo: str) -> list:
    """The badge (Markdown) and the install cell of notebook `name`, for `repo` on GitHub.

    In Colab the cell clones the lab and installs only what Colab lacks
    (`requirements-colab.txt`, then the lab itself with `--no-deps`); elsewhere it does nothing.
    """
    url = f"https://colab.research.google.com/github/{repo}/blob/main/notebooks/{name}.ipynb"
    badge = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})")
    install = nbformat.v4.new_code_cell(
        "# In Colab only: install what Colab lacks (about a minute). Elsewhere this does nothing.\n"
        "import sys\n\n"
        'if "google.colab" in sys.modules:\n'
        f"    !git clone -q --depth 1 https://github.com/{repo} /content/kd-lab\n"
        "    %pip install -q -r /content/kd-lab/requirements-colab.txt\n"
        "    %pip install -q --no-deps -e /content/kd-lab\n"
        "    %cd /content/kd-lab/notebooks")
    for cell in (badge, install):
        cell.metadata["tags"] = [COLAB_TAG]
    return [badge, install]


def with_colab_cells(notebook, name: str, repo: str | None = PUBLIC_REPO):
    """`notebook` with its Colab cells as `repo` says: none while it is None; otherwise, in the
    notebooks of `COLAB_NOTEBOOKS`, the badge under the title and the install cell after it."""
    notebook.cells = [c for c in notebook.cells if COLAB_TAG not in c.metadata.get("tags", [])]
    if repo is not None and name in COLAB_NOTEBOOKS:
        notebook.cells[1:1] = colab_cells(name, repo)
    return notebook


def execute(path: Path, results_dir: Path | None = None) -> nbformat.NotebookNode:
    """Run `path` top to bottom with its defaults and return it with its outputs.

    Raises `nbclient.exceptions.CellExecutionError` (naming the cell) when a cell fails, for
    example when a default would train outside a `live` cell.
    """
    for attempt in range(1, ATTEMPTS + 1):
        notebook = with_colab_cells(nbformat.read(path, as_version=4), path.stem)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
        try:
            with _environment(results_dir):
                NotebookClient(notebook, timeout=TIMEOUT, kernel_name="python3",
                               record_timing=False,
                               resources={"metadata": {"path": str(path.parent)}}).execute()
            return notebook
        except CellTimeoutError as error:
            # Seen on a loaded machine: the kernel finished a cell (idle, its output sent) but
            # its reply never reached the client, which then waits out the timeout
            # (jupyter/nbclient#312). A fresh kernel runs the notebook again.
            if attempt == ATTEMPTS:
                raise
            cell = " ".join(str(error).split("preview of the cell contents:")[-1].split())
            print(f"{path.name}: a cell got no reply from the kernel within {TIMEOUT} s "
                  f"({cell[:120]}); executing the notebook again in a new kernel",
                  file=sys.stderr, flush=True)
    raise AssertionError("unreachable")


def _normalised(output: dict, results_dir: Path | None) -> dict:
    def text(value):
        value = "".join(value) if isinstance(value, list) else value
        if results_dir is not None:
            value = value.replace(str(results_dir), "results")
        return _DURATION.sub("N", value.replace(str(REPO_DIR) + os.sep, ""))

    out = {"output_type": output["output_type"]}
    if "name" in output:  # stdout or stderr
        out["name"] = output["name"]
    if "text" in output:
        out["text"] = text(output["text"])
    for kind, value in output.get("data", {}).items():
        if kind == "application/vnd.jupyter.widget-view+json":  # a new model_id each execution
            value = {k: v for k, v in value.items() if k != "model_id"}
        out[kind] = text(value) if kind.startswith("text/") else value
    return out


def outputs_of(notebook, results_dir: Path | None = None) -> dict[str, list[dict]]:
    """Each code cell's outputs (by cell id), normalised; cells tagged `live` are left out."""
    return {cell.id: _joined_streams([_normalised(o, results_dir) for o in cell.outputs])
            for cell in notebook.cells
            if cell.cell_type == "code" and LIVE_TAG not in cell.metadata.get("tags", [])}


def _joined_streams(outputs: list[dict]) -> list[dict]:
    # Where a kernel cuts printed text into stream outputs depends on timing (a flush between
    # two prints, or not): one cell's text is the same whatever the cuts.
    joined = []
    for output in outputs:
        if (joined and output["output_type"] == "stream"
                and joined[-1]["output_type"] == "stream"
                and joined[-1].get("name") == output.get("name")):
            joined[-1] = {**joined[-1], "text": joined[-1]["text"] + output["text"]}
        else:
            joined.append(output)
    return joined


def differences(path: Path, results_dir: Path) -> list[str]:
    """The ids of the cells whose outputs differ from the committed ones when `path` is executed
    again against `results_dir` (a copy of `results/`, so that nothing committed is touched)."""
    fresh = outputs_of(execute(path, results_dir), results_dir)
    committed = outputs_of(nbformat.read(path, as_version=4))
    return [cell for cell in committed if committed[cell] != fresh.get(cell)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kd_lab.notebooks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="notebook names or prefixes (default: all)")
    parser.add_argument("--check", type=Path, metavar="RESULTS_DIR", default=None,
                        help="execute against RESULTS_DIR (a copy of results/), write nothing "
                        "back, print the cells whose outputs differ and exit 1 if any")
    args = parser.parse_args(argv)
    paths = [p for p in numbered()
             if not args.names or any(p.stem.startswith(n) or p.name == n for n in args.names)]
    if not paths:
        parser.error(f"no notebook matches {args.names}")
    if args.check is not None:
        differing = {path.name: differences(path, args.check) for path in paths}
        for name, cells in differing.items():
            if cells:
                print(f"{name}: cells {', '.join(cells)} differ from a fresh execution")
        return 1 if any(differing.values()) else 0
    for path in paths:
        print(f"executing {path.name} ...", flush=True)
        notebook = execute(path)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".ipynb",
                                         delete=False) as tmp:
            nbformat.write(notebook, tmp)
        os.chmod(tmp.name, 0o644)  # a temporary file is the owner's alone
        os.replace(tmp.name, path)  # whole or not at all
    return 0


if __name__ == "__main__":
    sys.exit(main())
