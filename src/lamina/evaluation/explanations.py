"""The report's section on what `lamina explain` found (explain.json): permutation importance as bars,
integrated-gradient attributions per explained row as a table, and as coloured pixels or tokens for image
and text models. Only the report shows it (the card points to it); every value read from the file is escaped."""

from __future__ import annotations

from html import escape

from lamina.evaluation.document import Table, block_html, number

BAR_PIXELS = 180  # length of the largest importance bar


def explanations_html(explain: dict | None) -> str:
    if not explain:
        return ""
    parts = []
    if "importance_missing" in explain:
        parts.append(f"<p>Permutation importance: none; {escape(str(explain['importance_missing']))}</p>")
    if "importance" in explain:
        first = explain["importance"][0]
        parts.append(f"<p>Permutation importance: {escape(str(first['metric']))} lost when a column's values are "
                     f"shuffled (mean over {escape(number(first['repeats']))} shuffles; ± is in explain.json)"
                     + (f", on {escape(str(explain['importance_rows']))}" if "importance_rows" in explain else "")
                     + ".</p>")
        parts.append(_bars([(e["column"], e["drop"]) for e in explain["importance"]], f"{first['metric']} drop"))
    attributions, rows = explain["attributions"], explain["rows"]
    explained = list(zip(rows, attributions["explained_output"], strict=True))
    parts.append(f"<p>Integrated gradients for rows {escape(', '.join(map(str, rows)))} "
                 f"({escape(str(attributions['output_unit']))}; completeness gap "
                 f"{escape(number(attributions['completeness_gap']))}).</p>")
    table = Table(["row → explained", *attributions["columns"]],
                  [[f"{row} → {label}", *(number(v, 3, signed=True) for v in values)]
                   for (row, label), values in zip(explained, attributions["attributions"], strict=True)])
    parts.append(block_html(table))
    # Pictures (PNG heat maps; RDKit's SVG drawings of molecules) are base64 images: nothing in them can run.
    for key, media, legend in (("overlays", "image/png", "Pixels that pushed towards the explained class"),
                               ("drawings", "image/svg+xml", "Atoms and bonds that pushed towards the explained output")):
        if key in attributions:
            cells = "".join(
                f"<figure><img src='data:{media};base64,{escape(picture)}' alt='attributions of row {escape(str(row))}'>"
                f"<figcaption>row {escape(str(row))} → {escape(str(label))}</figcaption></figure>"
                for (row, label), picture in zip(explained, attributions[key], strict=True))
            parts.append(f"<p>{legend} in red, away from it in blue.</p><div class='mistakes'>{cells}</div>")
    if "tokens" in attributions:
        lines = "".join(f"<p>row {escape(str(row))} → {escape(str(label))}: {_shaded_tokens(tokens)}</p>"
                        for (row, label), tokens in zip(explained, attributions["tokens"], strict=True))
        parts.append("<p>Tokens that pushed towards the explained output in red, away from it in blue "
                     "(hover for the value).</p>" + lines)
    return "<h2>Explanations</h2>" + "".join(parts)


def _bars(pairs: list[tuple[str, float]], unit: str) -> str:
    scale = max((abs(v) for _, v in pairs), default=1.0) or 1.0
    rows = "".join(
        f"<tr><td>{escape(str(name))}</td><td><span class='bar' style='width:{BAR_PIXELS * abs(v) / scale:.0f}px;"
        f"background:{'#2563eb' if v >= 0 else '#dc2626'}'></span> {escape(number(v, signed=True))}</td></tr>"
        for name, v in pairs)
    return f"<table><tr><th>column</th><th>{escape(unit)}</th></tr>{rows}</table>"


def _shaded_tokens(tokens: list) -> str:
    strongest = max((abs(value) for _, value in tokens), default=0.0) or 1.0
    spans = []
    for piece, value in tokens:
        alpha = abs(value) / strongest
        colour = f"rgba(214,39,40,{alpha:.2f})" if value > 0 else f"rgba(31,119,180,{alpha:.2f})"
        spans.append(f"<span style='background:{colour}' title='{escape(number(value, signed=True))}'>"
                     f"{escape(str(piece))}</span>")
    return " ".join(spans)
