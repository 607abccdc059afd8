"""The computational-graph page: self-contained and escaped as text; in headless Chromium, at a
laptop's and a phone's width, every value and gradient is drawn, legible and apart; clicks on
wires and keys on nodes explain the right chain-rule step; stepping is announced."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from chainrule.errors import ChainruleError
from chainrule.explain.render.graph_page import SCRIPTS, STYLE, render_graph_html
from chainrule.explain.numfmt import number
from tests.graph_fixtures import CS231N, HOSTILE, NETWORK, NEURON, REUSED, build, edges_of
from tests.test_html import browser  # noqa: F401  (the shared Chromium fixture)
from tests.page_helpers import assert_drag_pans

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
    assert "var dagre=" in page and "Copyright (c) 2012-2014 Chris Pettitt" in page  # + licence
    assert "For license information" not in page
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
    folder = resources.files("chainrule.explain.render") / "assets"
    for name in (*SCRIPTS, STYLE):
        text = (folder / name).read_text("utf-8")
        assert "</script" not in text.lower() and "</style" not in text.lower(), name
        if not name.startswith("vendor/"):
            assert max(len(line) for line in text.splitlines()) <= 100, name
    assert (folder / "vendor" / "dagre.LICENSE").read_text("utf-8").startswith("Copyright")


@pytest.mark.parametrize("precision", [-1, 18, 2.5, True])
def test_bad_precision_is_refused(precision):
    with pytest.raises(ChainruleError, match="precision"):
        render_graph_html(CS231N, precision=precision)


# --- in the browser ----------------------------------------------------------------------------

LABELS = """() => {
  const svg = document.querySelector(".gp-svg");
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return [...document.querySelectorAll(".gp-label")].map((t) => {
    const r = t.getBoundingClientRect();
    return { text: t.textContent, cls: t.getAttribute("class"), node: t.dataset.node,
      left: r.left, top: r.top, right: r.right, bottom: r.bottom,
      shown: t.checkVisibility({ visibilityProperty: true }),
      px: parseFloat(getComputedStyle(t).fontSize) * scale };
  });
}"""

# A point on wire k, scrolled into view, at least 4 px from every other wire; client coords.
WIRE_POINT = """(k) => {
  const path = document.querySelector(`.gp-edge[data-edge="${k}"] .gp-wire`);
  const others = [...document.querySelectorAll(".gp-wire")].filter((p) => p !== path)
    .flatMap((p) => Array.from({ length: Math.ceil(p.getTotalLength()) + 1 },
      (_, i) => p.getPointAtLength(i)));
  const length = path.getTotalLength();
  for (const f of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.45, 0.55, 0.35, 0.65]) {
    const p = path.getPointAtLength(length * f);
    if (!others.every((q) => Math.hypot(q.x - p.x, q.y - p.y) > 4)) continue;
    const scroller = document.querySelector(".gp-scroll");
    let at = p.matrixTransform(path.getScreenCTM());
    const box = scroller.getBoundingClientRect();
    scroller.scrollLeft += at.x - (box.left + box.width / 2);
    scroller.scrollTop += at.y - (box.top + box.height / 2);
    at = p.matrixTransform(path.getScreenCTM());
    return { x: at.x, y: at.y };
  }
  return null;
}"""


@pytest.fixture
def open_graph(browser, tmp_path):  # noqa: F811
    """Open a graph's page from a file at a viewport; record requests, dialogs and problems."""
    pages = []

    def _open(html: str, size=(1280, 800)):
        path = tmp_path / f"graph{len(pages)}.html"
        path.write_text(html, encoding="utf-8")
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        page.seen = {"requests": [], "dialogs": [], "problems": []}
        page.on("request", lambda r: page.seen["requests"].append(r.url))
        page.on("dialog", lambda d: (page.seen["dialogs"].append(d.message), d.dismiss()))
        page.on("console", lambda m: page.seen["problems"].append(m.text)
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda error: page.seen["problems"].append(str(error)))
        page.goto(path.as_uri())
        page.seen["url"] = path.as_uri()
        pages.append(page)
        return page

    yield _open
    for page in pages:
        page.close()


def quiet(page) -> None:
    """Nothing fetched but the page itself, no dialog, nothing on the console."""
    assert page.seen["requests"] == [page.seen["url"]]
    assert page.seen["dialogs"] == [] and page.seen["problems"] == []


@pytest.mark.parametrize("size", VIEWPORTS.values(), ids=VIEWPORTS.keys())
@pytest.mark.parametrize("which", GRAPHS)
def test_every_label_is_drawn_legible_and_apart(open_graph, which, size):
    graph = GRAPHS[which]
    page = open_graph(render_graph_html(graph), size)
    page.screenshot(path=f"/tmp/graph-page-{which}-{size[0]}.png", full_page=True)
    labels = page.evaluate(LABELS)
    for i, node in enumerate(graph["nodes"]):
        for cls, key in (("gp-value", "value"), ("gp-grad", "grad")):
            [label] = [t for t in labels if cls in t["cls"] and t["node"] == str(i)]
            assert label["text"] == number(node[key], 4) and label["shown"], (node["name"], key)
    names = [t["text"] for t in labels if "gp-name" in t["cls"]]
    assert names == [node["name"] for node in graph["nodes"]]
    assert min(t["px"] for t in labels) >= 12
    for n, a in enumerate(labels):
        for b in labels[n + 1:]:
            apart = (a["right"] <= b["left"] + 0.5 or b["right"] <= a["left"] + 0.5 or
                     a["bottom"] <= b["top"] + 0.5 or b["bottom"] <= a["top"] + 0.5)
            assert apart, (a["text"], b["text"])
    # The page never scrolls sideways: the diagram's own region does.
    assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
    quiet(page)


@pytest.mark.parametrize("size", VIEWPORTS.values(), ids=VIEWPORTS.keys())
@pytest.mark.parametrize("which", ["cs231n", "reused", "network"])
def test_clicking_each_wire_explains_its_chain_rule_step(open_graph, which, size):
    graph = GRAPHS[which]
    nodes, out = graph["nodes"], graph["output"]
    page = open_graph(render_graph_html(graph), size)
    for k, (source, target, slot) in enumerate(edges_of(graph)):
        point = page.evaluate(WIRE_POINT, k)
        assert point, f"wire {k} has no point clear of the others"
        page.mouse.click(point["x"], point["y"])
        assert page.locator(".gp-edge.is-selected").get_attribute("data-edge") == str(k)
        up, local = nodes[target]["grad"], nodes[target]["local"][slot]["value"]
        s, t = nodes[source]["name"], nodes[target]["name"]
        panel = page.locator('[data-role="panel"]').inner_text()
        assert f"Wire {s} → {t}" in panel
        assert (f"∂{out}/∂{t} · ∂{t}/∂{s} = ({number(up, 4)})({number(local, 4)}) = "
                f"{number(up * local, 4)}") in panel
        uses = sum(1 for e in edges_of(graph) if e[0] == source)
        if uses == 1:
            assert f"∂{out}/∂{s} = ∂{out}/∂{t} ·" in panel
        else:
            assert f"one of the {uses} paths from {s}" in panel
            assert f"= {number(nodes[source]['grad'], 4)} ({uses} paths" in panel
    quiet(page)


def test_a_crossing_wire_cannot_steal_a_click(open_graph):
    page = open_graph(render_graph_html(NETWORK))
    # A point 7 px off wire A that the DOM gives to wire B's wide hit stroke, but A is nearer.
    found = page.evaluate("""() => {
      const wires = [...document.querySelectorAll(".gp-edge")];
      const dist = (path, p) => Math.min(...Array.from({ length: Math.ceil(
        path.getTotalLength()) + 1 }, (_, i) => { const q = path.getPointAtLength(i);
        return Math.hypot(q.x - p.x, q.y - p.y); }));
      for (const a of wires) {
        const path = a.querySelector(".gp-wire");
        for (let s = 4; s < path.getTotalLength() - 4; s += 2) {
          const p = path.getPointAtLength(s);
          const q = path.getPointAtLength(s + 1);
          const n = Math.hypot(q.x - p.x, q.y - p.y) || 1;
          for (const side of [7, -7]) {
            const o = new DOMPoint(p.x - side * (q.y - p.y) / n, p.y + side * (q.x - p.x) / n);
            const at = o.matrixTransform(path.getScreenCTM());
            const top = document.elementFromPoint(at.x, at.y);
            const b = top && top.closest(".gp-edge");
            if (!b || b === a || !top.classList.contains("gp-hit")) continue;
            if (dist(b.querySelector(".gp-wire"), o) > dist(path, o) + 2) {
              return { x: at.x, y: at.y, want: a.dataset.edge, dom: b.dataset.edge };
            }
          }
        }
      }
      return null;
    }""")
    assert found, "no crossing where the topmost hit stroke is the farther wire"
    page.mouse.click(found["x"], found["y"])
    assert page.locator(".gp-edge.is-selected").get_attribute("data-edge") == found["want"]
    quiet(page)


def test_keyboard_steps_are_announced(open_graph):
    page = open_graph(render_graph_html(REUSED))
    status = page.locator('[data-role="status"]')
    assert status.get_attribute("aria-live") == "polite"
    page.locator(".gp-root").focus()
    page.keyboard.press("n")
    assert status.inner_text() == "Step 1 of 12. Forward: a = 3.0000 (an input)"
    assert page.locator('.gp-node[data-node="0"] .gp-grad').get_attribute("class").count(
        "is-pending") == 1
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    assert status.inner_text() == ("Step 5 of 12. Forward: f = p · s = (-6.0000) · (1.0000) = "
                                   "-6.0000")
    page.keyboard.press("n")
    assert "Backward starts at the output: ∂f/∂f = 1.0000" in status.inner_text()
    page.keyboard.press("End")
    text = status.inner_text()
    assert "Step 12 of 12. Backward, wire b → p, path 2 of 2 into ∂f/∂b" in text
    assert "All paths in: ∂f/∂b = 3.0000 + (-6.0000) = -3.0000" in text
    page.keyboard.press("p")
    assert "wire a → p, path 2 of 2 into ∂f/∂a" in status.inner_text()
    assert "∂f/∂a = (-2.0000) + (-6.0000) = -8.0000" in status.inner_text()
    page.keyboard.press("Home")
    assert status.inner_text().startswith("Step 0 of 12. The whole graph")
    # Tab to a node and press Enter: its gradient as the sum of its paths.
    page.locator('.gp-node[data-node="0"]').focus()
    page.keyboard.press("Enter")
    panel = page.locator('[data-role="panel"]').inner_text()
    assert "∂f/∂a = ∂f/∂p · ∂p/∂a + ∂f/∂s · ∂s/∂a" in panel
    assert "= (1.0000)(-2.0000) + (-6.0000)(1.0000)" in panel and "= -8.0000 (2 paths" in panel
    assert "∂p/∂a = b; here ∂p/∂a" not in panel  # a leaf has no local derivatives of its own
    quiet(page)


def test_hostile_name_is_shown_as_text(open_graph):
    page = open_graph(render_graph_html(NEURON))
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    assert HOSTILE in page.locator(".gp-name").all_text_contents()
    index = [n["name"] for n in NEURON["nodes"]].index(HOSTILE)
    page.locator(f'.gp-node[data-node="{index}"]').focus()
    page.keyboard.press("Enter")
    assert f"{HOSTILE} = exp(n)" in page.locator('[data-role="panel"]').inner_text()
    quiet(page)


def test_phone_zooms_and_pans_the_diagram(open_graph):
    page = open_graph(render_graph_html(NETWORK), VIEWPORTS["phone"])
    svg, scroller = page.locator(".gp-svg"), page.locator(".gp-scroll")
    width = float(svg.get_attribute("width"))
    page.click('[data-role="zoom-in"]')
    assert float(svg.get_attribute("width")) == pytest.approx(width * 1.25, rel=1e-3)
    page.click('[data-role="zoom-reset"]')
    assert_drag_pans(page, scroller)
    assert page.locator(".is-selected").count() == 0  # a drag is not a click
    quiet(page)


def test_two_fragments_share_a_page(open_graph):
    html = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>two</title>'
            f"</head><body>{render_graph_html(CS231N, fragment=True)}<hr>"
            f"{render_graph_html(CS231N, fragment=True)}</body></html>")
    page = open_graph(html)
    ids = page.evaluate("[...document.querySelectorAll('[id]')].map((e) => e.id)")
    assert len(ids) == len(set(ids))
    first, second = page.locator(".gp-root").nth(0), page.locator(".gp-root").nth(1)
    first.locator('[data-role="next"]').click()
    page.keyboard.press("n")
    assert first.locator('[data-role="counter"]').inner_text() == "Step 2 of 10"
    assert second.locator('[data-role="counter"]').inner_text() == "Step 0 of 10"
    quiet(page)


# --- graphs of arrays: a network's recorded step ---------------------------------------------

def _brief(value, precision=4):
    """What the diagram writes for a value: a number, a short array in full, else its shape."""
    import numpy as np

    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return number(float(array), precision)
    if array.size > 4:
        return "[" + "×".join(map(str, array.shape)) + "]"
    def text(a):
        return ("[" + ", ".join(text(x) for x in a) + "]" if np.ndim(a)
                else number(float(a), precision))
    return text(array)


ARRAY_GRAPHS = {
    "seed step": lambda: __import__("chainrule").explain("seed").graph.to_dict(),
    "batch of softmax": lambda: __import__("chainrule").explain({
        "layers": [2, 3, 3], "activations": ["tanh", "softmax"], "loss": "cross_entropy",
        "learning_rate": 0.5, "seed": 3, "inputs": [[0.5, -1.0], [2.0, 0.25]],
        "targets": [2, 0]}).graph.to_dict(),
}


@pytest.mark.parametrize("size", VIEWPORTS.values(), ids=VIEWPORTS.keys())
@pytest.mark.parametrize("which", ARRAY_GRAPHS)
def test_a_graph_of_arrays_is_drawn_and_explained(open_graph, which, size):
    """Values and gradients that are arrays are drawn (in full when short, by shape when
    not), apart; a wire into an array explains its vector-Jacobian product, and a node's
    panel lists its whole gradient."""
    graph = ARRAY_GRAPHS[which]()
    page = open_graph(render_graph_html(graph, precision=4), size)
    labels = page.evaluate(LABELS)
    for i, node in enumerate(graph["nodes"]):
        [value] = [t for t in labels if "gp-value" in t["cls"] and t["node"] == str(i)]
        assert value["text"] == _brief(node["value"]) and value["shown"], node["name"]
    for n, a in enumerate(labels):
        for b in labels[n + 1:]:
            assert (a["right"] <= b["left"] + 0.5 or b["right"] <= a["left"] + 0.5 or
                    a["bottom"] <= b["top"] + 0.5 or b["bottom"] <= a["top"] + 0.5), \
                (a["text"], b["text"])
    names = [node["name"] for node in graph["nodes"]]
    w1 = names.index("W1")
    page.locator(f'.gp-node[data-node="{w1}"]').first.focus()
    page.keyboard.press("Enter")
    panel = page.locator('[data-role="panel"]').inner_text()
    grad = graph["nodes"][w1]["grad"]
    shown = "[" + ", ".join("[" + ", ".join(number(x, 4) for x in row) + "]"
                            for row in grad) + "]"
    assert (f"∂E/∂W1 = ∂E/∂z1 · ∂z1/∂W1 = {shown} (the rule a0ᵀ @ g, with g = ∂E/∂z1)"
            in panel)
    page.locator(f'.gp-node[data-node="{names.index("z1")}"]').first.focus()
    page.keyboard.press("Enter")
    panel = page.locator('[data-role="panel"]').inner_text()
    assert "a0 is a constant: no gradient goes back to it" in panel
    assert "∂z1/∂W1 is a Jacobian, not one number: back along this wire goes g·J = " in panel
    assert "The trace records" not in panel  # the paths' sum is the recorded gradient
    quiet(page)
