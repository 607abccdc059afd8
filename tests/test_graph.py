"""explain_graph on published circuits: every node's value and gradient pinned to the
published numbers (CS231n's "backprop intuitions", Karpathy's micrograd), and against
PyTorch; reused nodes as path sums; names, constants and the errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


def named(**values):
    return {key: cr.Tensor(value, key) for key, value in values.items()}


def label(tensor, name):
    tensor.name = name
    return tensor


def assert_node(trace, name, value, grad, abs=1e-12):
    node = trace[name]
    assert float(node.value) == pytest.approx(value, abs=abs), f"{name}: value"
    assert float(node.grad) == pytest.approx(grad, abs=abs), f"{name}: grad"


def assert_consistent(trace):
    """Each gradient is its paths' shares summed, and each share upstream × local."""
    for node in trace.nodes:
        if node.kind == "constant":
            assert node.grad is None and not node.terms
            continue
        if node.name == trace.output:
            assert float(node.grad) == 1.0 and not node.terms
            continue
        total = sum(term.contribution for term in node.terms)
        np.testing.assert_allclose(node.grad, total, rtol=1e-14, atol=1e-15)
        for term in node.terms:
            if term.local is not None:
                assert float(term.contribution) == pytest.approx(
                    float(term.upstream) * term.local, rel=1e-14, abs=1e-15)


# --- CS231n, "backprop intuitions" ---------------------------------------------------------

def cs231n_circuit():
    t = named(x=-2.0, y=5.0, z=-4.0)
    q = label(t["x"] + t["y"], "q")
    return cr.explain_graph(label(q * t["z"], "f"))


def test_cs231n_simple_circuit():
    trace = cs231n_circuit()
    assert [n.name for n in trace.nodes] == ["x", "y", "q", "z", "f"]
    assert trace.output == "f" and trace.value == -12.0
    for name, value, grad in [("x", -2, -4), ("y", 5, -4), ("q", 3, -4), ("z", -4, 3),
                              ("f", -12, 1)]:
        assert_node(trace, name, value, grad)
    local = {(n.name, loc.input): loc for n in trace.nodes for loc in n.local}
    assert local["f", "q"].text(4) == "∂f/∂q = z = -4.0000"
    assert local["f", "z"].text(4) == "∂f/∂z = q = 3.0000"
    assert local["q", "x"].text(4) == "∂q/∂x = 1 = 1.0000"
    assert "∂f/∂x = ∂f/∂q·∂q/∂x = (-4.0000)(1.0000) = -4.0000" in cr.render(trace, "text", precision=4)
    assert_consistent(trace)


def neuron_inputs():
    return named(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0)


SIGMOID_GRADS = {"w0": -0.19661193324148185, "x0": 0.3932238664829637,
                 "w1": -0.3932238664829637, "x1": -0.5898357997244456,
                 "w2": 0.19661193324148185}


@pytest.mark.parametrize("composed", [False, True], ids=["sigmoid", "exp-and-div"])
def test_cs231n_sigmoid_neuron(composed):
    t = neuron_inputs()
    dot = label(t["w0"] * t["x0"] + t["w1"] * t["x1"] + t["w2"], "dot")
    if composed:  # as CS231n draws it: * -1, exp, + 1, 1/x
        f = 1.0 / (1.0 + (-dot).exp())
    else:
        f = dot.sigmoid()
    trace = cr.explain_graph(label(f, "f"))
    assert trace.value == pytest.approx(0.7310585786300049, abs=1e-15)
    assert round(trace.value, 2) == 0.73
    for name, grad in SIGMOID_GRADS.items():
        assert float(trace[name].grad) == pytest.approx(grad, rel=1e-12), name
    published = {"w0": -0.2, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.2}
    for name, grad in published.items():
        assert float(trace[name].grad) == pytest.approx(grad, abs=0.006), name
    assert_node(trace, "dot", 1.0, 0.19661193324148185)
    if composed:  # the figure's intermediate numbers: -1, 0.37, 1.37, 0.73; -0.53, -0.20
        assert [n.op for n in trace.nodes if n.kind == "op"][-4:] == ["neg", "exp", "add",
                                                                      "div"]
        assert_node(trace, "neg1", -1.0, -0.19661193324148185)
        outer = -1 / (1 + math.exp(-1)) ** 2  # d(1/u)/du at u = 1.37: -0.53
        assert round(outer, 2) == -0.53
        assert_node(trace, "exp1", math.exp(-1), outer)
        assert_node(trace, "add2", 1 + math.exp(-1), outer)
        assert [n.value.item() for n in trace.nodes if n.kind == "constant"] == [1.0, 1.0]
    else:
        sigma = trace["f"].local[0]
        assert sigma.text(2) == "∂f/∂dot = σ(dot)(1 − σ(dot)) = σ(1.00)(1 − σ(1.00)) = 0.20"
    assert_consistent(trace)


def test_cs231n_gate_example():
    t = named(x=3.0, y=-4.0, z=2.0, w=-1.0)
    f = label(2 * (t["x"] * t["y"] + cr.maximum(t["z"], t["w"])), "f")
    trace = cr.explain_graph(f)
    for name, value, grad in [("x", 3, -8), ("y", -4, 6), ("z", 2, 2), ("w", -1, 0),
                              ("f", -20, 1)]:
        assert_node(trace, name, value, grad)
    assert_node(trace, "maximum1", 2.0, 2.0)
    assert_node(trace, "add1", -10.0, 2.0)
    assert trace["c1"].kind == "constant" and float(trace["c1"].value) == 2.0
    maximum = {loc.input: loc for loc in trace["maximum1"].local}
    assert maximum["w"].text(1) == "∂maximum1/∂w = 1 if w > z, ½ if z = w, else 0 = " \
        "1 if (-1.0) > 2.0, ½ if 2.0 = (-1.0), else 0 = 0.0"
    assert_consistent(trace)


# --- Karpathy: the tanh neuron and micrograd's test_engine ----------------------------------

def test_karpathy_tanh_neuron():
    t = named(x1=2.0, x2=0.0, w1=-3.0, w2=1.0, b=6.8813735870195432)
    n = label(t["x1"] * t["w1"] + t["x2"] * t["w2"] + t["b"], "n")
    trace = cr.explain_graph(label(n.tanh(), "o"))
    assert trace.value == pytest.approx(math.sqrt(0.5), abs=1e-12)
    for name, grad in {"x1": -1.5, "w1": 1.0, "x2": 0.5, "w2": 0.0, "b": 0.5,
                       "n": 0.5}.items():
        assert float(trace[name].grad) == pytest.approx(grad, abs=1e-12), name
    assert trace["o"].local[0].text(4) == "∂o/∂n = 1 − tanh²(n) = 1 − tanh²(0.8814) = 0.5000"
    assert_consistent(trace)


def _statements(lib, source, values):
    """Run ``source`` (statements, one name each) on chainrule or torch tensors; every
    assigned value is kept, in order, with the names the statements give them."""
    env = dict(values, relu=lib["relu"])
    kept = []
    for line in source.strip().splitlines():
        target, expression = (part.strip() for part in line.split("=", 1))
        env[target] = eval(expression, {}, env)  # noqa: S307 (the test's own statements)
        kept.append((target, env[target]))
    return kept


SANITY = """
z = 2 * x + 2 + x
q = relu(z) + z * x
h = relu(z * z)
y = h + q + q * x
"""

MORE_OPS = """
c = a + b
d = a * b + b**3
c = c + c + 1
c = c + 1 + c + (-a)
d = d + d * 2 + relu(b + a)
d = d + 3 * d + relu(b - a)
e = c - d
f = e**2
g = f / 2.0
g = g + 10.0 / f
"""


@pytest.mark.parametrize("source, leaves, value, grads", [
    (SANITY, {"x": -4.0}, -20.0, {"x": 46.0}),
    (MORE_OPS, {"a": -4.0, "b": 2.0}, 24.70408163265306,
     {"a": 138.83381924198252, "b": 645.5772594752186}),
], ids=["test_sanity_check", "test_more_ops"])
def test_micrograd_test_engine(source, leaves, value, grads):
    ours = {k: cr.Tensor(v, k) for k, v in leaves.items()}
    kept = _statements({"relu": lambda t: t.relu()}, source, ours)
    names = {id(tensor): name for name, tensor in kept}
    trace = cr.explain_graph(kept[-1][1], names=names)
    theirs = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for k, v in leaves.items()}
    twins = _statements({"relu": torch.relu}, source, theirs)
    for _, twin in twins:
        twin.retain_grad()
    twins[-1][1].backward()
    assert trace.value == pytest.approx(value, rel=1e-12)
    for k, grad in grads.items():
        assert float(trace[k].grad) == pytest.approx(grad, rel=1e-12)
        assert float(trace[k].grad) == pytest.approx(theirs[k].grad.item(), rel=1e-12)
    # A name assigned twice names two nodes: the latest keeps it, earlier ones get _1, _2.
    seen: dict[str, int] = {}
    for (target, tensor), (_, twin) in zip(kept, twins):
        seen[target] = seen.get(target, 0) + 1
        total = sum(1 for t, _ in kept if t == target)
        unique = target if seen[target] == total else f"{target}_{seen[target]}"
        node = trace[unique]
        assert node.label == target
        assert float(node.value) == pytest.approx(twin.item(), rel=1e-12), unique
        assert float(node.grad) == pytest.approx(twin.grad.item(), rel=1e-12), unique
    assert len({n.name for n in trace.nodes}) == len(trace.nodes)
    assert_consistent(trace)


# --- reused nodes: the path sum is the engine's gradient and PyTorch's ---------------------

@pytest.mark.parametrize("build, expected", [
    (lambda a, b: a + a, {"a": 2.0}),
    (lambda a, b: (a * b) * (a + b), {"a": 2 * 3.0 * 2.0 + 2.0**2, "b": 3.0**2 + 2 * 3.0 * 2.0}),
    (lambda a, b: (a * b).tanh() + a * b, None),  # a skip connection around tanh
])
def test_reused_nodes_sum_their_paths(build, expected):
    a, b = cr.Tensor(3.0, "a"), cr.Tensor(2.0, "b")
    trace = cr.explain_graph(build(a, b))
    ta, tb = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (3.0, 2.0))
    build(ta, tb).backward()
    engine_a, engine_b = cr.Tensor(3.0), cr.Tensor(2.0)
    build(engine_a, engine_b).backward()
    for name, twin, engine in (("a", ta, engine_a), ("b", tb, engine_b)):
        if name not in trace.gradients:  # a + a: b is not in the graph
            assert twin.grad is None
            continue
        grad = trace[name].grad
        assert float(grad) == pytest.approx(twin.grad.item(), rel=1e-14)
        np.testing.assert_array_equal(grad, engine.grad)  # the engine's number, bit for bit
        if expected:
            assert float(grad) == pytest.approx(expected[name], rel=1e-14)
    assert len(trace["a"].terms) == 2
    assert_consistent(trace)


def test_a_path_sum_is_written_out():
    a, b = cr.Tensor(3.0, "a"), cr.Tensor(2.0, "b")
    q1, q2 = label(a * b, "q1"), label(a + b, "q2")
    text = cr.render(cr.explain_graph(label(q1 * q2, "f")), "text", precision=0)
    assert "∂f/∂a = ∂f/∂q2·∂q2/∂a + ∂f/∂q1·∂q1/∂a = (6)(1) + (5)(2) = 16" in text


# --- names, constants, .grad, errors --------------------------------------------------------

def test_generated_names_do_not_depend_on_what_ran_before():
    def run():
        x = cr.Tensor(1.5)
        return cr.explain_graph((x * 2.0 + x).exp() * x).to_json()

    first = run()
    for _ in range(3):
        (cr.Tensor(1.0) * 3.0).exp()  # other nodes, recorded in between
    assert run() == first
    trace = cr.explain_graph((cr.Tensor(1.5) * 2.0 + 1.0).exp())
    assert [n.name for n in trace.nodes] == ["input1", "c1", "mul1", "c2", "add1", "exp1"]


def test_generated_names_skip_names_the_user_took():
    x = cr.Tensor(2.0, "mul1")
    trace = cr.explain_graph(x * x * 3.0)
    assert [n.name for n in trace.nodes] == ["mul1", "mul2", "c1", "mul3"]


def test_grads_are_left_as_they_were():
    x, y = cr.Tensor(2.0, "x"), cr.Tensor(3.0, "y")
    q = (x * y).retain_grad()
    f = q * x
    assert x.grad is None
    cr.explain_graph(f)
    assert x.grad is None and y.grad is None and q.grad is None
    f.backward()
    before = x.grad.copy()
    trace = cr.explain_graph(f)
    np.testing.assert_array_equal(x.grad, before)
    np.testing.assert_array_equal(trace["x"].grad, before)  # ∂f/∂x itself, not accumulated


def test_explain_function_names_its_arguments():
    trace = cr.explain_function(lambda x, y, *, z: (x + y) * z, -2.0, cr.Tensor(5.0, "b"),
                                z=-4)
    assert [n.name for n in trace.nodes] == ["x", "b", "add1", "z", "mul1"]
    assert float(trace["z"].grad) == 3.0 and float(trace["x"].grad) == -4.0
    trace = cr.explain_function(lambda *xs: xs[0] * xs[1], 2.0, 3.0)
    assert [n.name for n in trace.nodes] == ["arg0", "arg1", "mul1"]


@pytest.mark.parametrize("call, message", [
    (lambda: cr.explain_graph(cr.Tensor([1.0, 2.0]) * 2),
     "explain_graph: the output must be a scalar (one element), got shape (2,)"),
    (lambda: cr.explain_graph(cr.Tensor(1.0, requires_grad=False) * 2),
     "explain_graph: the output does not depend on any tensor that requires a gradient"),
    (lambda: cr.explain_graph(3.0), "explain_graph: expected a Tensor, got float"),
    (lambda: cr.explain_function(lambda x: 2.0, 1.0), "returned float, expected a Tensor"),
    (lambda: cr.explain_function(lambda x: x, "a"), "x: expected a Tensor or a number"),
    (lambda: cr.explain_graph(cr.Tensor(1.0) * 2)["nope"], "no node named 'nope'"),
])
def test_errors_are_one_line(call, message):
    with pytest.raises(cr.ChainruleError) as error:
        call()
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_one_element_vector_output_is_a_scalar():
    x = cr.Tensor([2.0], "x")
    trace = cr.explain_graph(label((x * x).sum(keepdims=True), "f"))
    assert trace.value == 4.0 and trace["x"].grad.tolist() == [4.0]


def test_a_leaf_on_its_own():
    trace = cr.explain_graph(cr.Tensor(2.0, "x"))
    assert [n.name for n in trace.nodes] == ["x"] and float(trace["x"].grad) == 1.0
    assert "∂x/∂x = 1" in cr.render(trace, "text")


def test_formulas_bind_the_names_the_rules_use():
    """squared_error's table writes 2(y − t): y is its first input, not its second."""
    from chainrule.autodiff.tensor import apply

    y, t = cr.Tensor([[0.5]], "pred"), cr.Tensor([[2.0]], "target", requires_grad=False)
    loss = apply(cr.PRIMITIVES["squared_error"], y, t, kind="sse", reduction="mean")
    trace = cr.explain_graph(label(loss, "E"))
    (local,) = trace["E"].local
    assert local.text(1) == "∂E/∂pred = 2(pred − target) = 2(0.5 − 2.0) = -3.0"
    assert trace["pred"].grad.item() == -3.0


def test_latex_names_stay_distinct():
    c = cr.Tensor(1.0, "c")
    first = c * 2.0
    trace = cr.explain_graph(first * 3.0 + c, names={id(first): "c", id(c): "c"})
    assert [n.name for n in trace.nodes] == ["c_1", "c1", "c", "c2", "mul1", "add1"]
    written = [n.latex_name for n in trace.nodes]
    assert written[:2] == ["c_{1}", r"\mathrm{c1}"] and len(set(written)) == len(written)


def test_a_long_chain_needs_no_recursion():
    x = cr.Tensor(0.5, "x")
    y = x
    for _ in range(1500):
        y = y.tanh()
    trace = cr.explain_graph(y)
    assert len(trace.nodes) == 1501 and trace.nodes[-1].name == "tanh1500"
    x.grad = None
    y.backward()
    np.testing.assert_array_equal(trace["x"].grad, x.grad)
