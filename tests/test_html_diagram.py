"""The network page's diagram at a laptop's and a phone's width: every weight label drawn and
visible, none over another label or a node, text 12 px or more on the phone, the page never
scrolling sideways (the diagram's own region does), and a click on an edge selecting that
edge's weight, even where another edge's hit area lies on top."""

from __future__ import annotations

from pathlib import Path

import pytest

import chainrule as cr
from chainrule.explain.render.html import render_html
from tests.test_html import THREE_CLASS, browser  # noqa: F401  (the shared Chromium fixture)
from tests.page_helpers import assert_drag_pans

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NETWORKS = {"seed": "seed", "three_class": THREE_CLASS, "batch": EXAMPLES / "batch.json"}
VIEWPORTS = {"laptop": (1280, 800), "phone": (390, 844)}
SHOTS = Path("/tmp")


@pytest.fixture(scope="module")
def traces():
    return {name: cr.explain(source) for name, source in NETWORKS.items()}


@pytest.fixture
def open_at(browser, tmp_path):  # noqa: F811
    pages = []

    def _open(html: str, size):
        path = tmp_path / f"page{len(pages)}.html"
        path.write_text(html, encoding="utf-8")
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        page.problems = []
        page.on("console", lambda m: page.problems.append(m.text)
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda error: page.problems.append(str(error)))
        page.goto(path.as_uri())
        pages.append(page)
        return page

    yield _open
    for page in pages:
        page.close()


# Every text of the diagram and every node, as boxes on the screen; the SVG's scale.
BOXES = """() => {
  const svg = document.querySelector(".cr-svg:not(.cr-probe)");
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  const box = (n) => { const r = n.getBoundingClientRect();
    return { left: r.left, top: r.top, right: r.right, bottom: r.bottom }; };
  const texts = [...svg.querySelectorAll("text")].filter((t) => !t.closest(".cr-bias") &&
    !t.classList.contains("cr-unit-name") && !t.classList.contains("cr-in-box"));
  return {
    scale,
    labels: [...texts.map((t) => ({ text: t.textContent, key: t.dataset.labelFor || null,
      px: parseFloat(getComputedStyle(t).fontSize) * scale,
      shown: t.checkVisibility({ visibilityProperty: true, opacityProperty: true }),
      ...box(t) })),
      ...[...svg.querySelectorAll(".cr-bias")].map((g) => ({ text: g.textContent, key: null,
        px: parseFloat(getComputedStyle(g.querySelector("text")).fontSize) * scale,
        shown: true, ...box(g.querySelector("rect")) }))],
    nodes: [...svg.querySelectorAll(".cr-unit circle, .cr-loss rect")].map(box),
    weights: [...svg.querySelectorAll(".cr-edge")].map((g) => g.dataset.param),
  };
}"""

# A point on edge `key` at least 8 screen px from every other edge, not under a label, a bias
# tag or a unit, scrolled to the middle of the diagram's region; client coordinates.
EDGE_POINT = """(key) => {
  const svg = document.querySelector(".cr-svg:not(.cr-probe)");
  const scroller = document.querySelector(".cr-diagram-scroll");
  const lines = [...svg.querySelectorAll(".cr-edge")].map((g) => {
    const l = g.querySelector(".cr-line");
    return { key: g.dataset.param, a: { x: l.x1.baseVal.value, y: l.y1.baseVal.value },
      b: { x: l.x2.baseVal.value, y: l.y2.baseVal.value } };
  });
  const dist = (p, a, b) => { const dx = b.x - a.x, dy = b.y - a.y;
    const t = Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / (dx * dx + dy * dy)));
    return Math.hypot(p.x - a.x - t * dx, p.y - a.y - t * dy); };
  const own = lines.find((l) => l.key === key);
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  for (let i = 1; i < 40; i++) {
    const f = 0.5 + (i % 2 ? 1 : -1) * Math.floor(i / 2) / 40;
    const p = { x: own.a.x + f * (own.b.x - own.a.x), y: own.a.y + f * (own.b.y - own.a.y) };
    if (!lines.every((l) => l === own || dist(p, l.a, l.b) * scale > 8)) continue;
    const toScreen = () => new DOMPoint(p.x, p.y).matrixTransform(svg.getScreenCTM());
    let at = toScreen();
    const box = scroller.getBoundingClientRect();
    scroller.scrollLeft += at.x - (box.left + box.width / 2);
    scroller.scrollTop += at.y - (box.top + box.height / 2);
    at = toScreen();
    const top = document.elementFromPoint(at.x, at.y);
    if (!top || top.closest("text, .cr-bias, .cr-unit")) continue;
    return { x: at.x, y: at.y };
  }
  return null;
}"""


def apart(a: dict, b: dict) -> bool:
    return (a["right"] <= b["left"] + 0.5 or b["right"] <= a["left"] + 0.5 or
            a["bottom"] <= b["top"] + 0.5 or b["bottom"] <= a["top"] + 0.5)


@pytest.mark.parametrize("size", VIEWPORTS.values(), ids=VIEWPORTS.keys())
@pytest.mark.parametrize("which", NETWORKS)
def test_every_label_is_drawn_legible_and_apart(traces, open_at, which, size):
    trace = traces[which]
    page = open_at(render_html(trace), size)
    page.click('[data-role="next"]')
    page.screenshot(path=SHOTS / f"explain-{which}-{size[0]}.png", full_page=True)
    found = page.evaluate(BOXES)
    weights = [f"{name}[{i},{j}]" for name, values in trace.parameters.items()
               if name.startswith("W") for i in range(values.shape[0])
               for j in range(values.shape[1])]
    assert sorted(found["weights"]) == sorted(weights)
    edge_labels = [t for t in found["labels"] if t["key"]]
    assert sorted(t["key"] for t in edge_labels) == sorted(weights)  # none dropped
    assert all(t["shown"] for t in edge_labels)
    labels = found["labels"]
    for n, a in enumerate(labels):
        for b in labels[n + 1:]:
            assert apart(a, b), (a["text"], b["text"])
        for node in found["nodes"]:
            assert apart(a, node), a["text"]
    if size == VIEWPORTS["phone"]:
        assert min(t["px"] for t in labels) >= 12
    # The page never scrolls sideways: the diagram's own region does.
    assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
    assert page.problems == []


@pytest.mark.parametrize("size", VIEWPORTS.values(), ids=VIEWPORTS.keys())
@pytest.mark.parametrize("which", NETWORKS)
def test_clicking_each_edge_selects_its_weight(traces, open_at, which, size):
    page = open_at(render_html(traces[which], precision=4), size)
    for key in page.evaluate("[...document.querySelectorAll('.cr-edge')].map((g) => "
                             "g.dataset.param)"):
        point = page.evaluate(EDGE_POINT, key)
        assert point, f"edge {key} has no point clear of the others"
        page.mouse.click(point["x"], point["y"])
        assert page.locator(".cr-edge.is-selected").get_attribute("data-param") == key
        name, index = key[:2], key[3:-1].split(",")
        symbol = f"∂E/∂w{'¹²³'[int(name[1]) - 1]}"
        assert f"({key} in NumPy, from 0)" in page.locator("#chain").inner_text()
        assert symbol in page.locator("#chain").inner_text(), index
    assert page.problems == []


def test_a_crossing_edge_cannot_steal_a_click(traces, open_at):
    page = open_at(render_html(traces["three_class"]), VIEWPORTS["laptop"])
    # A point 2 to 4 px off edge A where the topmost hit band is edge B's, though A is nearer.
    found = page.evaluate("""() => {
      const svg = document.querySelector(".cr-svg:not(.cr-probe)");
      const edges = [...svg.querySelectorAll(".cr-edge")].map((g) => {
        const l = g.querySelector(".cr-line");
        return { g, a: { x: l.x1.baseVal.value, y: l.y1.baseVal.value },
          b: { x: l.x2.baseVal.value, y: l.y2.baseVal.value } };
      });
      const dist = (p, e) => { const dx = e.b.x - e.a.x, dy = e.b.y - e.a.y;
        const t = Math.max(0, Math.min(1, ((p.x - e.a.x) * dx + (p.y - e.a.y) * dy) /
          (dx * dx + dy * dy)));
        return Math.hypot(p.x - e.a.x - t * dx, p.y - e.a.y - t * dy); };
      for (const a of edges) {
        const dx = a.b.x - a.a.x, dy = a.b.y - a.a.y, n = Math.hypot(dx, dy);
        for (let f = 0.1; f < 0.9; f += 0.01) {
          for (const side of [2, -2, 3, -3, 4, -4]) {
            const o = { x: a.a.x + f * dx - side * dy / n, y: a.a.y + f * dy + side * dx / n };
            const at = new DOMPoint(o.x, o.y).matrixTransform(svg.getScreenCTM());
            const top = document.elementFromPoint(at.x, at.y);
            const b = top && top.classList.contains("cr-hit") && top.closest(".cr-edge");
            if (!b || b === a.g) continue;
            const other = edges.find((e) => e.g === b);
            if (dist(o, other) > dist(o, a) + 1) {
              return { x: at.x, y: at.y, want: a.g.dataset.param, dom: b.dataset.param };
            }
          }
        }
      }
      return null;
    }""")
    assert found, "no crossing where the topmost hit band is the farther edge"
    page.mouse.click(found["x"], found["y"])
    assert page.locator(".cr-edge.is-selected").get_attribute("data-param") == found["want"]
    assert page.problems == []


def test_phone_zooms_and_pans_the_diagram(traces, open_at):
    page = open_at(render_html(traces["three_class"]), VIEWPORTS["phone"])
    svg, scroller = page.locator(".cr-svg:not(.cr-probe)"), page.locator(".cr-diagram-scroll")
    width = svg.bounding_box()["width"]
    assert page.locator('[data-role="zoom-reset"]').inner_text() == "100%"
    page.click('[data-role="zoom-in"]')
    assert svg.bounding_box()["width"] == pytest.approx(width * 1.25, rel=1e-3)
    page.click('[data-role="zoom-fit"]')
    assert svg.bounding_box()["width"] <= scroller.bounding_box()["width"]
    page.click('[data-role="zoom-reset"]')
    assert_drag_pans(page, scroller)
    assert page.locator(".cr-edge.is-selected").count() == 0  # a drag is not a click
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.problems == []


@pytest.mark.parametrize("precision", [10, 17])
def test_long_numbers_still_place_every_label(open_at, precision):
    trace = cr.explain(THREE_CLASS)
    page = open_at(render_html(trace, precision=precision), VIEWPORTS["laptop"])
    found = page.evaluate(BOXES)
    assert len([t for t in found["labels"] if t["key"]]) == len(found["weights"]) == 15
    labels = found["labels"]
    for n, a in enumerate(labels):
        assert all(apart(a, b) for b in labels[n + 1:]), a["text"]
        assert all(apart(a, node) for node in found["nodes"]), a["text"]
    assert page.problems == []


# Rules of the kind Jupyter's rendered-HTML styles apply to every output (and that broke the
# header's facts, "Archi2-2-1ture:"): floated, narrow dt and dd, padded rows, tables laid out
# fixed and striped, svg capped at the width, headings with margins.
NOTEBOOK_CSS = """
.jp-RenderedHTMLCommon { font-size: 14px; line-height: 1.7; padding-right: 20px; }
.jp-RenderedHTMLCommon dl { margin: 1em 2em; }
.jp-RenderedHTMLCommon dt { float: left; clear: left; width: 40px; font-weight: bold;
  text-align: right; overflow: visible; white-space: nowrap; }
.jp-RenderedHTMLCommon dd { float: left; margin-left: -20px; padding: 0 1em; width: 60px; }
.jp-RenderedHTMLCommon p { margin: 0 0 1em; text-align: justify; }
.jp-RenderedHTMLCommon h1, .jp-RenderedHTMLCommon h2:first-child { margin: 1.5em 0 1em;
  padding: 4px; }
.jp-RenderedHTMLCommon ol { padding-left: 2em; margin: 1em; }
.jp-RenderedHTMLCommon li { margin: 0.5em 0; }
.jp-RenderedHTMLCommon table { table-layout: fixed; width: 100%; margin-left: auto;
  margin-right: auto; font-size: 12px; border: none; }
.jp-RenderedHTMLCommon tr, .jp-RenderedHTMLCommon th, .jp-RenderedHTMLCommon td {
  padding: 0.5em; line-height: normal; white-space: normal; max-width: none; }
.jp-RenderedHTMLCommon tbody tr:nth-child(odd) { background: #f5f5f5; }
.jp-RenderedHTMLCommon img, .jp-RenderedHTMLCommon svg { max-width: 100%; height: auto; }
.jp-RenderedHTMLCommon pre { background: #eee; padding: 1em; }
"""


@pytest.mark.parametrize("size", VIEWPORTS.values(), ids=VIEWPORTS.keys())
def test_page_keeps_its_layout_under_notebook_styles(traces, open_at, size):
    html = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>nb</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{NOTEBOOK_CSS}</style></head><body>"
            '<div class="jp-RenderedHTMLCommon jp-OutputArea-output">'
            f"{traces['three_class']._repr_html_()}</div></body></html>")
    page = open_at(html, size)
    facts = page.evaluate("""() => [...document.querySelectorAll(".cr-facts div")].map((d) => {
      const [t, v] = [d.querySelector("dt"), d.querySelector("dd")].map((n) => {
        const range = document.createRange(); // the text's own box: it may overflow its dt
        range.selectNodeContents(n);
        const r = range.getBoundingClientRect();
        return { text: n.textContent, left: r.left, right: r.right, top: r.top, bottom: r.bottom };
      });
      return { t, v };
    })""")
    assert [f["t"]["text"] for f in facts][:2] == ["Architecture", "Activations"]
    for fact in facts:
        term, value = fact["t"], fact["v"]
        assert term["right"] <= value["left"] + 0.5, (term["text"], value["text"])
    every = [f[k] for f in facts for k in "tv"]
    for n, a in enumerate(every):
        assert all(apart(a, b) for b in every[n + 1:]), a["text"]
    found = page.evaluate(BOXES)
    assert len([t for t in found["labels"] if t["key"]]) == 15
    labels = found["labels"]
    for n, a in enumerate(labels):
        assert all(apart(a, b) for b in labels[n + 1:]), a["text"]
        assert all(apart(a, node) for node in found["nodes"]), a["text"]
    if size == VIEWPORTS["phone"]:
        assert min(t["px"] for t in labels) >= 12
    assert page.evaluate("document.documentElement.scrollWidth") <= size[0]
    page.screenshot(path=SHOTS / f"explain-notebook-{size[0]}.png", full_page=True)
    assert page.problems == []
