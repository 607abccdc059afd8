"""The HTML page: self-contained, and in headless Chromium it steps through the training step,
shows chain rules, and writes the same digits as chainrule.explain.numfmt."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ChainruleError
from chainrule.explain.render.html import SCRIPTS, STYLE, render_html
from chainrule.explain.numfmt import Significant, number

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
THREE_CLASS = {"layers": [2, 3, 3], "activations": ["tanh", "softmax"], "loss": "cross_entropy",
               "input": [0.5, -0.2], "target": 2, "learning_rate": 0.1, "seed": 4}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def seed():
    return cr.explain("seed")


@pytest.fixture(scope="module")
def three_class():
    return cr.explain(THREE_CLASS)


@pytest.fixture(scope="module")
def batch():
    return cr.explain(EXAMPLES / "batch.json")


def embedded_json(page: str) -> dict:
    match = re.search(r'<script type="application/json" class="cr-trace">(.*?)</script>', page,
                      re.S)
    assert match, "no embedded trace"
    return json.loads(match.group(1))


# --- the HTML text -----------------------------------------------------------------------------


def test_page_is_one_self_contained_document(seed):
    page = render_html(seed)
    assert page.startswith("<!doctype html>\n<html lang=\"en\">")
    assert '<meta charset="utf-8">' in page and 'name="viewport"' in page
    assert "<title>seed · chainrule explain</title>" in page
    # Nothing is fetched: no src or href attribute at all, no URL outside a namespace string.
    assert not re.search(r"""\b(src|href)\s*=""", page)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert page.count("<script>") == 1 and page.count("<style>") == 1
    assert embedded_json(page) == json.loads(seed.to_json())
    assert page.rstrip().endswith("</html>")


def test_embedded_json_cannot_close_its_script():
    spec = {**THREE_CLASS, "name": "x</script><script>alert(1)</script>",
            "description": "<!-- a comment opener and </style>"}
    page = render_html(cr.explain(spec))
    body = page.split('class="cr-trace">', 1)[1].split("</script>", 1)[0]
    assert "</" not in body and "<!--" not in body
    assert embedded_json(page)["network"]["name"] == spec["name"]
    assert "<title>x&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt; ·" in page


def test_fragment_is_a_div_with_its_own_style_script_and_ids(seed):
    first, second = render_html(seed, fragment=True), render_html(seed, fragment=True)
    assert first.startswith('<div class="cr-fragment">') and first.rstrip().endswith("</div>")
    assert "<html" not in first and "<head" not in first and "<title" not in first
    assert "<style>" in first and "<script>" in first
    first_ids, second_ids = (set(re.findall(r'\bid="([^"]+)"', f)) for f in (first, second))
    assert first_ids and not first_ids & second_ids
    assert seed._repr_html_().startswith('<div class="cr-fragment">')


def test_assets_are_package_files_that_inline_safely():
    from importlib import resources

    folder = resources.files("chainrule.explain.render") / "assets"
    for name in (*SCRIPTS, STYLE):
        text = (folder / name).read_text("utf-8")
        assert "</script" not in text.lower() and "</style" not in text.lower()
        assert max(len(line) for line in text.splitlines()) <= 100, name


@pytest.mark.parametrize(("options", "message"), [
    ({"precision": -1}, "precision"), ({"precision": 18}, "precision"),
    ({"precision": 2.5}, "precision"), ({"only": "sideways"}, "only"),
    ({"param": "W3[0,0]"}, "param"), ({"param": "W1[2,0]"}, "param"),
    ({"param": "W1[0]"}, "param"), ({"param": "w1[0,0]"}, "param"),
])
def test_bad_options_are_refused(seed, options, message):
    with pytest.raises(ChainruleError, match=message):
        render_html(seed, **options)


# --- in the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not installed (the browser tests use the system's chromium)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser, tmp_path):
    """Open HTML from a file, as a reader would; return the page and its console problems."""
    pages = []

    def _open(html: str, name: str = "page.html"):
        path = tmp_path / name
        path.write_text(html, encoding="utf-8")
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        problems: list[str] = []
        page.on("console", lambda m: problems.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.goto(path.as_uri())
        pages.append(page)
        return page, problems

    yield _open
    for page in pages:
        page.close()


def text(page, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def test_seed_page_steps_forward_and_back(seed, open_page):
    page, problems = open_page(render_html(seed))
    assert text(page, "#step-title") == "Input a⁰"
    assert "Step 1 of 12" in text(page, ".cr-counter")
    assert page.locator("#prev").is_disabled()
    assert text(page, "#loss") != "0.0004273090"  # not computed yet
    for _ in range(5):
        page.click("#next")
    assert text(page, "#step-title") == "Loss E"
    assert text(page, "#loss") == "0.0004273090" == number(seed.loss, 10)
    assert text(page, '[data-grad="W1[0,0]"]') == "…"
    for _ in range(5):  # ∂E/∂a², δ², ∂W², δ¹, ∂W¹
        page.click("#next")
    assert text(page, "#step-title") == "Gradients ∂E/∂W¹, ∂E/∂b¹"
    assert text(page, '[data-grad="W1[0,0]"]') == "-0.0005555079"
    for name, values in seed.gradients.items():
        for index in np.ndindex(values.shape):
            key = f"{name}[{','.join(map(str, index))}]"
            assert text(page, f'[data-grad="{key}"]') == number(values[index], 10), key
    page.click("#prev")
    assert text(page, "#step-title") == "Delta δ¹ = ∂E/∂z¹"
    assert text(page, '[data-grad="W1[0,0]"]') == "…"
    assert text(page, '[data-grad="W2[0,0]"]') == number(seed.gradients["W2"][0, 0], 10)

    page.keyboard.press("ArrowRight")
    assert "Step 11 of 12" in text(page, ".cr-counter")
    page.keyboard.press("n")
    assert text(page, "#step-title").startswith("Update")
    assert page.locator("#next").is_disabled()
    assert number(seed.loss_after, 10) in text(page, '[data-role="loss-after"]')
    page.keyboard.press("p")
    page.keyboard.press("ArrowLeft")
    assert "Step 10 of 12" in text(page, ".cr-counter")
    page.keyboard.press("Home")
    assert text(page, "#step-title") == "Input a⁰"
    assert problems == []


def test_clicking_an_edge_shows_its_chain_rule(seed, open_page):
    page, problems = open_page(render_html(seed, precision=4))
    page.click('[data-param="W1[0,0]"]')
    chain = text(page, "#chain")
    assert "∂E/∂w¹₁₁ = ∂E/∂a²₁ · ∂a²₁/∂z²₁ · ∂z²₁/∂a¹₁ · ∂a¹₁/∂z¹₁ · ∂z¹₁/∂w¹₁₁" in chain
    assert "(-0.0413)(0.2178)(0.5000)(0.2467)(0.5000)" in chain
    assert "-0.0006" in chain  # the gradient, at 4 decimals
    assert "∂a²₁/∂z²₁ = a²₁(1 − a²₁) = 0.2178" in chain
    assert "is-selected" in page.locator('[data-param="W1[0,0]"]').get_attribute("class")
    # Keyboard: Tab to an edge, Enter.
    page.focus('[data-param="W2[1,0]"]')
    page.keyboard.press("Enter")
    assert "∂E/∂w²₂₁" in text(page, "#chain")
    page.focus('[data-param="b1[1]"]')
    page.keyboard.press("Enter")
    assert "∂E/∂b¹₂" in text(page, "#chain")
    assert problems == []


def test_softmax_network_shows_the_delta_form(three_class, open_page):
    page, problems = open_page(render_html(three_class))
    page.focus('[data-param="W1[0,0]"]')
    page.keyboard.press("Enter")
    chain = text(page, "#chain")
    delta = three_class.to_dict()["deltas"]["delta1[0]"]
    assert "9 paths" in chain
    assert "∂E/∂w¹₁₁ = δ¹₁ · ∂z¹₁/∂w¹₁₁" in chain
    assert delta["rule"] in chain and number(delta["value"], 10) in chain
    assert "δ²₁ = Σₘ ∂E/∂a²ₘ · ∂a²ₘ/∂z²₁" in chain  # the next layer's softmax deltas
    page.keyboard.press("End")
    assert text(page, "#step-title").startswith("Update")
    assert text(page, "#loss") == number(three_class.loss, 10)
    assert problems == []


def test_batch_page_picks_examples_and_sums_over_them(batch, open_page):
    page, problems = open_page(render_html(batch))
    page.focus('[data-param="W1[0,1]"]')
    page.keyboard.press("Enter")
    chain = text(page, "#chain")
    assert "sum over the 4 examples" in chain
    assert "δ¹⁽¹⁾₂ · ∂z¹⁽¹⁾₂/∂w¹₁₂ + δ¹⁽²⁾₂" in chain
    assert "for example 1, δ¹⁽¹⁾₂" in chain
    page.select_option('[data-role="example"]', "2")
    assert "for example 3, δ¹⁽³⁾₂" in text(page, "#chain")
    assert "[1.0000000000, 0.0000000000]" in text(page, ".cr-worksheet")
    page.keyboard.press("End")
    for key in ("W1[1,2]", "b2[0]"):
        name, index = key.split("[")
        value = batch.gradients[name][tuple(int(i) for i in index.rstrip("]").split(","))]
        assert text(page, f'[data-grad="{key}"]') == number(value, 10)
    assert problems == []


def test_param_opens_on_its_chain_rule(seed, open_page):
    page, problems = open_page(render_html(seed, param="W2[1,0]"))
    assert "∂E/∂w²₂₁" in text(page, "#chain")
    assert text(page, "#step-title") == "Gradients ∂E/∂W², ∂E/∂b²"
    assert "is-selected" in page.locator('[data-param="W2[1,0]"]').get_attribute("class")
    assert problems == []


@pytest.mark.parametrize(("only", "count", "first"), [
    ("forward", 6, "Input a⁰"), ("backward", 5, "Output error ∂E/∂a²"),
    ("update", 1, "Update θ ← θ − η·∂E/∂θ"),
])
def test_only_keeps_one_phase(seed, open_page, only, count, first):
    page, problems = open_page(render_html(seed, only=only))
    assert f"Step 1 of {count}" in text(page, ".cr-counter")
    assert text(page, "#step-title") == first
    assert page.locator(".cr-timeline button").count() == count
    if only == "update":
        row = text(page, '[data-update="W1[0,0]"]')
        assert number(seed.updated["W1"][0, 0], 10) in row
        assert text(page, "#loss") == number(seed.loss, 10)  # reached before this phase
    assert problems == []


def test_two_fragments_share_a_page(seed, three_class, open_page):
    html = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>two</title>'
            f"</head><body>{seed._repr_html_()}<hr>{render_html(three_class, fragment=True)}"
            "</body></html>")
    page, problems = open_page(html)
    ids = page.evaluate("[...document.querySelectorAll('[id]')].map((e) => e.id)")
    assert len(ids) == len(set(ids))
    roots = page.locator(".cr-explain")
    assert roots.count() == 2
    first, second = roots.nth(0), roots.nth(1)
    first.locator('[data-role="next"]').click()
    assert first.locator(".cr-step-title").inner_text().startswith("Net input z¹")
    assert second.locator(".cr-step-title").inner_text() == "Input a⁰"
    page.keyboard.press("ArrowRight")  # focus is in the first: only it moves
    assert first.locator(".cr-step-title").inner_text().startswith("Activation a¹")
    assert second.locator(".cr-step-title").inner_text() == "Input a⁰"
    second.locator('[data-param="W2[2,1]"]').focus()
    page.keyboard.press("Enter")
    assert "∂E/∂w²₃₂" in second.locator(".cr-chain").inner_text()
    assert "(W2[2,1] in NumPy" in second.locator(".cr-chain").inner_text()
    assert "(W2[2,1] in NumPy" not in first.locator(".cr-chain").inner_text()
    assert problems == []


def test_several_recorded_steps_and_frozen_parameters(open_page):
    trace = cr.explain({**THREE_CLASS, "steps": 3, "frozen": ["W1"]})
    page, problems = open_page(render_html(trace))
    page.keyboard.press("End")
    assert text(page, "#loss") == number(trace.steps[0].loss, 10)
    page.select_option('[data-role="record"]', "2")
    assert text(page, "#loss") == number(trace.steps[2].loss, 10)
    row = text(page, '[data-update="W1[0,1]"]')
    assert "frozen" in row and row.count(number(trace.steps[2].parameters["W1"][0, 1], 10)) == 2
    assert "Frozen\nW1" in text(page, ".cr-facts")
    assert problems == []


def test_large_network_without_chains_still_renders(open_page):
    trace = cr.explain({"layers": [50, 40, 10], "activations": ["relu", "softmax"],
                        "loss": "cross_entropy", "input": [0.1] * 50, "target": 3,
                        "learning_rate": 0.1, "seed": 1, "bias": "shared_per_layer"})
    assert not trace.to_dict()["chain"]
    page, problems = open_page(render_html(trace, param="W1[49,39]"))
    assert "left out" in text(page, "#chain")
    assert number(trace.gradients["W1"][49, 39], 10) in text(page, "#chain")
    assert page.locator(".cr-more").count() == 2  # 50 and 40 units: first ten, ⋮, last
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert problems == []


@pytest.mark.parametrize("which", ["seed", "three_class"])
def test_screenshot_fits_a_laptop_screen(request, which, open_page, tmp_path):
    page, problems = open_page(render_html(request.getfixturevalue(which)))
    page.click("#next")
    page.screenshot(path=tmp_path / f"{which}.png", full_page=True)
    assert (tmp_path / f"{which}.png").stat().st_size > 0
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280
    assert problems == []


def test_javascript_numbers_match_numfmt(browser):
    from importlib import resources

    page = browser.new_page()
    page.add_script_tag(
        content=(resources.files("chainrule.explain.render") / "assets" / "format.js").read_text("utf-8"))
    rng = np.random.default_rng(7)
    values = [0.0, -0.0, 0.5, -0.5, 1.5, 2.5, 0.125, -0.125, 0.3125, 0.15, 1e-11, -4e-11,
              5e-11, 4.9999999e-11, 123.456, -98765.4321, 1e21, 3e22, 2.0**-40, 1 / 3,
              math.inf, -math.inf, math.nan]
    values += list(rng.normal(size=40) * 10.0 ** rng.integers(-14, 8, size=40))
    values += [9.9996, 0.00099995, 99999.5, 1234.5, 0.0001, 0.000099999, 1e-5, 12.0]
    cases = [(float(v), p) for v in values for p in (0, 1, 2, 4, 10, 17)]
    got = page.evaluate("(cases) => cases.map(([v, p]) => formatNumber(v, p))", cases)
    # significant digits, as the pages show them by default (numfmt.Significant)
    sig = [(float(v), n) for v in values for n in (1, 2, 4, 6, 17)]
    got_sig = page.evaluate("(cases) => cases.map(([v, n]) => formatNumber(v, {sig: n}))", sig)
    page.close()
    assert got == [number(v, p) for v, p in cases]
    assert got_sig == [number(v, Significant(n)) for v, n in sig]


@pytest.mark.parametrize("spec", [
    {"layers": [3, 4, 4, 2], "activations": ["leaky_relu", "tanh", "identity"], "loss": "mse",
     "inputs": [[0.1, 0.2, 0.3], [-1, 0, 1]], "targets": [[0, 1], [1, 0]], "bias": "none",
     "learning_rate": 0.05, "seed": 2, "optimizer": {"name": "sgd", "momentum": 0.9}},
    {"layers": [2, 3], "activations": "softmax", "loss": "cross_entropy",
     "inputs": [[0.5, 0.1], [0.2, -0.4], [1, 1]], "targets": [0, 2, 1], "learning_rate": 0.3},
    {"layers": [2, 1], "activations": "sigmoid", "loss": "bce", "input": [40.0, 40.0],
     "target": [0], "weights": [[[1.0], [1.0]]], "learning_rate": 0.1},
], ids=["deep-batch-no-bias", "one-layer-classes", "saturated"])
def test_other_networks_step_through_cleanly(spec, open_page):
    trace = cr.explain(spec)
    page, problems = open_page(render_html(trace, precision=6))
    steps = page.locator(".cr-timeline button").count()
    for _ in range(steps - 1):
        page.keyboard.press("n")
    assert text(page, "#step-title").startswith("Update")
    assert text(page, "#loss") == number(trace.loss, 6)
    for edge in page.locator(".cr-edge").all()[:3]:
        edge.focus()
        page.keyboard.press("Enter")
        assert "Chain rule for w" in text(page, "#chain")
        assert " in NumPy, from 0)" in text(page, "#chain")
    assert problems == []
