"""Small inline-SVG charts, so a report is one self-contained file that reads offline."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import numpy as np

WIDTH, HEIGHT = 420, 300  # pixels of every chart
MARGIN_LEFT, MARGIN_BOTTOM, MARGIN_TOP, MARGIN_RIGHT = 56, 42, 28, 14
COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2"]
MAX_POINTS = 2000  # scatter plots sample this many points to keep the page light


@dataclass
class Series:
    name: str
    x: np.ndarray
    y: np.ndarray
    style: str = "line"  # "line", "points", "dashed" or "band" (shaded from y up to `upper`)
    upper: np.ndarray | None = None


@dataclass
class Chart:
    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None

    def add(self, name: str, x, y, style: str = "line") -> Chart:
        self.series.append(Series(name, np.asarray(x, dtype=float), np.asarray(y, dtype=float), style))
        return self

    def band(self, name: str, x, lower, upper) -> Chart:
        """A shaded range, e.g. a forecast interval."""
        self.series.append(Series(name, np.asarray(x, dtype=float), np.asarray(lower, dtype=float), "band",
                                  np.asarray(upper, dtype=float)))
        return self

    def svg(self) -> str:
        xs = np.concatenate([s.x for s in self.series]) if self.series else np.zeros(1)
        ys = np.concatenate([s.y for s in self.series] + [s.upper for s in self.series if s.upper is not None]) \
            if self.series else np.zeros(1)
        x0, x1 = self.x_range or _padded(xs)
        y0, y1 = self.y_range or _padded(ys)
        plot_w, plot_h = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

        def px(x):
            return MARGIN_LEFT + (np.asarray(x) - x0) / (x1 - x0) * plot_w

        def py(y):
            return MARGIN_TOP + plot_h - (np.asarray(y) - y0) / (y1 - y0) * plot_h

        parts = [_open(self.title)]
        for tick in np.linspace(x0, x1, 5):
            parts.append(f'<line x1="{px(tick):.1f}" y1="{MARGIN_TOP}" x2="{px(tick):.1f}" '
                         f'y2="{MARGIN_TOP + plot_h}" stroke="#eee"/>')
            parts.append(f'<text x="{px(tick):.1f}" y="{MARGIN_TOP + plot_h + 14}" text-anchor="middle">'
                         f"{_fmt(tick)}</text>")
        for tick in np.linspace(y0, y1, 5):
            parts.append(f'<line x1="{MARGIN_LEFT}" y1="{py(tick):.1f}" x2="{MARGIN_LEFT + plot_w}" '
                         f'y2="{py(tick):.1f}" stroke="#eee"/>')
            parts.append(f'<text x="{MARGIN_LEFT - 4}" y="{py(tick) + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
        parts.append(f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_w}" height="{plot_h}" '
                     'fill="none" stroke="#999"/>')
        for i, s in enumerate(self.series):
            colour = "#888" if s.style == "dashed" else COLOURS[i % len(COLOURS)]
            finite = np.isfinite(s.x) & np.isfinite(s.y)
            x, y = s.x[finite], s.y[finite]
            if s.style == "band":
                edge = list(zip(px(x), py(y), strict=True)) + list(zip(px(x), py(s.upper[finite]), strict=True))[::-1]
                points = " ".join(f"{a:.1f},{b:.1f}" for a, b in edge)
                parts.append(f'<polygon points="{points}" fill="{colour}" fill-opacity="0.18" stroke="none"/>')
            elif s.style == "points":
                if len(x) > MAX_POINTS:
                    keep = np.random.default_rng(0).choice(len(x), MAX_POINTS, replace=False)
                    x, y = x[keep], y[keep]
                parts += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2" fill="{colour}" fill-opacity="0.45"/>'
                          for a, b in zip(px(x), py(y), strict=True)]
            else:
                points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px(x), py(y), strict=True))
                dash = ' stroke-dasharray="5,4"' if s.style == "dashed" else ""
                parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
            parts.append(f'<text x="{MARGIN_LEFT + 8}" y="{MARGIN_TOP + 14 + 14 * i}" fill="{colour}">'
                         f"{escape(s.name)}</text>")
        parts.append(f'<text x="{MARGIN_LEFT + plot_w / 2}" y="{HEIGHT - 6}" text-anchor="middle">'
                     f"{escape(self.x_label)}</text>")
        parts.append(f'<text transform="translate(12,{MARGIN_TOP + plot_h / 2}) rotate(-90)" '
                     f'text-anchor="middle">{escape(self.y_label)}</text>')
        return "".join(parts) + "</svg>"


def heatmap(title: str, matrix: np.ndarray, rows: list[str], columns: list[str], x_label: str, y_label: str) -> str:
    """A grid of counts, darker for larger shares of each row (a confusion matrix)."""
    count = len(rows)
    cell = max(18, min(60, (WIDTH - 120) // max(count, 1)))
    left, top = 110, 40
    size = (left + cell * len(columns) + 20, top + cell * count + 40)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    parts = [_open(title, size)]
    for i in range(count):
        parts.append(f'<text x="{left - 6}" y="{top + cell * i + cell / 2 + 4}" text-anchor="end">'
                     f"{escape(_short(rows[i]))}</text>")
        for j in range(len(columns)):
            shade = int(255 - 200 * shares[i, j])
            ink = "#fff" if shares[i, j] > 0.5 else "#111"
            x, y = left + cell * j, top + cell * i
            parts.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="rgb({shade},{shade},255)" '
                         'stroke="#fff"/>')
            parts.append(f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" text-anchor="middle" fill="{ink}">'
                         f"{int(matrix[i, j])}</text>")
    for j, name in enumerate(columns):
        parts.append(f'<text x="{left + cell * j + cell / 2}" y="{top - 6}" text-anchor="middle">'
                     f"{escape(_short(name))}</text>")
    parts.append(f'<text x="{left + cell * len(columns) / 2}" y="{top + cell * count + 24}" '
                 f'text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text x="10" y="{top - 6}">{escape(y_label)}</text>')
    return "".join(parts) + "</svg>"


def _open(title: str, size: tuple[int, int] = (WIDTH, HEIGHT)) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size[0]}" height="{size[1]}" '
            f'font-family="sans-serif" font-size="11"><text x="{size[0] / 2}" y="16" text-anchor="middle" '
            f'font-size="13" font-weight="bold">{escape(title)}</text>')


def _padded(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    pad = (high - low) * 0.05 or max(abs(high) * 0.05, 1.0)
    return low - pad, high + pad


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def _short(text: str, limit: int = 14) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def png_base64(pixels, side: int) -> str:
    """A uint8 picture (height × width, or height × width × 3) as base64 PNG, scaled up by a whole factor
    (nearest neighbour, so pixels stay sharp) to about `side` pixels, for inline <img> tags."""
    import base64
    import io

    from PIL import Image

    picture = Image.fromarray(pixels)
    scale = max(1, side // max(picture.size))
    picture = picture.resize((picture.size[0] * scale, picture.size[1] * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
