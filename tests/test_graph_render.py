"""An explained graph in every format: golden files of CS231n's circuits, the JSON against
its schema (chainrule/schemas/graph-1.schema.json), LaTeX through pdflatex, names escaped.

Regenerate the golden files only on purpose: ``pytest tests/test_graph_render.py
--update-golden``, then review ``git diff tests/golden``.
"""

from __future__ import annotations

import json
from importlib.resources import files

import numpy as np
import pytest
from jsonschema import Draft202012Validator

import chainrule as cr
from chainrule.explain.render.graph import RENDERERS, render_graph
from tests.test_golden import GOLDEN, assert_matches_golden
from tests.test_latex import compile_latex, needs_pdflatex

SCHEMA = json.loads(files("chainrule").joinpath("schemas/graph-1.schema.json")
                    .read_text(encoding="utf-8"))
VALIDATOR = Draft202012Validator(SCHEMA)


def _named(tensor, name):
    tensor.name = name
    return tensor


def circuit() -> cr.GraphTrace:
    """CS231n's f = (x + y) z at x = −2, y = 5, z = −4."""
    x, y, z = cr.Tensor(-2.0, "x"), cr.Tensor(5.0, "y"), cr.Tensor(-4.0, "z")
    return cr.explain_graph(_named(_named(x + y, "q") * z, "f"))


def neuron() -> cr.GraphTrace:
    """CS231n's 2-D sigmoid neuron, with the sigmoid as 1/(1 + e^−x): constants included."""
    w0, x0, w1, x1, w2 = (cr.Tensor(v, n) for v, n in [(2.0, "w0"), (-1.0, "x0"),
                                                       (-3.0, "w1"), (-2.0, "x1"),
                                                       (-3.0, "w2")])
    dot = _named(w0 * x0 + w1 * x1 + w2, "dot")
    return cr.explain_graph(_named(1.0 / (1.0 + (-dot).exp()), "f"))


def reused() -> cr.GraphTrace:
    a, b = cr.Tensor(3.0, "a"), cr.Tensor(2.0, "b")
    return cr.explain_graph(_named((a * b) * (a + b), "f"))


def vector() -> cr.GraphTrace:
    w = cr.Tensor([[0.5, -1.0], [2.0, 0.25]], "W")
    x = cr.Tensor([1.0, -2.0], "x")
    return cr.explain_graph(_named((x @ w).tanh().sum(), "loss"))


def micrograd() -> cr.GraphTrace:
    """micrograd's test_more_ops: 35 nodes, names assigned twice, long path sums."""
    from tests.test_graph import MORE_OPS, _statements

    kept = _statements({"relu": lambda t: t.relu()}, MORE_OPS,
                       {"a": cr.Tensor(-4.0, "a"), "b": cr.Tensor(2.0, "b")})
    return cr.explain_graph(kept[-1][1], names={id(t): name for name, t in kept})


FORMATS = {"txt": "text", "md": "markdown", "tex": "latex", "json": "json"}
GOLDENS = [("cs231n_circuit", circuit, suffix) for suffix in FORMATS] + [
    ("cs231n_neuron", neuron, suffix) for suffix in ("txt", "md", "tex")]


@pytest.mark.parametrize("stem, build, suffix", GOLDENS)
def test_golden(stem, build, suffix, request):
    rendered = render_graph(build(), FORMATS[suffix], precision=6)
    # apart from tests/golden/*.json, which are all MLP traces
    assert_matches_golden(rendered, GOLDEN / "graph" / f"{stem}.{suffix}", request)


def test_text_shows_every_number_of_the_circuit():
    text = cr.render(circuit(), "text", precision=2)
    for line in ["q = x + y = (-2.00) + 5.00 = 3.00", "f = q · z = 3.00 · (-4.00) = -12.00",
                 "∂f/∂q = z = -4.00", "∂f/∂z = ∂f/∂f·∂f/∂z = (1.00)(3.00) = 3.00",
                 "∂f/∂y = ∂f/∂q·∂q/∂y = (-4.00)(1.00) = -4.00",
                 "reverse topological order"]:
        assert line in text


def test_precision_is_honoured_and_json_keeps_full_numbers():
    trace = neuron()
    assert "f = x / y" not in cr.render(trace, "text")  # the names are the node's own
    assert "= 0.731\n" in cr.render(trace, "text", precision=3)
    assert "= 0.73105858\n" in cr.render(trace, "text", precision=8)
    assert json.loads(render_graph(trace, "json", precision=2))["nodes"][-1]["value"] == \
        pytest.approx(0.7310585786300049, rel=1e-15)


def test_render_graph_is_one_registry():
    assert sorted(RENDERERS) == ["html", "json", "latex", "markdown", "text"]
    with pytest.raises(cr.ChainruleError, match="unknown format 'pdf' \\(expected one of "
                                                "html, json, latex, markdown, text\\)"):
        render_graph(circuit(), "pdf")
    assert "gp-fragment" in render_graph(circuit(), "html", fragment=True)


def test_no_text_line_ends_in_white_space():
    text = cr.render(reused(), "text", precision=3, width=60)
    assert all(line == line.rstrip() for line in text.splitlines())


def test_path_sums_in_every_format():
    trace = reused()
    assert "∂f/∂a = ∂f/∂add1·∂add1/∂a + ∂f/∂mul1·∂mul1/∂a = (6.0)(1.0) + (5.0)(2.0) = 16.0" \
        in cr.render(trace, "text", precision=1)
    assert (r"\frac{\partial f}{\partial \mathrm{add1}} \frac{\partial \mathrm{add1}}"
            r"{\partial a} + ") in cr.render(trace, "markdown", precision=1)


def test_vectors_show_the_vjp_passed_along_each_edge():
    trace = vector()
    matmul = trace["matmul1"]
    assert [loc.kind for loc in matmul.local] == ["vjp", "vjp"]
    assert [loc.expression.text.with_names() for loc in matmul.local] == ["g @ Wᵀ", "xᵀ @ g"]
    g = 1 - np.tanh(np.array([1.0, -2.0]) @ np.array([[0.5, -1.0], [2.0, 0.25]])) ** 2
    np.testing.assert_allclose(matmul.local[0].value, g @ np.array([[0.5, -1.0],
                                                                    [2.0, 0.25]]).T)
    np.testing.assert_allclose(trace["x"].grad, matmul.local[0].value, rtol=1e-15)
    assert trace["matmul1"].terms[0].local is None
    text = cr.render(trace, "text", precision=3)
    assert "g·J" in text and "∂loss/∂W" in text


# --- the JSON against its schema -----------------------------------------------------------

def _traces():
    x = cr.Tensor(0.0, "x")
    yield from (circuit(), neuron(), reused(), vector(), micrograd())
    yield cr.explain_graph(cr.Tensor(np.inf, "big") + 1.0)  # a non-finite value is null
    yield cr.explain_graph(cr.stack([x, x * 2.0]).sum())  # a variadic op


@pytest.mark.parametrize("trace", list(_traces()), ids=lambda t: t.output)
def test_json_validates_against_the_schema(trace):
    def refuse(constant):
        raise AssertionError(f"{constant} in the JSON text")

    data = json.loads(trace.to_json(), parse_constant=refuse)
    assert [f"{list(e.absolute_path)}: {e.message}" for e in VALIDATOR.iter_errors(data)] == []
    names = [node["name"] for node in data["nodes"]]
    assert len(set(names)) == len(names) and data["output"] == names[-1]
    for i, node in enumerate(data["nodes"]):  # topological: inputs come first
        assert all(names.index(parent) < i for parent in node["inputs"])
        for term in node["terms"]:
            assert names.index(term["from"]) > i


def test_golden_json_validates():
    data = json.loads((GOLDEN / "graph" / "cs231n_circuit.json").read_text(encoding="utf-8"))
    assert list(VALIDATOR.iter_errors(data)) == []


def test_schema_rejects_what_is_wrong():
    data = json.loads(circuit().to_json())
    for broken in [{**data, "schema": "chainrule.graph/2"},
                   {**data, "nodes": [{**data["nodes"][0], "kind": "leaf"}]},
                   {**data, "nodes": [{**data["nodes"][0], "op": "add"}]},
                   {**data, "extra": 1}]:
        assert list(VALIDATOR.iter_errors(broken))


def test_non_finite_numbers_are_null():
    x = cr.Tensor(np.inf, "x")
    data = json.loads(cr.explain_graph(_named(x + 1.0, "f")).to_json())
    assert [n["value"] for n in data["nodes"]] == [None, 1.0, None]
    assert data["nodes"][0]["grad"] == 1.0
    assert "inf" in cr.render(cr.explain_graph(_named(x + 1.0, "f")), "text")


# --- LaTeX and Markdown with the user's names ----------------------------------------------

HOSTILE = "<b>$x_1$</b> & 50% #{~}"


def hostile() -> cr.GraphTrace:
    x = cr.Tensor(2.0, HOSTILE)
    return cr.explain_graph(_named(x * x, "f$*[link](javascript:)"))


@needs_pdflatex
@pytest.mark.parametrize("build", [circuit, neuron, reused, vector, hostile, micrograd])
def test_latex_documents_compile(tmp_path, build):
    log = compile_latex(tmp_path, cr.render(build(), "latex", precision=4))
    assert "Overfull \\hbox" not in log


@needs_pdflatex
def test_latex_fragment_compiles_inside_a_document(tmp_path):
    from chainrule.explain.render.latex import PREAMBLE

    fragment = cr.render(circuit(), "latex", fragment=True)
    assert "\\documentclass" not in fragment
    compile_latex(tmp_path, PREAMBLE + "\\begin{document}\n" + fragment + "\\end{document}\n")


def test_names_are_escaped_in_markdown():
    markdown = cr.render(hostile(), "markdown", precision=2)
    assert "<b>" not in markdown and "[link](javascript" not in markdown
    assert r"\mathrm{?b?" in markdown  # in math, only letters, digits and underscores
    assert "# The computation of f\\$\\*\\[link\\](javascript:), node by node" in markdown
    assert "Gradients flow from $\\mathrm{f???link??javascript??}$ back" in markdown


def test_terminal_text_has_no_control_characters():
    x = cr.Tensor(2.0, "x\x1b[2J")
    text = cr.render(cr.explain_graph(x * 3.0), "text")
    assert "\x1b" not in text and "x\\x1b[2J" in text


def test_op_params_are_in_the_json():
    """An op's own parameters (leaky relu's slope, a reduction's axis) are part of the node:
    without them ∂leaky_relu/∂x = 0.2 at x < 0 could not be redone from the JSON."""
    x = cr.Tensor([[-1.0, 2.0], [3.0, -4.0]], "x")
    trace = cr.explain_graph(_named(x.leaky_relu(0.2).sum(axis=1).max(), "f"))
    nodes = {node["name"]: node for node in json.loads(trace.to_json())["nodes"]}
    assert nodes["leaky_relu1"]["params"] == {"slope": 0.2}
    assert nodes["sum1"]["params"]["axis"] == 1
    assert nodes["x"]["params"] == {}
    assert np.allclose(nodes["x"]["grad"], [[0.0, 0.0], [1.0, 0.2]])


@pytest.mark.parametrize("kind, shown, value", [
    ("sse", "2(y − 0.7) = 2(0.6 − 0.7) = -0.2", -0.2),
    ("mse", "2(y − 0.7) = 2(0.6 − 0.7) = -0.2", -0.2),
    ("half_sse", "y − 0.7 = 0.6 − 0.7 = -0.1", -0.1)])
def test_a_squared_errors_derivative_is_written_for_its_kind(kind, shown, value):
    """½Σ(y − t)²'s derivative is y − t: the text with numbers must equal the number after
    it, never the general 2(y − t) beside the half's value."""
    from chainrule.nn.losses import get_loss

    trace = cr.explain_graph(_named(get_loss(kind)(cr.Tensor(0.6, "y"), 0.7), "E"))
    (local,) = [l for node in trace.nodes for l in node.local if l.input == "y"]
    assert local.text(1) == f"∂E/∂y = {shown}"
    assert float(local.value) == pytest.approx(value)


def test_a_mean_over_examples_divides_the_written_derivative():
    from chainrule.nn.losses import get_loss

    y = cr.Tensor(np.full((3, 2), 0.5), "y")
    trace = cr.explain_graph(_named(get_loss("mse")(y, np.zeros((3, 2))), "E"))
    node = trace["E"]
    assert node.forward.text.with_names() == "(1/3) Σₙ [(1/2) Σₖ (yₖ − c1ₖ)²]"
    assert node.local[0].expression.text.with_names() == "2(y − c1)/6"
    np.testing.assert_allclose(y.grad if y.grad is not None else trace["y"].grad,
                               np.full((3, 2), 2 * 0.5 / 6))
