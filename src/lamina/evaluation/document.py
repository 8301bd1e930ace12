"""A report's facts as plain data (sections of paragraphs, lists and tables), written out as HTML for
report.html and as Markdown for the model card. Numbers are formatted here, by `number`, and nowhere else;
every value is escaped here, once, for the format it is written to.

A piece of text is a str, a number, None, or a str or number wrapped in `Strong` (stressed: bold) or `Code`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from html import escape
from numbers import Integral, Real


def number(value, digits: int | None = 4, percent: bool = False, signed: bool = False) -> str:
    """Every number a report or card shows: integers whole, other values with `digits` decimals ("n/a" when
    missing or not finite), or in scientific notation when so small that those decimals would all be zeros;
    `percent` shows 0.953 as 95.3% (with digits=1); `signed` writes + before positive values.
    digits=None writes a setting as it was given (an attack budget of 0.1 stays 0.1)."""
    if value is None or isinstance(value, bool):
        return "n/a" if value is None else str(value)
    sign = "+" if signed else ""
    if isinstance(value, Integral):
        return f"{int(value):{sign}d}"
    if not isinstance(value, Real) or not math.isfinite(value):
        return "n/a"
    if digits is None:
        return f"{float(value):{sign}}"
    if percent:
        return unsigned_zero(f"{value:{sign}.{digits}%}")
    if value != 0 and abs(value) < 0.5 * 10**-digits:  # fixed decimals would show nothing but zeros
        return f"{value:{sign}.{digits}g}"
    return unsigned_zero(f"{value:{sign}.{digits}f}")


def unsigned_zero(text: str) -> str:
    """A number written as nothing but zeros without its minus: an R² of -0.00001 at 4 decimals is 0.0000, not
    -0.0000 (Python keeps the sign of what rounded to zero)."""
    return text[1:] if text.startswith("-") and not any(digit in text for digit in "123456789") else text


@dataclass(frozen=True)
class Strong:
    value: object


@dataclass(frozen=True)
class Code:
    value: object


@dataclass
class Paragraph:
    pieces: list  # pieces of text, written one after another


@dataclass
class Bullets:
    items: list[list]  # each item is a list of pieces


@dataclass
class Table:
    columns: list[str]
    rows: list[list]  # one piece of text per column


@dataclass
class Subheading:
    text: str


@dataclass
class Figure:
    """A chart, drawn only when HTML is written, with the table of its numbers if it has one: folded away
    under the chart on the page (exact values on demand), in its place in Markdown."""

    chart: object  # a plots.Chart, or anything with .svg() -> an <svg> element whose text is escaped
    table: Table | None = None


@dataclass
class Section:
    heading: str
    blocks: list = field(default_factory=list)


# ---- HTML -----------------------------------------------------------------------------------------------


def section_html(section: Section) -> str:
    return f"<h2>{escape(section.heading)}</h2>" + "".join(block_html(b) for b in section.blocks)


def block_html(block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{pieces_html(block.pieces)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{pieces_html(item)}</li>" for item in block.items) + "</ul>"
    if isinstance(block, Table):
        head = "".join(f"<th>{escape(c)}</th>" for c in block.columns)
        body = "".join("<tr>" + "".join(f"<td>{_html(cell)}</td>" for cell in row) + "</tr>" for row in block.rows)
        return f"<table><tr>{head}</tr>{body}</table>"
    if isinstance(block, Subheading):
        return f"<h3>{escape(block.text)}</h3>"
    if isinstance(block, Figure):
        numbers = f"<details><summary>the numbers</summary>{block_html(block.table)}</details>" if block.table else ""
        return f"<figure class='chart'>{block.chart.svg()}{numbers}</figure>"
    raise TypeError(f"not a block of a section: {block!r}")


def pieces_html(pieces: list) -> str:
    return "".join(_html(piece) for piece in pieces)


def _html(piece) -> str:
    if isinstance(piece, Strong):
        return f"<b>{_html(piece.value)}</b>"
    if isinstance(piece, Code):
        return f"<code>{_html(piece.value)}</code>"
    return escape(piece) if isinstance(piece, str) else escape(number(piece))


# ---- Markdown -------------------------------------------------------------------------------------------

# Characters that would start markup (emphasis, code, links, HTML tags, table cells) if left bare.
MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]<>|])")


def sections_markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# {_markdown(title)}"]
    for section in sections:
        lines += ["", f"## {_markdown(section.heading)}"]
        for block in section.blocks:
            written = _block_markdown(block)
            lines += ["", *written] if written else []
    return "\n".join(lines) + "\n"


def _block_markdown(block) -> list[str]:
    if isinstance(block, Paragraph):
        return [_pieces_markdown(block.pieces)]
    if isinstance(block, Bullets):
        return [f"- {_pieces_markdown(item)}" for item in block.items]
    if isinstance(block, Table):
        rows = [block.columns, ["---"] * len(block.columns), *block.rows]
        return ["| " + " | ".join(_markdown(cell) if r != 1 else cell for cell in row) + " |"
                for r, row in enumerate(rows)]
    if isinstance(block, Subheading):
        return [f"### {_markdown(block.text)}"]
    if isinstance(block, Figure):
        return _block_markdown(block.table) if block.table else []
    raise TypeError(f"not a block of a section: {block!r}")


def _pieces_markdown(pieces: list) -> str:
    return "".join(_markdown(piece) for piece in pieces)


def _markdown(piece) -> str:
    if isinstance(piece, Strong):
        return f"**{_markdown(piece.value)}**"
    if isinstance(piece, Code):
        text = _one_line(piece.value if isinstance(piece.value, str) else number(piece.value))
        fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)  # longer than any inside
        return f"{fence} {text} {fence}" if "`" in text else f"`{text}`"
    text = piece if isinstance(piece, str) else number(piece)
    return MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(text))


def _one_line(text: str) -> str:
    """A value on one line: a line break inside a table cell or a bullet would end it."""
    return " ".join(text.splitlines())
