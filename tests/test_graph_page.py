"""The computational-graph page: self-contained and escaped as text; in headless Chromium, at a
laptop's and a phone's width, every value and gradient is drawn, legible and apart; clicks on
wires and keys on nodes explain the right chain-rule step; stepping is announced."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from chainrule.errors import ChainruleError
from chainrule.render.graph_model import resolve
from chainrule.render.graph_page import SCRIPTS, STYLE, render_graph_html
from chainrule.render.numfmt import number
from tests.graph_fixtures import CS231N, HOSTILE, NETWORK, NEURON, REUSED, build, edges_of
from tests.test_html import browser  # noqa: F401  (the shared Chromium fixture)

GRAPHS = {"cs231n": CS231N, "reused": REUSED, "network": NETWORK, "neuron": NEURON}
VIEWPORTS = {"laptop": (1280, 800), "phone": (390, 844)}


def embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" class="gp-data">(.*?)</script>', page,
                      re.S)
    assert match, "no embedded graph"
    return json.loads(match.group(1))


# --- the HTML text -----------------------------------------------------------------------------


def test_page_is_one_self_contained_document():
    page = render_graph_html(CS231N)
    assert page.startswith("<!doctype html>\n<html lang=\"en\">")
    assert "<title>Computational graph of f · chainrule</title>" in page
    assert not re.search(r"""\b(src|href)\s*=""", page)
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) <= {"http://www.w3.org/2000/svg"}
    assert "sourceMappingURL" not in page
    assert page.count("<script>") == 1 and page.count("<style>") == 1
    assert "dagre" in page and "Chris Pettitt" not in page  # the library, not its licence
    data = embedded(page)
    assert [n["name"] for n in data["nodes"]] == ["x", "y", "z", "q", "f"]
    assert data["output"] == 4


def test_hostile_names_stay_data():
    graph = build([("x</script><script>alert(1)</script>", 1.0), ("<!--", 2.0),
                   (HOSTILE, "mul", ["x</script><script>alert(1)</script>", "<!--"])])
    page = render_graph_html(graph, title="</title><b>t</b>")
    body = page.split('class="gp-data">', 1)[1].split("</script>", 1)[0]
    assert "</" not in body and "<!--" not in body
    assert [n["name"] for n in embedded(page)["nodes"]][2] == HOSTILE
    assert "<img" not in page.replace(HOSTILE, "")  # only inside the JSON, escaped
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the text fallback
    assert "<title>&lt;/title&gt;&lt;b&gt;t&lt;/b&gt; · chainrule</title>" in page


def test_fragments_are_divs_with_distinct_ids():
    first, second = (render_graph_html(REUSED, fragment=True) for _ in range(2))
    assert first.startswith('<div class="gp-fragment">') and first.rstrip().endswith("</div>")
    assert "<html" not in first and "<title" not in first and "<style>" in first
    ids = [set(re.findall(r'\bid="([^"]+)"', f)) for f in (first, second)]
    assert ids[0] and not ids[0] & ids[1]


def test_assets_inline_safely():
    folder = resources.files("chainrule.render") / "assets"
    for name in (*SCRIPTS, STYLE):
        text = (folder / name).read_text("utf-8")
        assert "</script" not in text.lower() and "</style" not in text.lower(), name
        if not name.startswith("vendor/"):
            assert max(len(line) for line in text.splitlines()) <= 100, name
    assert (folder / "vendor" / "dagre.LICENSE").read_text("utf-8").startswith("Copyright")


def test_resolving_pairs_wires_and_sums_paths():
    view = resolve(REUSED)
    a = view["nodes"][0]
    assert [view["edges"][k]["target"] for k in a["out_edges"]] == [2, 3]
    terms = [view["edges"][k]["contribution"] for k in a["out_edges"]]
    # p = ab = -6 and s = a + b = 1: ∂f/∂p = s = 1 times ∂p/∂a = b, ∂f/∂s = p times 1
    assert terms == [pytest.approx(1.0 * -2.0), pytest.approx(-6.0 * 1.0)]
    assert a["path_sum"] == pytest.approx(REUSED["nodes"][0]["grad"]) == pytest.approx(-8.0)
    square = resolve(NETWORK)["nodes"][-1]  # L = d·d: two wires from d, one local each
    assert len(square["in_edges"]) == 2
    neuron = resolve(NEURON)
    second_s = neuron["nodes"][8]
    assert neuron["edges"][second_s["in_edges"][0]]["source"] == 7  # the first s, reassigned
    ids = {**CS231N, "nodes": [{**n, "id": f"n{i}", "inputs": [f"n{j}" for j in
                                ({3: [0, 1], 4: [3, 2]}.get(i, []))]}
                               for i, n in enumerate(CS231N["nodes"])], "output": "n4"}
    assert resolve(ids)["edges"] == resolve(CS231N)["edges"]


@pytest.mark.parametrize(("graph", "message"), [
    ([], "expected a chainrule.graph/1 dict"), ({"schema": "x", "nodes": []}, "schema"),
    ({"schema": "chainrule.graph/1", "nodes": []}, "non-empty"),
    ({**CS231N, "nodes": CS231N["nodes"][::-1]}, "not an earlier node"),
    ({**CS231N, "output": "g"}, "graph.output"),
    ({**CS231N, "nodes": [{**CS231N["nodes"][0], "value": "1"}]}, r"nodes\[0\].value"),
    ({**CS231N, "nodes": [{**CS231N["nodes"][0], "name": ""}]}, r"nodes\[0\].name"),
])
def test_malformed_graphs_are_refused(graph, message):
    with pytest.raises(ChainruleError, match=message):
        render_graph_html(graph)


@pytest.mark.parametrize("precision", [-1, 18, 2.5, True])
def test_bad_precision_is_refused(precision):
    with pytest.raises(ChainruleError, match="precision"):
        render_graph_html(CS231N, precision=precision)
