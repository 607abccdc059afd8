"""A network of typed layers' step (:class:`chainrule.explain.lens.layers.LayerTrace`) as
terminal text, Markdown, JSON or one self-contained HTML page (LaTeX:
:mod:`chainrule.explain.render.layers_latex`).

The renderers only format what the lens recorded: the shape table, then per step the
forward values (summarised), the loss, each layer's backward pass from the output down
(equations term by term, tables, grids), the update and E after it. The page draws each
grid as a heatmap (blue below zero, red above, the number in each cell) and steps through
the layers with Previous / Next (or the arrow keys).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from chainrule.explain.lens.derivation_parts import large_grid
from chainrule.explain.numfmt import DEFAULT_SIGNIFICANT, Precision, number
from chainrule.explain.render.layers_outline import sections as _sections

def _n(value: float, precision: Precision) -> str:
    return number(value, precision)


def _grid_lines(array: np.ndarray, precision: Precision) -> list[str]:
    array = np.atleast_2d(array)
    if large_grid(array):  # summarised by row; the page draws it whole
        from chainrule.explain.lens.derivation_parts import grid_summary

        return _table_lines(*grid_summary(array))
    cells = [[_n(v, precision) for v in row] for row in array]
    width = max(len(c) for row in cells for c in row)
    return ["[" + "  ".join(c.rjust(width) for c in row) + "]" for row in cells]


def _table_lines(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return [line(headers), line(["─" * w for w in widths])] + [line(r) for r in rows]


def render_text(trace, precision: Precision = DEFAULT_SIGNIFICANT, only: str | None = None,
                width: int = 88, **_: Any) -> str:
    out: list[str] = []
    for kind, title, payload in _sections(trace, precision, only):
        if kind == "h1":
            out += [title, "═" * min(len(title), width), ""]
        elif kind in ("h2",):
            out += ["", f"{title} " + "─" * max(width - len(title) - 1, 3)]
        elif kind == "h3":
            out += ["", f"  {title}"]
        elif kind == "p":
            out.append(f"  {title}")
        elif kind == "note":
            out += [f"    {line}" for line in payload.lines] if hasattr(payload, "lines") \
                else [f"  {title}"]
        elif kind in ("eq", "equation"):
            lines = payload if isinstance(payload, list) else payload.lines
            if title:
                out.append(f"    {title}:")
            out += [f"      {line}" for line in lines]
        elif kind == "table":
            headers, rows = (payload if isinstance(payload, tuple)
                             else (payload.headers, payload.rows))
            if title:
                out.append(f"    {title}:")
            out += [f"      {line}" for line in _table_lines(headers, rows)]
            out += [f"      ({line})" for line in getattr(payload, "lines", [])]
        elif kind == "grid":
            out.append(f"    {title}{_summarised(payload.array)}:")
            out += [f"      {line}" for line in _grid_lines(payload.array, precision)]
    return "\n".join(out).rstrip() + "\n"


def render_markdown(trace, precision: Precision = DEFAULT_SIGNIFICANT,
                    only: str | None = None, **_: Any) -> str:
    out: list[str] = []

    def md(text: str) -> str:  # a course page's Markdown: no raw HTML passes through
        return html.escape(text, quote=False).replace("*", r"\*").replace("_", r"\_")

    for kind, title, payload in _sections(trace, precision, only):
        if kind == "h1":
            out += [f"# {md(title)}", ""]
        elif kind == "h2":
            out += ["", f"## {md(title)}", ""]
        elif kind == "h3":
            out += ["", f"### {md(title)}", ""]
        elif kind == "p":
            out += [md(title), ""]
        elif kind == "note":
            out += [md(" ".join(payload.lines)), ""]
        elif kind in ("eq", "equation"):
            lines = payload if isinstance(payload, list) else payload.lines
            if title:
                out.append(f"**{md(title)}**")
            out += ["", "```text", *lines, "```", ""]
        elif kind == "table":
            headers, rows = (payload if isinstance(payload, tuple)
                             else (payload.headers, payload.rows))
            if title:
                out += [f"**{md(title)}**", ""]
            out.append("| " + " | ".join(md(h) for h in headers) + " |")
            out.append("|" + "---|" * len(headers))
            out += ["| " + " | ".join(md(str(c)) for c in row) + " |" for row in rows]
            out.append("")
            out += [f"({md(line)})" for line in getattr(payload, "lines", [])] + \
                ([""] if getattr(payload, "lines", []) else [])
        elif kind == "grid":
            out += [f"**{md(title + _summarised(payload.array))}**", "", "```text",
                    *_grid_lines(payload.array, precision), "```", ""]
    return "\n".join(out).rstrip() + "\n"


_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;max-width:980px;margin:1.5em auto;padding:0 1em;
color:#1d1d1f}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:1.6em}
h3{font-size:1.05em;margin:.2em 0 .6em}
pre{background:#f6f6f8;padding:.6em .8em;white-space:pre-wrap;font-size:13px}
table{border-collapse:collapse;margin:.4em 0 1em;font-size:13px}
td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}
th{background:#f0f0f3}
table.grid td{width:3.6em;height:1.9em;text-align:center;font:12px ui-monospace,monospace}
table.grid.heat td{width:7px;height:7px;padding:0;border:0}
.layer{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;margin:.8em 0}
.nav{position:sticky;top:0;background:#fff;padding:.4em 0;border-bottom:1px solid #eee}
.nav button{font-size:14px;margin-right:.5em}
.grids{display:flex;flex-wrap:wrap;gap:1.2em}
.bad{color:#b00020;font-weight:bold}
"""

_SCRIPT = """
(function(){const layers=[...document.querySelectorAll('.layer')];let i=0;
const label=document.getElementById('where');
function show(k){i=Math.max(0,Math.min(layers.length-1,k));
layers.forEach((el,j)=>el.style.display=(j===i||all.checked)?'':'none');
label.textContent='layer '+(i+1)+' of '+layers.length+': '+layers[i].dataset.title;}
const all=document.getElementById('all');
document.getElementById('prev').onclick=()=>show(i-1);
document.getElementById('next').onclick=()=>show(i+1);
all.onchange=()=>show(i);
document.addEventListener('keydown',e=>{if(e.key==='ArrowLeft')show(i-1);
if(e.key==='ArrowRight')show(i+1);});show(0);})();
"""


def _summarised(array: np.ndarray) -> str:
    from chainrule.explain.lens.derivation_parts import summary_note

    return summary_note(np.atleast_2d(array)) if large_grid(array) else ""


def _heat(value: float, scale: float) -> str:
    if not np.isfinite(value) or scale == 0:
        return "#ffffff"
    t = max(-1.0, min(1.0, value / scale))
    if t >= 0:
        return f"rgb(255,{int(255 - 150 * t)},{int(255 - 150 * t)})"
    return f"rgb({int(255 + 150 * t)},{int(255 + 150 * t)},255)"


def _grid_html(title: str, array: np.ndarray, precision: Precision) -> str:
    array = np.atleast_2d(np.asarray(array, dtype=float))
    scale = float(np.max(np.abs(array))) if array.size else 0.0
    large = large_grid(array)  # a heatmap of small cells, each number on hover
    rows = "".join("<tr>" + "".join(
        f'<td style="background:{_heat(v, scale)}" title="{html.escape(_n(v, precision))}">'
        f"{'' if large else html.escape(_n(v, precision))}</td>" for v in row) + "</tr>"
        for row in array)
    kind = "grid heat" if large else "grid"
    return (f'<figure><figcaption>{html.escape(title)}</figcaption>'
            f'<table class="{kind}">{rows}</table></figure>')


def render_html(trace, precision: Precision = DEFAULT_SIGNIFICANT, only: str | None = None,
                fragment: bool = False, **_: Any) -> str:
    e = html.escape
    body: list[str] = []
    open_layer = False
    grids: list[str] = []

    def flush() -> None:
        if grids:
            body.append('<div class="grids">' + "".join(grids) + "</div>")
            grids.clear()

    for kind, title, payload in _sections(trace, precision, only):
        if kind != "grid":
            flush()
        if kind in ("h1", "h2") and open_layer:
            body.append("</section>")
            open_layer = False
        if kind == "h1":
            body.append(f"<h1>{e(title)}</h1>")
        elif kind == "h2":
            body.append(f"<h2>{e(title)}</h2>")
            if title.startswith("Backward"):
                body.append('<div class="nav"><button id="prev">← Previous</button>'
                            '<button id="next">Next →</button><label><input type="checkbox" '
                            'id="all"> all layers</label> <span id="where"></span></div>')
        elif kind == "h3":
            if open_layer:
                body.append("</section>")
            body.append(f'<section class="layer" data-title="{e(title)}"><h3>{e(title)}</h3>')
            open_layer = True
        elif kind == "p":
            body.append(f"<p>{e(title)}</p>")
        elif kind == "note":
            body.append(f"<p>{e(' '.join(payload.lines))}</p>")
        elif kind in ("eq", "equation"):
            lines = payload if isinstance(payload, list) else payload.lines
            bad = getattr(payload, "check", None) is False
            head = f"<p><b>{e(title)}</b>" + (' <span class="bad">differs from the engine'
                                               "</span>" if bad else "") + "</p>" if title else ""
            body.append(head + "<pre>" + e("\n".join(lines)) + "</pre>")
        elif kind == "table":
            headers, rows = (payload if isinstance(payload, tuple)
                             else (payload.headers, payload.rows))
            cells = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>"
                            for row in rows)
            caption = f"<caption>{e(title)}</caption>" if title else ""
            body.append(f"<table>{caption}<tr>" + "".join(f"<th>{e(h)}</th>" for h in headers)
                        + f"</tr>{cells}</table>")
            said = getattr(payload, "lines", [])
            if said:
                bad = ' class="bad"' if getattr(payload, "check", None) is False else ""
                body.append(f"<p{bad}><small>{e(' '.join(said))}</small></p>")
        elif kind == "grid":
            grids.append(_grid_html(title, payload.array, precision))
    flush()
    if open_layer:
        body.append("</section>")
    content = "\n".join(body)
    script = f"<script>{_SCRIPT}</script>" if "id=\"prev\"" in content else ""
    page = f"<style>{_STYLE}</style>\n{content}\n{script}"
    if fragment:
        return f'<div class="chainrule-layers">{page}</div>\n'
    from chainrule.version import __version__

    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta name="generator" content="chainrule {e(__version__)}">'
            f"<title>{e(trace.spec.name)} · chainrule</title></head><body>\n{page}\n"
            "</body></html>\n")


def render_layers(trace, fmt: str, **options: Any) -> str:
    if fmt == "json":
        return trace.to_json() + "\n"
    if fmt == "latex":
        from chainrule.explain.render.layers_latex import render_latex

        return render_latex(trace, **options)
    renderer = {"text": render_text, "markdown": render_markdown, "html": render_html}.get(fmt)
    if renderer is None:
        from chainrule.errors import ChainruleError

        raise ChainruleError(f"--format {fmt}: a network of typed layers is explained as "
                             "text, markdown, latex, html or json")
    return renderer(trace, **options)
