"""`kd_lab.notebooks`: executing the notebooks, comparing their outputs, and the Colab cells
that follow the lab's one public address."""

import nbformat
import pytest
from helpers import REPO

from kd_lab import notebooks


def _notebook(*outputs, tags=()):
    cell = nbformat.v4.new_code_cell("print(1)", id="cell")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text) for text in outputs]
    cell.metadata["tags"] = list(tags)
    book = nbformat.v4.new_notebook()
    book.cells = [cell]
    return book


def test_outputs_are_compared_with_times_and_paths_normalised(tmp_path):
    one = notebooks.outputs_of(_notebook(f"wrote {tmp_path}/tables/x.csv in 3.2 s"), tmp_path)
    two = notebooks.outputs_of(_notebook("wrote results/tables/x.csv in 41 s"))
    assert one == two
    other = notebooks.outputs_of(_notebook("wrote results/tables/x.csv: 157 errors"))
    assert other != two  # a number that is not a time still counts


def test_live_cells_are_left_out_of_the_comparison():
    live = _notebook("test errors: 151", tags=[notebooks.LIVE_TAG])
    assert notebooks.outputs_of(live) == {}


def test_colab_cells_follow_the_one_public_address():
    import nbformat

    from kd_lab import notebooks

    path = REPO / "notebooks" / "16_workshop.ipynb"
    plain = notebooks.with_colab_cells(nbformat.read(path, as_version=4), path.stem, repo=None)
    assert not any("colab" in "".join(c.source).lower() and "google.colab" in "".join(c.source)
                   for c in plain.cells), "no install cell while the lab has no public address"
    public = notebooks.with_colab_cells(nbformat.read(path, as_version=4), path.stem,
                                        repo="someone/kd-lab")
    badge, install = public.cells[1:3]
    assert "github/someone/kd-lab/blob/main/notebooks/16_workshop.ipynb" in badge.source
    assert "requirements-colab.txt" in install.source and "--no-deps" in install.source
    again = notebooks.with_colab_cells(public, path.stem, repo="someone/kd-lab")
    assert len(again.cells) == len(public.cells), "executing twice adds no second badge"
    assert notebooks.PUBLIC_REPO is None or "/" in notebooks.PUBLIC_REPO


def test_printed_text_compares_alike_however_the_kernel_cut_it_into_streams():
    cut = _cell([_stream("three teachers\n"), _stream("the recipe\n"),
                 _stream("a warning\n", name="stderr")])
    whole = _cell([_stream("three teachers\nthe recipe\n"), _stream("a warning\n", name="stderr")])
    assert notebooks.outputs_of(cut) == notebooks.outputs_of(whole)
    other = _cell([_stream("three teachers\nthe recipe\na warning\n")])  # stderr is not stdout
    assert notebooks.outputs_of(cut) != notebooks.outputs_of(other)


def _stream(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def _cell(outputs):
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell("print()", id="cell-x"))
    notebook.cells[0].outputs = outputs
    return notebook


def test_a_cell_left_without_a_reply_runs_the_notebook_again_in_a_new_kernel(monkeypatch, capsys):
    from nbclient.exceptions import CellTimeoutError

    calls = []

    class Client:
        def __init__(self, notebook, **kwargs):
            self.notebook = notebook

        def execute(self):
            calls.append(1)
            if len(calls) == 1:
                raise CellTimeoutError("no reply")
            self.notebook.cells[-1].outputs = [nbformat.v4.new_output("stream", text="done")]

    monkeypatch.setattr(notebooks, "NotebookClient", Client)
    path = notebooks.numbered()[0]
    executed = notebooks.execute(path)
    assert len(calls) == 2 and "executing the notebook again" in capsys.readouterr().err
    assert executed.cells[-1].outputs[0].text == "done"
    calls.clear()
    monkeypatch.setattr(notebooks, "ATTEMPTS", 1)
    with pytest.raises(CellTimeoutError):
        notebooks.execute(path)
