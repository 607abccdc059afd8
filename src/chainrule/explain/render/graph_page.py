"""A computational graph (``chainrule.graph/1``) as one self-contained HTML page.

CS231n's circuit diagram: every node's value above its output wire (green), its gradient
below (red), laid out left to right by dagre (vendored in ``render/assets/vendor``: it runs
in the page, after the page has measured each label, so boxes fit their text). The page steps
forward node by node and backward edge by edge, announcing each step in a live region, and
a click (or Enter) on a node or a wire shows its local derivative and its chain-rule step,
with every path's term where a node is used more than once.

As the MLP page (:mod:`chainrule.explain.render.html`), it is data plus a viewer: the resolved graph
(:func:`chainrule.explain.render.graph_model.resolve`) is embedded as JSON and drawn by the scripts;
nothing is fetched, and ``fragment=True`` gives the ``<div>`` a notebook embeds.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
from typing import Any

from chainrule.version import __version__
from chainrule.explain.render.graph_model import resolve
from chainrule.explain.render.html import (
    _asset, _attributes, _script_json, check_precision, page_precision,
)
from chainrule.explain.numfmt import number
from chainrule.errors import ChainruleError

DEFAULT_PRECISION = 4
# One scope per rendered graph, in this order; graph_view.js (last) defines bootGraph().
SCRIPTS = ("vendor/dagre.min.js", "format.js", "pan.js", "graph_draw.js", "graph_steps.js",
           "graph_panel.js", "graph_view.js")
STYLE = "graph.css"
_fragments = itertools.count(1)  # two graphs in one notebook need distinct ids


def render_graph_html(graph: dict, *, precision: int = DEFAULT_PRECISION, fragment: bool = False,
                      title: str | None = None) -> str:
    """The page for ``graph`` (a ``chainrule.graph/1`` dict, as ``GraphTrace.to_dict()``
    gives): a whole document, or with ``fragment`` an embeddable ``<div>``.

    ``precision`` is the number of decimals shown; ``title`` defaults to the output's name.
    """
    check_precision(precision)
    if title is not None and not isinstance(title, str):
        raise ChainruleError(f"title: expected a string, got {type(title).__name__}")
    view = resolve(graph)
    output = view["nodes"][view["output"]]["name"]
    heading = title if title is not None else f"Computational graph of {output}"
    data = _script_json(view)
    digest = hashlib.sha1(data.encode()).hexdigest()[:8]
    ids = f"gp-{digest}-{next(_fragments)}-" if fragment else "gp-"
    root_id = f"{ids}root"
    attrs = {"class": "gp-root", "id": root_id, "data-precision": page_precision(precision), "data-ids": ids,
             "data-title": heading, "tabindex": "-1"}
    root = (
        f"<div {_attributes(attrs)}>\n"
        f'<script type="application/json" class="gp-data">{data}</script>\n'
        f"{_fallback(view, precision, heading)}\n</div>"
    )
    script = f"<script>\n{_script(root_id)}\n</script>"
    if fragment:
        style = f"<style>\n{_asset(STYLE)}</style>"
        return f'<div class="gp-fragment">\n{style}\n{root}\n{script}\n</div>\n'
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="chainrule {html.escape(__version__)}">\n'
        f"<title>{html.escape(heading)} · chainrule</title>\n"
        f"<style>\nbody {{ margin: 0; background: #fff; }}\n{_asset(STYLE)}</style>\n"
        f"</head>\n<body>\n<main>\n{root}\n</main>\n{script}\n</body>\n</html>\n"
    )


def _script(root_id: str) -> str:
    """Every script in one function per graph (dagre's ``var`` stays inside it), started once
    the root is in the document (a notebook may insert the HTML before attaching it)."""
    parts = []
    for name in SCRIPTS:
        text = _asset(name)
        if name.startswith("vendor/"):  # its licence travels with it; no source map to fetch
            kept = [line for line in text.splitlines()
                    if not line.startswith(("//# sourceMappingURL=", "/*! For license"))]
            notice = _asset("vendor/dagre.LICENSE").replace("*/", "* /")
            text = f"/* dagre, MIT licence:\n{notice}*/\n" + "\n".join(kept)
        parts.append(f"// ---- {name}\n{text}")
    body = "\n".join(parts)
    return (
        "(function () {\n\"use strict\";\n"
        f"{body}\n"
        "(function start(tries) {\n"
        f"  const root = document.getElementById({json.dumps(root_id)});\n"
        "  if (root) bootGraph(root);\n"
        "  else if (tries < 50) setTimeout(() => start(tries + 1), 100);\n"
        "})(0);\n})();"
    )


def _fallback(view: dict[str, Any], precision: int, heading: str) -> str:
    """The graph as text, where scripts do not run (off, or an untrusted notebook)."""
    nodes, edges = view["nodes"], view["edges"]
    out = nodes[view["output"]]["name"]
    lines = []
    for node in nodes:
        names = [nodes[edges[k]["source"]]["name"] for k in node["in_edges"]]
        forward = "".join(names[p] if isinstance(p, int) else p for p in node["forward"])
        rule = f" = {forward}" if forward else " (input)"
        lines.append(f"{node['name']}{rule} = {_num(node['value'], precision)}    "
                     f"∂{out}/∂{node['name']} = {_num(node['grad'], precision)}")
    text = html.escape("\n".join(lines))
    return (
        f'<div class="gp-fallback"><h2>{html.escape(heading)}</h2><p>This view draws the '
        "graph with JavaScript, which is not running here (in Jupyter, trust the notebook). "
        f"The same numbers as text:</p><pre>{text}</pre></div>"
    )


def _num(value: Any, precision: int) -> str:
    """A number, or an array (nested lists) as the page's scripts write one."""
    if isinstance(value, list):
        return "[" + ", ".join(_num(v, precision) for v in value) + "]"
    return "—" if value is None else number(value, precision)
