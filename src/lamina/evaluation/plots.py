"""Charts for reports, drawn by matplotlib as inline SVG, so a report is one file that reads offline.

matplotlib is imported when a chart is drawn, not when this module is: `lamina predict` never pays for it.
Charts are drawn on a bare `Figure` (no pyplot, so no GUI backend and no global figure state); the SVG keeps
text as <text> elements in the reader's own sans-serif font, and its element ids get a per-chart prefix so
several charts on one page never share an id.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import re
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

SIZE = (5.4, 3.8)  # inches of a chart; the SVG is in points (72 an inch), about 390 × 275 on the page
COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"]
REFERENCE = "#888888"  # dashed lines: chance, perfect calibration, the ideal fit, a naive forecast
MAX_POINTS = 2000  # scatter plots sample this many points to keep the page light
ANNOTATED_CELLS = 20  # a heatmap prints its counts while it has at most this many rows and columns
LABEL_CHARACTERS = 14  # tick labels (class names) longer than this are cut with an ellipsis
SETTINGS = {
    "svg.fonttype": "none",  # text stays text: selectable, searchable, drawn in the page's font
    "svg.hashsalt": "lamina",  # ids are salted hashes; a fixed salt makes the same chart give the same SVG
    "text.parse_math": False,  # a "$" in a column or class name is a dollar sign, not TeX
    "path.simplify": False,  # every point of a series is drawn, none merged away
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib: labels are laid out with its (generous) widths
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "legend.fontsize": 8.5,
    "axes.grid": True,
    "grid.color": "#e5e5e5",
    "axes.spines.top": False,
    "axes.spines.right": False,
}
STYLES = ("line", "points", "dashed", "band")


@dataclass
class Series:
    name: str
    x: np.ndarray
    y: np.ndarray
    style: str = "line"  # one of STYLES; "band" is shaded from y up to `upper`
    upper: np.ndarray | None = None


@dataclass
class Chart:
    """Series on one pair of axes. `integer_x` puts ticks on whole numbers only (epochs, steps ahead)."""

    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    integer_x: bool = False

    def add(self, name: str, x, y, style: str = "line") -> Chart:
        if style not in STYLES or style == "band":
            raise ValueError(f"style must be one of {STYLES[:3]} (a band is added with .band()), not {style!r}")
        self.series.append(Series(name, _values(x), _values(y), style))
        return self

    def band(self, name: str, x, lower, upper) -> Chart:
        """A shaded range, e.g. a forecast interval."""
        self.series.append(Series(name, _values(x), _values(lower), "band", _values(upper)))
        return self

    def svg(self) -> str:
        with _figure(SIZE) as (figure, axes):
            colours = itertools.cycle(COLOURS)
            for index, s in enumerate(self.series):
                artist = _draw(axes, s, REFERENCE if s.style == "dashed" else next(colours))
                artist.set_gid(f"series-{index}")  # lets tests and readers of the SVG find each series
            axes.set_title(self.title)
            axes.set_xlabel(self.x_label)
            axes.set_ylabel(self.y_label)
            if self.x_range:
                axes.set_xlim(*self.x_range)
            if self.y_range:
                axes.set_ylim(*self.y_range)
            if self.integer_x:
                from matplotlib.ticker import MaxNLocator

                axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            if self.series:
                axes.legend(loc="best", frameon=False)
            return figure_svg(figure)


@dataclass
class Heatmap:
    """A grid of counts, darker for larger shares of each row (a confusion matrix)."""

    title: str
    matrix: np.ndarray
    rows: list[str]
    columns: list[str]
    x_label: str
    y_label: str

    def svg(self) -> str:
        matrix = np.asarray(self.matrix, dtype=float)
        shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        side = float(np.clip(1.8 + 0.45 * max(matrix.shape), 4.0, 9.0))
        tilted = len(self.columns) > 4  # long rows of class names overlap unless tilted
        with _figure((side, side)) as (figure, axes):
            axes.pcolormesh(shares, cmap="Blues", vmin=0, vmax=1, edgecolors="white", linewidth=1).set_gid("cells")
            axes.grid(False)
            axes.invert_yaxis()  # the first class on top, as a confusion matrix is read
            axes.set_xticks(np.arange(len(self.columns)) + 0.5, [_short(c) for c in self.columns],
                            rotation=45 if tilted else 0, ha="right" if tilted else "center")
            axes.set_yticks(np.arange(len(self.rows)) + 0.5, [_short(r) for r in self.rows])
            if max(matrix.shape) <= ANNOTATED_CELLS:
                for (i, j), count in np.ndenumerate(matrix):
                    axes.text(j + 0.5, i + 0.5, f"{int(count)}", ha="center", va="center", fontsize=9,
                              color="white" if shares[i, j] > 0.5 else "#111111")
            axes.set_title(self.title)
            axes.set_xlabel(self.x_label)
            axes.set_ylabel(self.y_label)
            return figure_svg(figure)


def _draw(axes, s: Series, colour: str):
    if s.style == "band":
        return axes.fill_between(s.x, s.y, s.upper, color=colour, alpha=0.18, linewidth=0, label=s.name)
    if s.style == "points":
        x, y = s.x, s.y
        if len(x) > MAX_POINTS:
            keep = np.sort(np.random.default_rng(0).choice(len(x), MAX_POINTS, replace=False))
            x, y = x[keep], y[keep]
        return axes.plot(x, y, linestyle="none", marker="o", markersize=3, markeredgewidth=0, alpha=0.45,
                         color=colour, label=s.name)[0]
    return axes.plot(s.x, s.y, color=colour, linewidth=1.2 if s.style == "dashed" else 1.8,
                     linestyle="--" if s.style == "dashed" else "-", label=s.name)[0]


@contextmanager
def _figure(size: tuple[float, float]):
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(SETTINGS):
        figure = Figure(figsize=size, layout="constrained")
        axes = figure.add_subplot()
        axes.title.set_gid("title")  # lets readers of the SVG (and tests) find which chart is which
        yield figure, axes


def figure_svg(figure) -> str:
    """The figure as an <svg> element for inline use: no XML prolog, no comments, ids unique to this chart."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    text = re.sub(r"<!--.*?-->", "", text[text.index("<svg"):], flags=re.S)  # comments repeat every label
    prefix = "c" + hashlib.sha256(text.encode()).hexdigest()[:10] + "-"

    def prefixed(tag: re.Match) -> str:
        # Only inside tags: matplotlib escapes < and > in attribute values, so a label's text is never touched.
        tag = re.sub(r'\bid="', f'id="{prefix}', tag.group(0))
        tag = re.sub(r'href="#', f'href="#{prefix}', tag)
        return tag.replace("url(#", f"url(#{prefix}")

    return re.sub(r"<[^>]+>", prefixed, text).strip()


def _values(values) -> np.ndarray:
    """Floats with ±inf made NaN: matplotlib leaves a gap at NaN, where an infinity would wreck the axis range."""
    array = np.asarray(values, dtype=float)
    return np.where(np.isfinite(array), array, np.nan)


def _short(text, limit: int = LABEL_CHARACTERS) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def png_base64(pixels, side: int) -> str:
    """A uint8 picture (height × width, or height × width × 3) as base64 PNG, scaled up by a whole factor
    (nearest neighbour, so pixels stay sharp) to about `side` pixels, for inline <img> tags."""
    import base64

    from PIL import Image

    picture = Image.fromarray(pixels)
    scale = max(1, side // max(picture.size))
    picture = picture.resize((picture.size[0] * scale, picture.size[1] * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
