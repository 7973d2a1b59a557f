"""Text for people: the one `mean ± spread` formatter, Markdown tables, and generated blocks.

Every number the README or a notebook quotes is rendered here from a table, never typed:
a generated block sits between `<!-- results:NAME -->` and `<!-- /results:NAME -->` markers,
`replace_block` rewrites it, and tests compare each block with what the tables give.
"""

from __future__ import annotations

import re

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
    match = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), text, flags=re.S)
    return match.group(1) if match else None


def replace_block(text: str, name: str, content: str) -> str:
    """`text` with the generated block `name` holding `content` (the markers must exist)."""
    start, end = _markers(name)
    if block(text, name) is None:
        raise ValueError(f"no {start} ... {end} block to replace")
    pattern = re.escape(start) + r"\n.*?\n" + re.escape(end)
    return re.sub(pattern, lambda _: f"{start}\n{content}\n{end}", text, count=1, flags=re.S)
