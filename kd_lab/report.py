"""Text for people: the one `mean ± spread` formatter, Markdown tables, and generated blocks.

Every number the README or a notebook quotes is rendered from a table, never typed: a
generated block of the README sits between `<!-- results:NAME -->` and `<!-- /results:NAME -->`
markers, `replace_block` rewrites it, and a test compares each block with what the tables
give. Notebooks hold none (`notebook_block_names` finds any left): they show theirs executed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from .stats import interval, mean_interval


def mean_spread(mean, spread=None, digits: int = 1, scale: float = 1.0, suffix: str = "",
                widths: tuple[int, int] = (0, 0), n=None) -> str:
    """`mean ± spread` (each times `scale`, `digits` decimals), or the mean alone when there is
    no spread (None or NaN: one seed). `suffix` ends the text ("%"); `widths` pads the mean to
    the right and the spread to the left, for aligned text tables. Given the count `n` of
    values behind a standard deviation, the mean's 95% interval follows in brackets:
    `mean_spread(147.7, 9.9, n=3)` gives '147.7 ± 9.9 [123.2, 172.2]'."""
    text = f"{scale * mean:>{widths[0]}.{digits}f}"
    if spread is None or pd.isna(spread):
        return text + suffix
    text = f"{text} ± {scale * spread:<{widths[1]}.{digits}f}{suffix}"
    if n is None:
        return text
    return f"{text} {interval(*mean_interval(mean, spread, n), digits, scale)}".rstrip()


def percent(mean, spread=None, digits: int = 1, n=None) -> str:
    """A fraction in percent: `percent(0.9812, 0.0004, 2)` gives '98.12 ± 0.04%', and with
    the count `n` of seeds its 95% interval after it (see `mean_spread`)."""
    return mean_spread(mean, spread, digits, scale=100, suffix="%", n=n)


def mean_spread_of(row, metric: str, digits: int = 1, scale: float = 1.0,
                   suffix: str = "") -> str:
    """`mean_spread` of a table row's `<metric>_mean`, `_std` and `_count` (an `aggregate`
    table's columns): mean ± std, then the 95% interval when the row has a count."""
    return mean_spread(getattr(row, f"{metric}_mean"), getattr(row, f"{metric}_std", None),
                       digits, scale, suffix, n=getattr(row, f"{metric}_count", None))


def percent_of(row, metric: str = "test_accuracy", digits: int = 1) -> str:
    """`mean_spread_of` for a fraction, in percent: '98.12 ± 0.04% [98.09, 98.15]'."""
    return mean_spread_of(row, metric, digits, scale=100, suffix="%")


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
