"""The trace as one self-contained HTML page: the network as an SVG, stepped forward to the
loss, back through the deltas and gradients, and on to the update.

The page is data plus a viewer. The trace's JSON (:meth:`Trace.to_dict`) is embedded in a
``<script type="application/json">`` and the scripts in ``render/assets`` draw everything from
it, so the page shows the trace's own numbers and cannot drift from the other formats; what
each activation and loss is comes from their tables, as data attributes of the root. Styles
and scripts are inlined and nothing is fetched: the file works offline, and ``fragment=True``
gives the ``<div>`` a notebook's ``_repr_html_`` embeds.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import re
from importlib import resources
from numbers import Integral
from typing import Any

from chainrule.tables import activations as activation_table
from chainrule.tables import losses as loss_table
from chainrule.version import __version__
from chainrule.errors import ChainruleError
from chainrule.explain.numfmt import DEFAULT_PRECISION, Significant
from chainrule.explain.render.text import render_text
from chainrule.explain.trace import Trace

PHASES = ("forward", "backward", "update")
MAX_PRECISION = 17  # as the command line allows: beyond, float64 digits are noise
# The scripts share one scope per rendered trace, in this order: each may use what the files
# before it define, and explain.js (last) defines boot().
SCRIPTS = ("format.js", "pan.js", "steps.js", "narrate.js", "diagram_view.js", "diagram.js",
           "panels.js", "explain.js")
STYLE = "explain.css"
_ELEMENT_KEY = re.compile(r"^([Wb]\d+)\[(\d+(?:,\d+)*)\]$")
_fragments = itertools.count(1)  # two fragments of one trace in one notebook need distinct ids


def render_html(trace: Trace, *, precision: int = DEFAULT_PRECISION, param: str | None = None,
                only: str | None = None, fragment: bool = False) -> str:
    """The page for ``trace``: a whole document, or with ``fragment`` an embeddable ``<div>``.

    ``precision`` is the number of decimals shown; ``param`` (``"W1[0,1]"``) opens the page on
    that element's chain rule; ``only`` (``forward``, ``backward`` or ``update``) keeps the steps
    of one phase.
    """
    _check_options(trace, precision, param, only)
    data = _script_json(trace.to_dict())
    ids = ""
    if fragment:
        ids = f"cr-{hashlib.sha1(data.encode()).hexdigest()[:8]}-{next(_fragments)}-"
    root_id = f"{ids}root"
    attrs = {
        "class": "cr-explain", "id": root_id, "data-precision": page_precision(precision),
        "data-start-param": param, "data-only": only, "data-fragment": str(fragment).lower(),
        "data-ids": ids, "data-loss-formulas": _facts(loss_table.page_facts()),
        "data-activations": _facts(activation_table.page_facts()),
        "tabindex": "-1" if fragment else None,  # so a click inside gives it the arrow keys
    }
    root = (
        f"<div {_attributes(attrs)}>\n"
        f'<script type="application/json" class="cr-trace">{data}</script>\n'
        f"{_fallback(trace, precision, only)}\n</div>"
    )
    script = f"<script>\n{_script(root_id)}\n</script>"
    if fragment:
        style = f"<style>\n{_asset(STYLE)}</style>"
        return f'<div class="cr-fragment">\n{style}\n{root}\n{script}\n</div>\n'
    title = html.escape(f"{trace.spec.name} · chainrule explain")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="chainrule {html.escape(__version__)}">\n'
        f"<title>{title}</title>\n<style>\nbody {{ margin: 0; background: #fff; }}\n"
        f"{_asset(STYLE)}</style>\n</head>\n<body>\n<main>\n{root}\n</main>\n{script}\n"
        "</body>\n</html>\n"
    )


def check_precision(precision: Any) -> None:
    """Decimals (an int, 0 to 17) or Significant digits (1 to 17), as every page takes."""
    if isinstance(precision, Significant):
        if not 1 <= precision.digits <= MAX_PRECISION:
            raise ChainruleError(f"precision: expected 1 to {MAX_PRECISION} significant "
                                 f"digits, got {precision.digits!r}")
        return
    if isinstance(precision, bool) or not isinstance(precision, Integral) or not (
            0 <= precision <= MAX_PRECISION):
        raise ChainruleError(f"precision: expected 0 to {MAX_PRECISION} decimals, "
                             f"got {precision!r}")


def page_precision(precision: Any) -> str:
    """The page's data-precision: "4" for decimals, "4s" for significant digits (format.js
    reads both)."""
    return f"{precision.digits}s" if isinstance(precision, Significant) else str(int(precision))


def _check_options(trace: Trace, precision: Any, param: str | None, only: str | None) -> None:
    check_precision(precision)
    if only is not None and only not in PHASES:
        raise ChainruleError(f"only: expected one of {', '.join(PHASES)}, got {only!r}")
    if param is None:
        return
    match = _ELEMENT_KEY.match(param) if isinstance(param, str) else None
    shape = None
    if match and match.group(1) in trace.parameters:
        shape = trace.parameters[match.group(1)].shape
        index = tuple(int(i) for i in match.group(2).split(","))
        if len(index) != len(shape) or any(i >= n for i, n in zip(index, shape)):
            shape = None
    if shape is None:
        names = ", ".join(f"{name}{list(values.shape)}" for name, values in
                          trace.parameters.items())
        raise ChainruleError(f"param: no parameter element {param!r}; expected a name and a "
                             f"0-based index such as W1[0,0], within: {names}")


def _facts(facts: dict) -> str:
    """Facts of the activation or loss table the scripts show (text forms, as the other
    formats write them), as data: the scripts keep no copy of them."""
    return json.dumps(facts, ensure_ascii=False)


def _script_json(data: dict) -> str:
    """JSON that cannot end its ``<script>`` early: ``</`` and ``<!--`` are escaped."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\u0021--")


def _attributes(attrs: dict[str, Any]) -> str:
    return " ".join(f'{name}="{html.escape(str(value), quote=True)}"'
                    for name, value in attrs.items() if value is not None)


def _asset(name: str) -> str:
    text = resources.files("chainrule.explain.render").joinpath("assets", name).read_text("utf-8")
    if "</script" in text.lower() or "</style" in text.lower():  # a bug in the asset, not input
        raise RuntimeError(f"render/assets/{name} would close its inline element early")
    return text


def _script(root_id: str) -> str:
    """All scripts in one function per trace, started once its root is in the document (a
    notebook may insert the HTML before it attaches it)."""
    body = "\n".join(f"// ---- {name}\n{_asset(name)}" for name in SCRIPTS)
    return (
        "(function () {\n\"use strict\";\n"
        f"{body}\n"
        "(function start(tries) {\n"
        f"  const root = document.getElementById({json.dumps(root_id)});\n"
        "  if (root) boot(root);\n"
        "  else if (tries < 50) setTimeout(() => start(tries + 1), 100);\n"
        "})(0);\n})();"
    )


def _fallback(trace: Trace, precision: int, only: str | None) -> str:
    """What shows where scripts do not run (off, or an untrusted notebook): the text form,
    whole (a ``param`` focus is left to the page, which also copes without chains)."""
    # render_text's Console writes into its buffer even inside Jupyter (force_jupyter=False)
    text = html.escape(render_text(trace, precision=precision, only=only))
    return (
        '<div class="cr-fallback"><p>This view draws the network with JavaScript, which is not '
        "running here (in Jupyter, trust the notebook). The same numbers as text:</p>"
        f"<pre>{text}</pre></div>"
    )
