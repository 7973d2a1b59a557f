"""Text for people: the one `mean ± spread` formatter, Markdown tables, and generated blocks.

Every number the README or a notebook quotes is rendered from a table, never typed: a
generated block sits between `<!-- results:NAME -->` and `<!-- /results:NAME -->` markers (in
the README, or in a notebook's Markdown cell), `replace_block` / `replace_notebook_blocks`
rewrite it, and a test compares each block with what the tables give.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd


def mean_spread(mean, spread=None, digits: int = 1, scale: float = 1.0, suffix: str = "",
                widths: tuple[int, int] = (0, 0)) -> str:
    """`mean ± spread` (each times `scale`, `digits` decimals), or the mean alone when there is
    no spread (None or NaN: one seed). `suffix` ends the text ("%"); `widths` pads the mean to
    the right and the spread to the left, for aligned text tables."""
    text = f"{scale * mean:>{widths[0]}.{digits}f}"
    if spread is None or pd.isna(spread):
        return text + suffix
    return f"{text} ± {scale * spread:<{widths[1]}.{digits}f}{suffix}"


def percent(mean, spread=None, digits: int = 1) -> str:
    """A fraction in percent: `percent(0.9812, 0.0004, 2)` gives '98.12 ± 0.04%'."""
    return mean_spread(mean, spread, digits, scale=100, suffix="%")


def markdown_table(rows, headers) -> str:
    """A Markdown table: `headers` over `rows` (sequences of cells, written with str)."""
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def frame_markdown(frame: pd.DataFrame, columns: dict) -> str:
    """A DataFrame as Markdown: `columns` maps each column to show to its header."""
    return markdown_table(frame[list(columns)].fillna("").itertuples(index=False),
                          list(columns.values()))


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- results:{name} -->", f"<!-- /results:{name} -->"


def block(text: str, name: str) -> str | None:
    """The content of the generated block `name` in `text`, or None if it has none."""
    start, end = _markers(name)
    match = re.search(re.escape(start) + r"\n(?:(.*?)\n)?" + re.escape(end), text, flags=re.S)
    return (match.group(1) or "") if match else None


def replace_block(text: str, name: str, content: str) -> str:
    """`text` with the generated block `name` holding `content` (the markers must exist)."""
    start, end = _markers(name)
    if block(text, name) is None:
        raise ValueError(f"no {start} ... {end} block to replace")
    pattern = re.escape(start) + r"\n(?:.*?\n)?" + re.escape(end)
    return re.sub(pattern, lambda _: f"{start}\n{content}\n{end}", text, count=1, flags=re.S)


def block_names(text: str) -> list[str]:
    """The names of the generated blocks in `text`, in order."""
    return re.findall(r"<!-- results:([\w.-]+) -->", text)


def _cell_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def notebook_block_names(path) -> list[str]:
    """The names of the generated blocks in a notebook's Markdown cells."""
    cells = json.loads(Path(path).read_text())["cells"]
    return [name for cell in cells if cell["cell_type"] == "markdown"
            for name in block_names(_cell_text(cell))]


def replace_notebook_blocks(path, contents: dict, write: bool = True) -> list[str]:
    """Put `contents[name]` into each generated block of the notebook at `path`.

    Returns the names whose content changed; writes the notebook (in Jupyter's own JSON
    layout, so diffs stay small) only if `write` and something changed.
    """
    path = Path(path)
    notebook = json.loads(path.read_text())
    changed = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        text = _cell_text(cell)
        for name in block_names(text):
            if name in contents and block(text, name) != contents[name]:
                text = replace_block(text, name, contents[name])
                changed.append(name)
        cell["source"] = text.splitlines(keepends=True)
    if changed and write:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return changed
